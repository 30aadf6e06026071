"""The audit log in the database: append-only, hash-chained, one chain per database.

Tables (component "audit"):
- ``audit_log``: one row per record, ``seq`` the primary key. Triggers refuse UPDATE and
  DELETE (and TRUNCATE on PostgreSQL): a slip of the hand cannot change history, and
  whoever drops the triggers to do it on purpose is caught by `verify`.
- ``audit_head``: one row holding the chain's last seq and hash, and the id of the key
  it is chained with. Appending locks this row (``SELECT ... FOR UPDATE`` on PostgreSQL;
  SQLite's BEGIN IMMEDIATE already serialises writers), so two writers never fork the
  chain. It also works as an anchor inside the database: a new record chains to the head,
  not to the last row, so rows cut off the end show up as a gap as soon as anything is
  appended, and `AuditLog.verify` compares the head with the last row.

Writing: `AuditLog.record` in its own transaction, or `AuditLog.record_in(tx, ...)` inside
the caller's so that the action and its audit row commit or vanish together.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kassa.audit._detail import canonical_json
from kassa.audit._record import (
    GENESIS_HASH,
    Anchor,
    AuditRecord,
    ChainHead,
    ChainKey,
    key_id_of,
)
from kassa.audit._schema import COMPONENT, MIGRATIONS
from kassa.audit._verify import VerifyResult, verify
from kassa.audit.chain import SOURCES, append
from kassa.errors import StoreError
from kassa.store import Database, Row, Transaction, migrate

page_size_records = 1_000

__all__ = ["COMPONENT", "MIGRATIONS", "AuditLog", "page_size_records"]

_COLUMNS = "seq, at_ms, actor, role, action, target, detail, source, prev_hash, hash"
_HEAD_SQL = "SELECT seq, hash, key_id FROM audit_head WHERE id = 1"


class AuditLog:
    """The audit log of one database, written by one `source` ("terminal", "host", ...).

    `key` keys the chain (HMAC-SHA256); every writer and verifier of one database must
    use the same key, or all None. Creating an `AuditLog` brings the schema up to date.
    """

    def __init__(
        self, db: Database, source: str, key: ChainKey | None = None, *, migrate_schema: bool = True
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"audit source {source!r} must be one of {', '.join(SOURCES)}")
        self.db = db
        self.source = source
        self.key = key
        if migrate_schema:
            migrate(db, COMPONENT, MIGRATIONS)

    def record(
        self,
        actor: str,
        role: str,
        action: str,
        target: str,
        detail: Mapping[str, object],
        now_ms: int,
    ) -> AuditRecord:
        """Append one record in a transaction of its own (retried on a write conflict)."""
        return self.db.run_in_transaction(
            lambda tx: self.record_in(tx, actor, role, action, target, detail, now_ms)
        )

    def record_in(
        self,
        tx: Transaction,
        actor: str,
        role: str,
        action: str,
        target: str,
        detail: Mapping[str, object],
        now_ms: int,
    ) -> AuditRecord:
        """Append one record inside the caller's write transaction `tx`.

        Holds the chain's lock until `tx` ends, so keep `tx` short. On PostgreSQL under
        repeatable read or serializable isolation a concurrent append makes this raise
        `TransientError`: run the caller's unit again. Raises `InputError` for a bad
        record (see `kassa.audit.chain.append`) and `StoreError` if the log is chained
        with another key.
        """
        seq, head_hash, key_id = _locked_head(tx)
        mine = key_id_of(self.key)
        if seq > 0 and key_id != mine:
            raise StoreError(
                f"the audit log is chained with key id {key_id or '(none)'} but this writer "
                f"has {mine or '(none)'}: configure the same audit key everywhere"
            )
        prev = ChainHead(seq, head_hash) if seq > 0 else None
        rec = append(
            prev,
            at_ms=now_ms,
            actor=actor,
            role=role,
            action=action,
            target=target,
            detail=detail,
            source=self.source,
            key=self.key,
        )
        tx.execute(
            "UPDATE audit_head SET seq = ?, hash = ?, key_id = ? WHERE id = 1",
            (rec.seq, rec.hash, mine),
        )
        _insert(tx, rec)
        return rec

    def head(self) -> ChainHead | None:
        """The chain's last link as the head row records it; None while the log is empty."""
        with self.db.transaction(write=False) as tx:
            row = tx.fetchone(_HEAD_SQL)
        if row is None or int(row[0]) == 0:
            return None
        return ChainHead(int(row[0]), str(row[1]))

    def iter_records(
        self, since_ms: int | None = None, until_ms: int | None = None
    ) -> Iterator[AuditRecord]:
        """Records by seq, those with ``since_ms <= at_ms < until_ms`` when given.

        Read page by page, each page in a short transaction of its own, so a long read
        never holds up writers (records appended meanwhile may or may not be included).
        """
        where = ["seq > ?"]
        bounds: list[int] = []
        if since_ms is not None:
            where.append("at_ms >= ?")
            bounds.append(since_ms)
        if until_ms is not None:
            where.append("at_ms < ?")
            bounds.append(until_ms)
        sql = (
            f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} "
            f"ORDER BY seq LIMIT {page_size_records}"
        )
        after: int | None = None
        while True:
            with self.db.transaction(write=False) as tx:
                rows = tx.fetchall(sql, (_SEQ_MIN if after is None else after, *bounds))
            for row in rows:
                yield _to_record(row)
            if len(rows) < page_size_records:
                return
            after = int(rows[-1][0])

    def verify(self, anchor: Anchor | None = None) -> VerifyResult:
        """Check the whole chain with this log's key, against `anchor` if given, and
        against the head row (which catches rows cut off the end of the log)."""
        result = verify(self.iter_records(), self.key, anchor)
        with self.db.transaction(write=False) as tx:
            row = tx.fetchone(_HEAD_SQL)
        head_seq, head_hash, key_id = (0, GENESIS_HASH, "") if row is None else row
        if result.ok:
            result = _against_head(result, int(head_seq), str(head_hash))
        mine = key_id_of(self.key)
        if not result.ok and key_id and key_id != mine:
            hint = f" (the log says key id {key_id}, this key is {mine or '(none)'}: wrong key?)"
            result = _with_message(result, result.message + hint)
        return result


