"""After a terminal journal is restored: reconcile it with the host (shell).

    result = reconcile_journal(journal_path, host_url, since_ms, backup_id, now_ms)

A restored journal is older than the terminal was: sales approved after the backup are
at the host and not in it. The terminal talks only ISO 8583 to the host, which has no
message to ask "what do you hold for me", so the host's side is reachable only through
the host database (the back office's reconciliation, `kassa recon run --terminal-db`).

With the host database at hand (`host` given):
1. `run_recon` compares the journal with the host from a day before the backup on; its
   differences are stored in the host's recon tables (the back office sees them);
2. each ``missing_at_terminal`` the host holds as approved (no correction, response 00,
   this TID, its batch + STAN free in the journal) is brought back into the journal as a
   recovered record (note and event say so): the identity is the host's, so settlement
   totals and batch upload agree with the host and nothing is sent again;
3. a second run confirms it; what still differs is listed for 补登 with TID, batch,
   STAN, amount, RRN and authorisation code.
Without it, the exact command for the back office is returned instead.

Either way the terminal is made to sign on again (the restored keys and batch may be
stale) and its STAN counter is moved past what the host has seen: a new sale must never
reuse an identity the host already holds (it would be refused 94, or worse, answered
with the stored reply of another sale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kassa.backoffice.recon import ReconSources, ensure_schema, run_recon
from kassa.backoffice.recon_schema import DiffRecord, list_differences
from kassa.backoffice.recon_views import Window
from kassa.host import repo as host_repo
from kassa.host.records import TxnRow
from kassa.money import Amount
from kassa.ops.backup.rebuild import Check
from kassa.store import Database, DbUrl, Transaction, connect, schema_version

OPERATOR = "backup-restore"
clock_slack_ms = 86_400_000  # host and terminal clocks may disagree: look a day earlier
stan_ring = 999_999
stan_gap_without_host = 100_000  # more than any batch holds: past whatever the host saw
_STANDING = {"approved": "approved", "voided": "voided", "completed": "approved"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One transaction the journal and the host disagree on, and what was done."""

    action: str  # "recovered" | "补登" | "in flight"
    kind: str
    tid: str
    batch: str
    stan: str
    txn_type: str
    amount_fen: int | None
    rrn: str | None
    auth_code: str | None
    detail: str

    def line(self) -> str:
        amount = Amount(self.amount_fen).yuan() if self.amount_fen is not None else "-"
        return (
            f"{self.action}: TID {self.tid} batch {self.batch} STAN {self.stan} {self.txn_type}"
            f" {amount} RRN {self.rrn or '-'} auth {self.auth_code or '-'} ({self.detail})"
        )


@dataclass(frozen=True, slots=True)
class JournalRecon:
    check: Check
    findings: tuple[Finding, ...]
    command: str | None  # what the back office must run when it could not be done here


def back_office_command(journal: Path, since_ms: int) -> str:
    day = datetime.fromtimestamp((since_ms - clock_slack_ms) / 1000, UTC) + timedelta(hours=8)
    return f"kassa recon run --terminal-db {journal} --from {day:%Y-%m-%d}"


def reconcile_journal(
    journal: Path, host: DbUrl | None, since_ms: int, backup_id: str, now_ms: int
) -> JournalRecon:
    """Reconcile the restored `journal` with the host database `host` (see the module)."""
    name = "journal: reconciled with the host"
    with connect(f"sqlite:///{journal}", durable=True) as jdb:
        tid = _tid(jdb)
        if not tid:
            return JournalRecon(Check(name, True, "no terminal id configured: nothing to do"),
                                (), None)  # fmt: skip
        if host is None:
            _after(jdb, None, now_ms, backup_id)
            command = back_office_command(journal, since_ms)
            detail = (f"host database not reachable from here; on the host (with a copy of the"
                      f" journal) run: {command}")  # fmt: skip
            return JournalRecon(Check(name, False, detail), (), command)
        with connect(host) as hdb:
            if schema_version(hdb, "host") == 0:
                return JournalRecon(Check(name, False, f"{host.display} holds no host tables"),
                                    (), back_office_command(journal, since_ms))  # fmt: skip
            findings = _reconcile(jdb, hdb, journal, tid, since_ms, backup_id, now_ms)
            _after(jdb, hdb, now_ms, backup_id, tid)
    recovered = sum(f.action == "recovered" for f in findings)
    open_ = [f for f in findings if f.action != "recovered"]
    detail = f"{recovered} recovered from the host, {len(open_)} left for 补登 / in flight"
    return JournalRecon(Check(name, not open_, detail), tuple(findings), None)


