"""Data retention (shell): plan and apply the purge of the terminal journal and the host.

    policy = load_policy(home)
    backup_ms = latest_backup_ms(home / "backups", "journal", str(journal_path.resolve()))
    plan = plan_terminal(journal.db, backup_ms, policy, now_ms)      # read only
    done = apply_terminal(journal.db, backup_ms, policy, now_ms)     # scrub + purge

The rules are pure (`kassa.ops.retention_policy`). Applying recomputes the plan inside
the write transaction that deletes, so a row that changed since `plan` was shown is
judged again as it is now. "Backed up" means a complete backup in the backup directory
whose source (``journal`` or ``db``, at the same location) started after the row last
changed, whose incremental chain is whole and which no `kassa backup verify` found bad.

Sensitive data: a final terminal row must hold no sealed request or reversal (they are
dropped when the outcome is recorded, PCI DSS 3.3.1). `plan` reports any left over as a
fault; `apply` scrubs them. SQLite deletes run with ``secure_delete`` so freed pages are
zeroed; the file does not shrink until a VACUUM (not run here: it rewrites the journal).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kassa.errors import ConfigError, StoreError
from kassa.ops import retention_policy as rp
from kassa.ops.retention_policy import Decision, Policy
from kassa.store import Transaction
from kassa.store.db import Database
from kassa.terminal.states import FINAL

POLICY_FILE = "retention.toml"
EXAMPLES_MAX = 3
_FINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(FINAL))


@dataclass
class Group:
    """Rows of one table with the same verdict and reason."""

    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What a purge does (or did): groups of decisions, the ids to delete, faults found."""

    database: str
    backup_ms: int | None
    groups: dict[tuple[str, bool, str], Group] = field(default_factory=dict)
    purge_ids: dict[str, list[int]] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    scrub_ids: list[int] = field(default_factory=list)

    def add(self, decision: Decision) -> None:
        key = (decision.table, decision.purge, decision.reason)
        group = self.groups.setdefault(key, Group())
        group.count += 1
        if len(group.examples) < EXAMPLES_MAX:
            group.examples.append(f"#{decision.row_id}: {decision.detail}")
        if decision.purge:
            self.purge_ids.setdefault(decision.table, []).append(decision.row_id)

    @property
    def purge_count(self) -> int:
        return sum(len(ids) for ids in self.purge_ids.values())


def load_policy(home: Path) -> Policy:
    """The policy in ``home/retention.toml``, or the defaults when there is none."""
    path = home / POLICY_FILE
    if not path.is_file():
        return Policy()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return rp.parse_policy(doc, str(path))


def latest_backup_ms(backups: Path, source: str, location: str) -> int | None:
    """When the newest usable backup of `source` at `location` started, or None."""
    from kassa.ops.backup import Repository, chain

    repo = Repository(backups)
    for manifest in reversed(repo.manifests()):
        held = manifest.source(source)
        if held is None or held.location != location:
            continue
        mark = repo.verified(manifest.id)
        if mark is not None and not mark.ok:
            continue  # `kassa backup verify` found it bad: it proves nothing
        try:
            chain(repo, manifest)
        except StoreError:
            continue
        return manifest.started_ms
    return None


# -- the terminal journal -------------------------------------------------------------------


def _terminal(tx: Transaction, plan: Plan, policy: Policy, now_ms: int) -> None:
    backup = plan.backup_ms
    runs = {
        r[0]: rp.BatchRun(r[0], r[1], int(r[2]))
        for r in tx.fetchall("SELECT batch, step, updated_ms FROM settlement_runs")
    }
    for r in tx.execute("SELECT id, batch, state, updated_ms FROM txns ORDER BY id"):
        row = rp.TerminalTxn(int(r[0]), r[1], r[2], int(r[3]))
        plan.add(rp.judge_terminal_txn(row, runs.get(row.batch), backup, policy, now_ms))
    for r in tx.execute("SELECT id, state, created_ms, printed_ms FROM print_jobs ORDER BY id"):
        job = rp.PrintJob(int(r[0]), r[1], int(r[2]), None if r[3] is None else int(r[3]))
        plan.add(rp.judge_print_job(job, backup, policy, now_ms))
    days = policy.terminal_event_days
    for r in tx.execute("SELECT id, at_ms FROM events ORDER BY id"):
        plan.add(
            rp.judge_event("terminal.events", int(r[0]), int(r[1]), backup, days, policy, now_ms)
        )
    leftovers = tx.fetchall(
        "SELECT id, state, request_sealed IS NOT NULL, reversal_sealed IS NOT NULL FROM txns"
        f" WHERE state IN ({_FINAL_SQL})"
        " AND (request_sealed IS NOT NULL OR reversal_sealed IS NOT NULL) ORDER BY id"
    )
    for txn_id, state, request, reversal in leftovers:
        kept = [n for n, present in (("request", request), ("reversal", reversal)) if present]
        plan.faults.append(
            f"txn #{txn_id} is {state} but still holds its sealed "
            f"{' and '.join(kept)}: sensitive data kept after authorisation"
        )
        plan.scrub_ids.append(int(txn_id))


