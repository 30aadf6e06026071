"""The periodic audit report (pure): what operators did over a time range.

It gives counts by action and by actor, then lists what an auditor reads line by line:
failed logins, lockouts, voids, refunds, corrections, key and configuration changes,
restores, and every action outside business hours, with the chain's verification status
at the top. Time ranges are half-open, ``from_ms <= at_ms < to_ms``; clock times are
shown in the policy's fixed UTC offset (China Standard Time by default, no daylight
saving). Renderings: `report_json` (one object) and `report_csv` (one table for a
spreadsheet); the Rich table lives in the CLI.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from kassa.audit._record import AuditRecord
from kassa.audit._verify import VerifyResult

_MINUTES_PER_DAY = 1_440
_MS_PER_MINUTE = 60_000
# Words in an action that put it on the auditor's list, and the list's name for them.
_LISTED_WORDS = {
    "void": "void",
    "refund": "refund",
    "correct": "correction",
    "correction": "correction",
}
_LISTED_FIRST = {"key": "key", "config": "config", "restore": "restore"}
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection):
# a failed login's user name is typed by a stranger.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReportPolicy:
    """Local time and business hours: minutes from local midnight, start inclusive."""

    utc_offset_minutes: int = 480
    business_start_minute: int = 8 * 60
    business_end_minute: int = 22 * 60

    def local_time(self, at_ms: int) -> datetime:
        """`at_ms` as an aware datetime in the policy's UTC offset."""
        zone = timezone(timedelta(minutes=self.utc_offset_minutes))
        return datetime.fromtimestamp(0, tz=zone) + timedelta(milliseconds=at_ms)

    def is_after_hours(self, at_ms: int) -> bool:
        minute = (at_ms // _MS_PER_MINUTE + self.utc_offset_minutes) % _MINUTES_PER_DAY
        start, end = self.business_start_minute, self.business_end_minute
        if start <= end:
            return not start <= minute < end
        return end <= minute < start  # business hours across midnight (e.g. 18:00-02:00)


def category(action: str) -> str | None:
    """Which list of the report an action belongs on, or None for counts only.

    ``login_failed`` (login.failed, login.totp_failed), ``lockout`` (any action with a
    ``locked``/``lockout`` word), ``void``, ``refund``, ``correction``, ``key``,
    ``config``, ``restore``.
    """
    parts = action.split(".")
    if "locked" in parts or "lockout" in parts:
        return "lockout"
    if parts[0] == "login" and any(part.endswith("failed") for part in parts[1:]):
        return "login_failed"
    for part in parts:
        if part in _LISTED_WORDS:
            return _LISTED_WORDS[part]
    return _LISTED_FIRST.get(parts[0])


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The report's content; `listed` pairs each listed record with its `category`."""

    from_ms: int
    to_ms: int
    policy: ReportPolicy
    total: int
    by_action: tuple[tuple[str, int], ...]
    by_actor: tuple[tuple[str, str, int], ...]
    failed_logins: tuple[AuditRecord, ...]
    lockouts: tuple[AuditRecord, ...]
    listed: tuple[tuple[str, AuditRecord], ...]
    after_hours: tuple[AuditRecord, ...]
    verification: VerifyResult


def build_report(
    records: Iterable[AuditRecord],
    from_ms: int,
    to_ms: int,
    verification: VerifyResult,
    policy: ReportPolicy | None = None,
) -> AuditReport:
    """The report of the `records` with ``from_ms <= at_ms < to_ms`` (others are skipped).

    `verification` is the result of verifying the whole chain, which the report shows
    first: a report over a log that does not verify cannot be trusted.
    """
    policy = policy or ReportPolicy()
    actions: Counter[str] = Counter()
    actors: Counter[tuple[str, str]] = Counter()
    failed, locked, listed, late = [], [], [], []
    for record in records:
        if not from_ms <= record.at_ms < to_ms:
            continue
        actions[record.action] += 1
        actors[(record.actor, record.role)] += 1
        kind = category(record.action)
        if kind == "login_failed":
            failed.append(record)
        elif kind == "lockout":
            locked.append(record)
        elif kind is not None:
            listed.append((kind, record))
        if policy.is_after_hours(record.at_ms):
            late.append(record)
    return AuditReport(
        from_ms,
        to_ms,
        policy,
        sum(actions.values()),
        tuple(sorted(actions.items(), key=lambda item: (-item[1], item[0]))),
        tuple((a, r, n) for (a, r), n in sorted(actors.items(), key=lambda i: (-i[1], i[0]))),
        tuple(failed),
        tuple(locked),
        tuple(listed),
        tuple(late),
        verification,
    )


def entry_json(record: AuditRecord, policy: ReportPolicy) -> dict[str, Any]:
    """One record as the report shows it, with its local time."""
    return {
        "seq": record.seq,
        "at": policy.local_time(record.at_ms).isoformat(timespec="seconds"),
        "at_ms": record.at_ms,
        "actor": record.actor,
        "role": record.role,
        "action": record.action,
        "target": record.target,
        "source": record.source,
        "detail": record.detail,
    }


def verification_json(result: VerifyResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "checked": result.checked,
        "first_bad_seq": result.first_bad_seq,
        "reason": result.reason,
        "message": result.message,
    }


def report_json(report: AuditReport) -> str:
    """The whole report as one JSON object (UTF-8 text, keys in a fixed order)."""
    policy = report.policy
    payload = {
        "from": policy.local_time(report.from_ms).isoformat(timespec="seconds"),
        "to": policy.local_time(report.to_ms).isoformat(timespec="seconds"),
        "from_ms": report.from_ms,
        "to_ms": report.to_ms,
        "verification": verification_json(report.verification),
        "total": report.total,
        "by_action": dict(report.by_action),
        "by_actor": [{"actor": a, "role": r, "count": n} for a, r, n in report.by_actor],
        "failed_logins": [entry_json(r, policy) for r in report.failed_logins],
        "lockouts": [entry_json(r, policy) for r in report.lockouts],
        "listed": [{"category": c, **entry_json(r, policy)} for c, r in report.listed],
        "after_hours": [entry_json(r, policy) for r in report.after_hours],
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)


CSV_COLUMNS = (
    "section",
    "category",
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "target",
    "source",
    "count",
    "detail",
)


def report_csv(report: AuditReport) -> str:
    """The report as one CSV table: a `section` column says what each row is
    (verification, by_action, by_actor, failed_login, lockout, listed, after_hours)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    check = report.verification
    reason = "ok" if check.ok else (check.reason or "bad")
    writer.writerow(
        _cells(
            section="verification",
            category=reason,
            seq=check.first_bad_seq,
            count=check.checked,
            detail=check.message,
        )
    )
    for action, count in report.by_action:
        writer.writerow(_cells(section="by_action", action=action, count=count))
    for actor, role, count in report.by_actor:
        writer.writerow(_cells(section="by_actor", actor=actor, role=role, count=count))
    sections: list[tuple[str, str, AuditRecord]] = [
        *(("failed_login", "login_failed", r) for r in report.failed_logins),
        *(("lockout", "lockout", r) for r in report.lockouts),
        *(("listed", kind, r) for kind, r in report.listed),
        *(("after_hours", category(r.action) or "", r) for r in report.after_hours),
    ]
    for section, kind, record in sections:
        writer.writerow(_record_cells(section, kind, record, report.policy))
    return out.getvalue()


def _record_cells(section: str, kind: str, record: AuditRecord, policy: ReportPolicy) -> list[str]:
    at = policy.local_time(record.at_ms).isoformat(timespec="seconds")
    return _cells(
        section=section,
        category=kind,
        seq=record.seq,
        at=at,
        actor=record.actor,
        role=record.role,
        action=record.action,
        target=record.target,
        source=record.source,
        detail=json.dumps(record.detail, ensure_ascii=False),
    )


def _cells(**values: object) -> list[str]:
    return [_safe_cell(values.get(column)) for column in CSV_COLUMNS]


def _safe_cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if not isinstance(value, int) and text.startswith(_FORMULA_START):
        return "'" + text
    return text