def _tid(jdb: Database) -> str:
    with jdb.transaction(write=False) as tx:
        row = tx.fetchone("SELECT value FROM settings WHERE key = 'config'")
    tid = json.loads(row[0]).get("tid") if row else None
    return tid if isinstance(tid, str) else ""


def _reconcile(jdb: Database, hdb: Database, journal: Path, tid: str, since_ms: int,
               backup_id: str, now_ms: int) -> list[Finding]:  # fmt: skip
    ensure_schema(hdb)
    sources = ReconSources(terminal_dbs=(journal,), window=Window(since_ms - clock_slack_ms))
    first = run_recon(hdb, sources, now_ms, OPERATOR)
    recovered = []
    for record in _open(hdb, first.run_id, tid):
        txn = _recoverable(hdb, record, tid)
        if txn is not None and _bring_back(jdb, hdb, txn, backup_id, now_ms):
            recovered.append(_finding("recovered", record, txn, "approved at the host"))
    last = run_recon(hdb, sources, now_ms, OPERATOR).run_id if recovered else first.run_id
    listed = []
    for record in _open(hdb, last, tid):
        action = "in flight" if record.diff.klass == "expected" else "补登"
        listed.append(_finding(action, record, _host_txn(hdb, record), record.diff.detail))
    return recovered + listed


def _open(hdb: Database, run_id: int, tid: str) -> list[DiffRecord]:
    with hdb.transaction(write=False) as tx:
        found = list_differences(tx, run_id, "open")
    return [d for d in found if d.diff.tid == tid and d.diff.source == "terminal"]


def _host_txn(hdb: Database, record: DiffRecord) -> TxnRow | None:
    txn_id = (record.diff.host_view or {}).get("txn_id")
    if not isinstance(txn_id, int):
        return None
    with hdb.transaction(write=False) as tx:
        return host_repo.txn_by_id(tx, txn_id)


def _recoverable(hdb: Database, record: DiffRecord, tid: str) -> TxnRow | None:
    """The host transaction behind a difference, when it may be copied into the journal."""
    d, view = record.diff, record.diff.host_view or {}
    if d.kind != "missing_at_terminal" or d.klass != "mismatched" or view.get("corrections_fen"):
        return None
    txn = _host_txn(hdb, record)
    ok = (
        txn is not None and txn.tid == tid and txn.response_code == "00"
        and str(txn.status) in _STANDING and (txn.batch, txn.stan) == (d.batch, d.stan)
    )  # fmt: skip
    return txn if ok else None


def _bring_back(jdb: Database, hdb: Database, txn: TxnRow, backup_id: str, now_ms: int) -> bool:
    """Add `txn` to the journal as a recovered record; False if its identity is taken."""
    with jdb.transaction() as tx:
        if tx.fetchone("SELECT 1 FROM txns WHERE batch = ? AND stan = ?", (txn.batch, txn.stan)):
            return False
        state = _STANDING[str(txn.status)]
        if txn.txn_type == "offline_sale" and state == "approved":
            state = "uploaded"
        orig = _orig(hdb, tx, txn)
        note = f"recovered from the host after restoring backup {backup_id} (host txn {txn.id})"
        row = tx.fetchone(
            "INSERT INTO txns (batch, stan, txn_type, amount_fen, state, reversible, pan_masked,"
            " response_code, rrn, auth_code, offline, note, orig_batch, orig_stan, orig_rrn,"
            " orig_auth, orig_id, created_ms, updated_ms, tz)"
            " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (txn.batch, txn.stan, txn.txn_type, txn.amount_fen, state, txn.pan_masked,
             txn.response_code, txn.rrn, txn.auth_code, int(txn.txn_type == "offline_sale"),
             note, *orig, txn.created_ms, now_ms, _tz(tx)),
        )  # fmt: skip
        assert row is not None
        tx.execute(
            "INSERT INTO events (at_ms, kind, code, txn_id, detail) VALUES (?, ?, ?, ?, ?)",
            (now_ms, "restore_recovered", "00", int(row[0]), note),
        )
    return True