def plan_terminal(db: Database, backup_ms: int | None, policy: Policy, now_ms: int) -> Plan:
    """What a purge of the terminal journal would do now (reads only)."""
    plan = Plan("terminal journal", backup_ms)
    with db.transaction(write=False) as tx:
        _terminal(tx, plan, policy, now_ms)
    return plan


def apply_terminal(db: Database, backup_ms: int | None, policy: Policy, now_ms: int) -> Plan:
    """Scrub leftover sealed data from final rows and purge what the policy allows."""
    plan = Plan("terminal journal", backup_ms)
    with db.transaction() as tx:
        _secure_delete(tx)
        _terminal(tx, plan, policy, now_ms)
        tx.executemany(
            "UPDATE txns SET request_sealed = NULL, reversal_sealed = NULL"
            f" WHERE id = ? AND state IN ({_FINAL_SQL})",
            [(i,) for i in plan.scrub_ids],
        )
        _delete(tx, plan)
        if plan.purge_count or plan.scrub_ids:
            tx.execute(
                "INSERT INTO events (at_ms, kind, code, txn_id, detail) VALUES (?, ?, ?, ?, ?)",
                (now_ms, "retention_purge", None, None, _summary(plan)),
            )
    return plan


# -- the host -------------------------------------------------------------------------------


def _host(tx: Transaction, plan: Plan, policy: Policy, now_ms: int) -> None:
    backup = plan.backup_ms
    settlements = {
        (r[0], r[1]): rp.HostSettlement(r[2], None if r[3] is None else int(r[3]))
        for r in tx.fetchall("SELECT tid, batch, status, closed_ms FROM settlements")
    }
    alerted = {
        (r[0], r[1], r[2])
        for r in tx.fetchall("SELECT tid, batch, stan FROM risk_alerts WHERE review = 'open'")
    }
    for r in tx.execute(
        "SELECT id, tid, batch, stan, txn_type, status, created_ms, updated_ms FROM txns"
        " ORDER BY id"
    ):
        row = rp.HostTxn(int(r[0]), r[1], r[2], r[4], r[5], int(r[6]), int(r[7]))
        hot = (r[1], r[2], r[3]) in alerted
        found = settlements.get((row.tid, row.batch))
        plan.add(rp.judge_host_txn(row, found, hot, backup, policy, now_ms))
    days = policy.host_event_days
    for r in tx.execute("SELECT id, at_ms FROM events ORDER BY id"):
        plan.add(rp.judge_event("host.events", int(r[0]), int(r[1]), backup, days, policy, now_ms))
    for r in tx.execute("SELECT id, at_ms, review, reviewed_ms FROM risk_alerts ORDER BY id"):
        alert = rp.RiskAlert(int(r[0]), int(r[1]), r[2], None if r[3] is None else int(r[3]))
        plan.add(rp.judge_risk_alert(alert, backup, policy, now_ms))


def plan_host(db: Database, backup_ms: int | None, policy: Policy, now_ms: int) -> Plan:
    """What a purge of the host database would do now (reads only)."""
    plan = Plan("host database", backup_ms)
    with db.transaction(write=False) as tx:
        _host(tx, plan, policy, now_ms)
    return plan


def apply_host(db: Database, backup_ms: int | None, policy: Policy, now_ms: int) -> Plan:
    """Purge what the policy allows at the host; the ledger is never touched."""
    plan = Plan("host database", backup_ms)
    with db.transaction() as tx:
        _secure_delete(tx)
        _host(tx, plan, policy, now_ms)
        _delete(tx, plan)
        if plan.purge_count:
            tx.execute(
                "INSERT INTO events (at_ms, tid, kind, code, detail) VALUES (?, ?, ?, ?, ?)",
                (now_ms, None, "retention_purge", None, _summary(plan)),
            )
    return plan


# -- shared ---------------------------------------------------------------------------------

_TABLES = {
    "terminal.txns": "txns",
    "terminal.print_jobs": "print_jobs",
    "terminal.events": "events",
    "host.txns": "txns",
    "host.events": "events",
    "host.risk_alerts": "risk_alerts",
}


def _secure_delete(tx: Transaction) -> None:
    if tx.dialect == "sqlite":
        tx.execute("PRAGMA secure_delete = ON")


def _delete(tx: Transaction, plan: Plan) -> None:
    for label, ids in plan.purge_ids.items():
        table = _TABLES[label]  # a fixed name from our own map, never input
        tx.executemany(f"DELETE FROM {table} WHERE id = ?", _rows(ids))


def _rows(ids: Iterable[int]) -> list[tuple[int]]:
    return [(i,) for i in ids]


def _summary(plan: Plan) -> str:
    parts = [f"{label} {len(ids)}" for label, ids in sorted(plan.purge_ids.items())]
    if plan.scrub_ids:
        parts.append(f"scrubbed {len(plan.scrub_ids)}")
    return "purged " + (", ".join(parts) or "nothing")
