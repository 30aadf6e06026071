"""Data retention policy (pure): which rows may be purged, and why every other row stays.

Configured in ``$KASSA_HOME/retention.toml`` (every key optional; the defaults below)::

    utc_offset_minutes = 480     # calendar years are counted in this local time (CST)
    holds = []                   # batches under legal hold, never purged: "BATCH" for the
                                 # terminal journal, "TID:BATCH" for the host
    [terminal]
    txn_days = 180               # journal rows, counted from their batch's settlement
    event_days = 365             # the journal's event log (faults, reversals, sign-ons)
    print_job_days = 30          # printed receipts, counted from the printing
    [host]
    txn_years = 5                # whole calendar years after the booking year (minimum 5)
    event_days = 365
    risk_alert_days = 730        # reviewed alerts, counted from the review

Why these numbers. Transaction records at the acquirer: the PBOC rules on keeping
customer and transaction records (《金融机构客户身份识别和客户身份资料及交易记录保存管理办法》,
PBOC order 2007 no. 2, art. 29, and its 2022 successor) require at least 5 years counted
from the year the transaction was booked, longer while an AML investigation is open (use
`holds`); the acquiring rules (《银行卡收单业务管理办法》, 2013) expect the same of acquirers.
So `txn_years` cannot be set below 5, and a row becomes purgeable only on 1 January after
`txn_years` whole calendar years have passed since its booking year: never early,
whatever reading of "counted from the year" an auditor takes. The terminal is not the
book of record: half a year after settlement covers the chargeback and retrieval-request
windows of the card schemes (120 days is typical), after which the host has it all.

Rules that no setting changes (the MISSION's "never a transaction that is not settled"):
- terminal rows: only final states (never pending, in_doubt, offline, resend), only in a
  batch whose settlement run reached ``done``, only when a backup of the journal started
  after the row's last change and after the settlement;
- host rows: only in a batch whose settlement is ``closed``, never one that an open risk
  alert points at, and never an approved (or voided) capture: those anchor money in the
  ledger, which is never purged row by row; archiving the ledger and its captures is a
  yearly close job (not implemented), so `kassa host check` always finds every capture's
  approval;
- no backup at all: nothing is purged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from kassa.errors import ConfigError
from kassa.host.records import CAPTURE_TYPES as HOST_CAPTURE_TYPES
from kassa.terminal.states import FINAL, State

DAY_MS = 86_400_000
host_txn_years_min = 5  # PBOC order 2007 no. 2, art. 29
days_max = 36_500
# Host txn types whose approval is the anchor of a ledger capture (`kassa.host.check`).
CAPTURE_TYPES = frozenset(HOST_CAPTURE_TYPES)
_FINAL_VALUES = frozenset(s.value for s in FINAL)


@dataclass(frozen=True, slots=True)
class Policy:
    """How long each kind of row is kept; see the module docstring."""

    terminal_txn_days: int = 180
    terminal_event_days: int = 365
    print_job_days: int = 30
    host_txn_years: int = 5
    host_event_days: int = 365
    risk_alert_days: int = 730
    utc_offset_minutes: int = 480
    holds: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one row: `reason` is a short code to group by, `detail` the why."""

    table: str
    row_id: int
    purge: bool
    reason: str
    detail: str


_SECTIONS: dict[str, dict[str, str]] = {
    "terminal": {
        "txn_days": "terminal_txn_days",
        "event_days": "terminal_event_days",
        "print_job_days": "print_job_days",
    },
    "host": {
        "txn_years": "host_txn_years",
        "event_days": "host_event_days",
        "risk_alert_days": "risk_alert_days",
    },
}


def _count(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}: must be a whole number from {low} to {high}, not {value!r}")
    return value


def _holds(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f'{where}: must be a list of batches such as ["000012", "T1:000012"]')
    return frozenset(value)