_SEQ_MIN = -(2**63)  # below any seq, even one an intruder wrote


def _insert(tx: Transaction, rec: AuditRecord) -> None:
    row = (rec.seq, rec.at_ms, rec.actor, rec.role, rec.action, rec.target,
           canonical_json(rec.detail), rec.source, rec.prev_hash, rec.hash)  # fmt: skip
    tx.execute(f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


def _locked_head(tx: Transaction) -> tuple[int, str, str]:
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    row = tx.fetchone(_HEAD_SQL + lock)
    if row is None:
        raise StoreError("the audit_head row is missing: the audit log was tampered with")
    return int(row[0]), str(row[1]), str(row[2])


def _against_head(result: VerifyResult, head_seq: int, head_hash: str) -> VerifyResult:
    last_seq = 0 if result.last is None else result.last.seq
    last_hash = GENESIS_HASH if result.last is None else result.last.hash
    if head_seq > last_seq:
        message = (
            f"the log ends at entry {last_seq} but its head names entry {head_seq}: "
            f"entries from {last_seq + 1} were removed"
        )
        return VerifyResult(
            False, result.checked, last_seq + 1, "truncated", message, None, result.last
        )
    if head_seq < last_seq or head_hash != last_hash:
        message = (
            f"entry {last_seq} is not the head the log recorded ({head_seq}): entries "
            "were added or rewritten behind the audit log's back"
        )
        return VerifyResult(
            False,
            result.checked,
            min(head_seq + 1, last_seq),
            "changed",
            message,
            None,
            result.last,
        )
    return result


def _with_message(result: VerifyResult, message: str) -> VerifyResult:
    return VerifyResult(
        result.ok,
        result.checked,
        result.first_bad_seq,
        result.reason,
        message,
        result.record,
        result.last,
    )


def _to_record(row: Row) -> AuditRecord:
    """A stored row as a record. A value an intruder made unreadable becomes one that
    cannot match its hash, so `verify` reports the row instead of crashing on it."""
    seq, at_ms, actor, role, action, target, detail, source, prev_hash, hash_ = row
    return AuditRecord(
        int(seq),
        _int_or(at_ms, -1),
        str(actor),
        str(role),
        str(action),
        str(target),
        _detail_or(detail),
        str(source),
        str(prev_hash),
        str(hash_),
    )


def _int_or(value: Any, fallback: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


def _detail_or(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = None
    return value if isinstance(value, dict) else {"(unreadable)": str(text)[:64]}
