"""The tamper-evident audit log: every operator action, hash-chained, append-only.

    log = AuditLog(db, "host", ChainKey.from_master(master_key))
    log.record("0001", "supervisor", "txn.void", "TID 12345678 STAN 000123",
               {"amount_fen": 1200, "reason": "wrong amount"}, clock.now_ms())
    with db.transaction() as tx:           # or inside the action's own transaction
        ...
        log.record_in(tx, actor, role, "config.change", "merchant 1234", {...}, now_ms)
    result = log.verify(parse_anchor("1042:9f2c..."))   # ok, or the first bad seq and why

Actions are dotted lower-case words: ``login.ok``, ``login.failed``, ``login.locked``,
``txn.void``, ``txn.refund``, ``recon.correct``, ``settle.run``, ``config.change``,
``key.change``, ``backup.run``, ``restore.run`` (see `kassa.audit.report` for which ones
the periodic report lists). The detail never holds a PIN, password, track data or CVN, and
card numbers in it are masked.

`chain` is pure (records, hashing, verification, anchors); `report` is pure (the periodic
report); `store` is the database shell.
"""

from __future__ import annotations

from kassa.audit.chain import (
    GENESIS_HASH,
    SOURCES,
    Anchor,
    AuditRecord,
    ChainHead,
    ChainKey,
    Reason,
    Source,
    VerifyResult,
    anchor,
    append,
    canonical_json,
    compute_hash,
    key_id_of,
    parse_anchor,
    record_hash,
    verify,
)
from kassa.audit.report import (
    AuditReport,
    ReportPolicy,
    build_report,
    report_csv,
    report_json,
)
from kassa.audit.store import COMPONENT, MIGRATIONS, AuditLog

__all__ = [
    "COMPONENT",
    "GENESIS_HASH",
    "MIGRATIONS",
    "SOURCES",
    "Anchor",
    "AuditLog",
    "AuditRecord",
    "AuditReport",
    "ChainHead",
    "ChainKey",
    "Reason",
    "ReportPolicy",
    "Source",
    "VerifyResult",
    "anchor",
    "append",
    "build_report",
    "canonical_json",
    "compute_hash",
    "key_id_of",
    "parse_anchor",
    "record_hash",
    "report_csv",
    "report_json",
    "verify",
]