def parse_policy(doc: Mapping[str, Any], where: str) -> Policy:
    """The policy in a parsed TOML document; `ConfigError` naming `where` and the key."""
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "utc_offset_minutes":
            values[key] = _count(value, f"{where}: {key}", -720, 840)
        elif key == "holds":
            values[key] = _holds(value, f"{where}: holds")
        elif key in _SECTIONS and isinstance(value, Mapping):
            for name, item in value.items():
                if name not in _SECTIONS[key]:
                    raise ConfigError(f"{where}: [{key}] has no setting {name!r}")
                low = host_txn_years_min if name == "txn_years" else 0
                high = 100 if name == "txn_years" else days_max
                values[_SECTIONS[key][name]] = _count(item, f"{where}: [{key}] {name}", low, high)
        else:
            raise ConfigError(f"{where}: unknown setting {key!r} (see `kassa retention plan`)")
    return Policy(**values)


def day_text(at_ms: int, policy: Policy) -> str:
    """`at_ms` as a local date, for messages."""
    zone = timezone(timedelta(minutes=policy.utc_offset_minutes))
    return datetime.fromtimestamp(at_ms // 1000, zone).date().isoformat()


def host_txn_expiry_ms(created_ms: int, policy: Policy) -> int:
    """1 January (local) after `host_txn_years` whole years following the booking year."""
    zone = timezone(timedelta(minutes=policy.utc_offset_minutes))
    booked = datetime.fromtimestamp(created_ms // 1000, zone).year
    start = datetime(booked + policy.host_txn_years + 1, 1, 1, tzinfo=zone)
    return int(start.astimezone(UTC).timestamp()) * 1000


def _backup_gate(
    table: str, row_id: int, changed_ms: int, backup_ms: int | None, policy: Policy
) -> Decision | None:
    """A keep decision when no backup holds the row as it is now, else None."""
    if backup_ms is None:
        return Decision(table, row_id, False, "no_backup", "no backup exists: nothing is purged")
    if backup_ms <= changed_ms:
        when = day_text(changed_ms, policy)
        return Decision(
            table,
            row_id,
            False,
            "not_backed_up",
            f"changed {when}, after the latest backup ({day_text(backup_ms, policy)})",
        )
    return None


def _age(
    table: str, row_id: int, since_ms: int, keep_ms: int, now_ms: int, what: str, policy: Policy
) -> Decision:
    until = since_ms + keep_ms
    if now_ms < until:
        return Decision(
            table,
            row_id,
            False,
            "retained",
            f"{what} {day_text(since_ms, policy)}; kept until {day_text(until, policy)}",
        )
    return Decision(
        table, row_id, True, "expired", f"{what} {day_text(since_ms, policy)}; past retention"
    )


# -- the terminal journal ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TerminalTxn:
    id: int
    batch: str
    state: str
    updated_ms: int


@dataclass(frozen=True, slots=True)
class BatchRun:
    """A `settlement_runs` row: `step` ``done`` means the batch is settled and closed."""

    batch: str
    step: str
    updated_ms: int


def judge_terminal_txn(
    row: TerminalTxn, run: BatchRun | None, backup_ms: int | None, policy: Policy, now_ms: int
) -> Decision:
    """Purge only a final row of a settled batch, backed up since, `terminal_txn_days` old."""
    table = "terminal.txns"
    if row.state not in _FINAL_VALUES:
        what = "in flight" if row.state in {s.value for s in State} else "unknown state"
        return Decision(table, row.id, False, "in_flight", f"{what} ({row.state})")
    if run is None or run.step != "done":
        step = run.step if run else "not started"
        return Decision(
            table,
            row.id,
            False,
            "not_settled",
            f"batch {row.batch} not settled (settlement: {step})",
        )
    if row.batch in policy.holds:
        return Decision(table, row.id, False, "hold", f"batch {row.batch} under legal hold")
    changed = max(row.updated_ms, run.updated_ms)
    gate = _backup_gate(table, row.id, changed, backup_ms, policy)
    if gate is not None:
        return gate
    keep_ms = policy.terminal_txn_days * DAY_MS
    return _age(table, row.id, run.updated_ms, keep_ms, now_ms, "batch settled", policy)


@dataclass(frozen=True, slots=True)
class PrintJob:
    id: int
    state: str
    created_ms: int
    printed_ms: int | None


def judge_print_job(job: PrintJob, backup_ms: int | None, policy: Policy, now_ms: int) -> Decision:
    """Purge a receipt printed `print_job_days` ago; one still queued always waits."""
    table = "terminal.print_jobs"
    if job.state != "printed" or job.printed_ms is None:
        return Decision(table, job.id, False, "queued", f"not printed yet ({job.state})")
    gate = _backup_gate(table, job.id, job.printed_ms, backup_ms, policy)
    if gate is not None:
        return gate
    keep_ms = policy.print_job_days * DAY_MS
    return _age(table, job.id, job.printed_ms, keep_ms, now_ms, "printed", policy)


def judge_event(
    table: str,
    row_id: int,
    at_ms: int,
    backup_ms: int | None,
    days: int,
    policy: Policy,
    now_ms: int,
) -> Decision:
    """Purge an event (terminal or host) `days` old, once a backup holds it."""
    gate = _backup_gate(table, row_id, at_ms, backup_ms, policy)
    if gate is not None:
        return gate
    return _age(table, row_id, at_ms, days * DAY_MS, now_ms, "logged", policy)


# -- the host -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostTxn:
    id: int
    tid: str
    batch: str
    txn_type: str
    status: str
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class HostSettlement:
    status: str
    closed_ms: int | None


def judge_host_txn(
    row: HostTxn,
    settlement: HostSettlement | None,
    alerted: bool,
    backup_ms: int | None,
    policy: Policy,
    now_ms: int,
) -> Decision:
    """Purge only a non-capture row of a closed batch, backed up, `host_txn_years` old."""
    table = "host.txns"
    batch = f"{row.tid}:{row.batch}"
    if settlement is None or settlement.status != "closed":
        return Decision(table, row.id, False, "not_settled", f"batch {batch} not closed")
    if batch in policy.holds:
        return Decision(table, row.id, False, "hold", f"batch {batch} under legal hold")
    if alerted:
        return Decision(table, row.id, False, "open_alert", "an open risk alert points at it")
    if row.status in ("approved", "voided") and row.txn_type in CAPTURE_TYPES:
        return Decision(
            table,
            row.id,
            False,
            "ledger",
            "anchors a ledger capture: kept with the ledger (yearly close)",
        )
    gate = _backup_gate(table, row.id, row.updated_ms, backup_ms, policy)
    if gate is not None:
        return gate
    until = host_txn_expiry_ms(row.created_ms, policy)
    booked = day_text(row.created_ms, policy)
    if now_ms < until:
        return Decision(
            table,
            row.id,
            False,
            "retained",
            f"booked {booked}; kept until {day_text(until, policy)}",
        )
    return Decision(table, row.id, True, "expired", f"booked {booked}; past retention")


@dataclass(frozen=True, slots=True)
class RiskAlert:
    id: int
    at_ms: int
    review: str
    reviewed_ms: int | None


def judge_risk_alert(
    alert: RiskAlert, backup_ms: int | None, policy: Policy, now_ms: int
) -> Decision:
    """Purge a reviewed alert `risk_alert_days` after its review; an open one stays."""
    table = "host.risk_alerts"
    if alert.review == "open" or alert.reviewed_ms is None:
        return Decision(table, alert.id, False, "open_alert", "not reviewed yet")
    changed = max(alert.at_ms, alert.reviewed_ms)
    gate = _backup_gate(table, alert.id, changed, backup_ms, policy)
    if gate is not None:
        return gate
    keep_ms = policy.risk_alert_days * DAY_MS
    return _age(table, alert.id, alert.reviewed_ms, keep_ms, now_ms, "reviewed", policy)