def _orig(hdb: Database, tx: Transaction, txn: TxnRow) -> tuple[object, ...]:
    """The original's batch, STAN, RRN, auth code and journal id, for a void or refund."""
    orig = None
    if txn.orig_id is not None:
        with hdb.transaction(write=False) as htx:
            orig = host_repo.txn_by_id(htx, txn.orig_id)
    if orig is None:
        return (None, None, None, None, None)
    return (orig.batch, orig.stan, orig.rrn, orig.auth_code, _journal_id(tx, orig.batch, orig.stan))


def _journal_id(tx: Transaction, batch: str, stan: str) -> int | None:
    row = tx.fetchone("SELECT id FROM txns WHERE batch = ? AND stan = ?", (batch, stan))
    return int(row[0]) if row else None


def _tz(tx: Transaction) -> str:
    row = tx.fetchone("SELECT value FROM settings WHERE key = 'config'")
    minutes = int(json.loads(row[0]).get("utc_offset_minutes", 480)) if row else 480
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _finding(action: str, record: DiffRecord, txn: TxnRow | None, detail: str) -> Finding:
    d = record.diff
    amount = d.host_fen if d.host_fen is not None else d.terminal_fen
    return Finding(action, d.kind, d.tid, d.batch, d.stan, d.txn_type, amount,
                   d.rrn or (txn.rrn if txn else None), txn.auth_code if txn else None,
                   detail)  # fmt: skip


def _after(jdb: Database, hdb: Database | None, now_ms: int, backup_id: str, tid: str = "") -> None:
    """Make the terminal sign on again, and move its STAN counter past the host's."""
    with jdb.transaction() as tx:
        row = tx.fetchone("SELECT value FROM settings WHERE key = 'stan'")
        current = int(row[0]) if row else 0
        if hdb is None:
            stan = (current + stan_gap_without_host - 1) % stan_ring + 1
            why = f"moved {stan_gap_without_host} on (the host's STANs are not known here)"
        else:
            latest = _host_latest_stan(hdb, tid)
            stan = latest if latest is not None and _ahead(latest, current) else current
            why = f"the host's latest is {latest:06d}" if latest is not None else "host has none"
        for key, value in (("stan", str(stan)), ("signed_on", "0")):
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        detail = (f"restored from backup {backup_id}: sign-on required; STAN counter"
                  f" {current:06d} -> {stan:06d} ({why})")  # fmt: skip
        tx.execute(
            "INSERT INTO events (at_ms, kind, code, txn_id, detail) VALUES (?, ?, NULL, NULL, ?)",
            (now_ms, "restored", detail),
        )


def _host_latest_stan(hdb: Database, tid: str) -> int | None:
    with hdb.transaction(write=False) as tx:
        row = tx.fetchone(
            "SELECT stan FROM txns WHERE tid = ? ORDER BY created_ms DESC, id DESC LIMIT 1",
            (tid,),
        )
    return int(row[0]) if row and str(row[0]).isdigit() else None


def _ahead(candidate: int, current: int) -> bool:
    """Whether `candidate` comes after `current` on the STAN ring (less than half a turn)."""
    return 0 < (candidate - current) % stan_ring < stan_ring // 2
