"""The periodic audit report: what it counts, lists and flags, in JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from kassa.audit import AuditRecord, ReportPolicy, append, build_report, report_csv, report_json
from kassa.audit import verify as verify_chain
from kassa.audit.report import category

CST = timezone(timedelta(hours=8))


def _ms(text: str) -> int:
    """Local China Standard Time 'YYYY-MM-DD HH:MM' as UTC milliseconds."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=CST).timestamp()) * 1000


EVENTS = [  # (local time, actor, role, action, target)
    ("2024-04-30 23:59", "0001", "cashier", "login.ok", "T1"),  # before the range
    ("2024-05-01 09:00", "0001", "cashier", "login.ok", "T1"),
    ("2024-05-01 09:05", "=cmd|' /C calc'!A0", "unknown", "login.failed", "T1"),
    ("2024-05-01 09:06", "0002", "cashier", "login.failed", "T1"),
    ("2024-05-01 09:07", "0002", "cashier", "login.locked", "T1"),
    ("2024-05-01 10:00", "0001", "cashier", "txn.void", "STAN 000123"),
    ("2024-05-01 11:00", "0001", "cashier", "txn.refund", "RRN 123456789012"),
    ("2024-05-01 12:00", "sup", "supervisor", "recon.correct", "batch 7"),
    ("2024-05-01 23:30", "admin", "admin", "key.change", "TMK T1"),
    ("2024-05-02 03:00", "admin", "admin", "config.change", "merchant 1"),
    ("2024-05-02 12:00", "ops", "admin", "backup.run", "daily"),
    ("2024-05-03 00:00", "ops", "admin", "backup.run", "daily"),  # at the end: excluded
]
FROM_MS, TO_MS = _ms("2024-05-01 00:00"), _ms("2024-05-03 00:00")


def _records() -> list[AuditRecord]:
    out: list[AuditRecord] = []
    for when, actor, role, action, target in EVENTS:
        out.append(
            append(
                out[-1] if out else None,
                at_ms=_ms(when),
                actor=actor,
                role=role,
                action=action,
                target=target,
                detail={"at": when},
                source="host",
            )
        )
    return out


def test_categories() -> None:
    assert category("login.failed") == "login_failed"
    assert category("login.totp_failed") == "login_failed"
    assert category("login.locked") == category("operator.lockout") == "lockout"
    assert category("txn.void") == "void" and category("txn.refund") == "refund"
    assert category("recon.correct") == "correction"
    assert category("key.change") == "key" and category("config.change") == "config"
    assert category("restore.run") == "restore"
    assert category("login.ok") is None and category("backup.run") is None


def test_report_counts_lists_and_flags() -> None:
    records = _records()
    report = build_report(records, FROM_MS, TO_MS, verify_chain(records))
    assert report.total == 10
    assert dict(report.by_action) == {
        "login.ok": 1,
        "login.failed": 2,
        "login.locked": 1,
        "txn.void": 1,
        "txn.refund": 1,
        "recon.correct": 1,
        "key.change": 1,
        "config.change": 1,
        "backup.run": 1,
    }
    assert report.by_action[0] == ("login.failed", 2)  # most frequent first
    assert ("0001", "cashier", 3) in report.by_actor
    assert [r.actor for r in report.failed_logins] == ["=cmd|' /C calc'!A0", "0002"]
    assert [r.action for r in report.lockouts] == ["login.locked"]
    assert [c for c, _ in report.listed] == ["void", "refund", "correction", "key", "config"]
    assert [r.action for r in report.after_hours] == ["key.change", "config.change"]
    assert report.verification.ok


def test_business_hours_may_cross_midnight() -> None:
    night_shift = ReportPolicy(business_start_minute=18 * 60, business_end_minute=2 * 60)
    assert not night_shift.is_after_hours(_ms("2024-05-01 23:30"))
    assert not night_shift.is_after_hours(_ms("2024-05-02 01:59"))
    assert night_shift.is_after_hours(_ms("2024-05-02 02:00"))
    assert night_shift.is_after_hours(_ms("2024-05-02 12:00"))


def test_json_report() -> None:
    records = _records()
    payload = json.loads(report_json(build_report(records, FROM_MS, TO_MS, verify_chain(records))))
    assert payload["from"] == "2024-05-01T00:00:00+08:00"
    assert payload["to"] == "2024-05-03T00:00:00+08:00"
    assert payload["verification"]["ok"] is True and payload["total"] == 10
    assert payload["by_action"]["login.failed"] == 2
    assert payload["listed"][0]["category"] == "void"
    assert payload["listed"][0]["at"] == "2024-05-01T10:00:00+08:00"
    assert payload["after_hours"][0]["detail"] == {"at": "2024-05-01 23:30"}


def test_json_report_shows_a_broken_chain() -> None:
    records = _records()
    del records[4]
    payload = json.loads(report_json(build_report(records, FROM_MS, TO_MS, verify_chain(records))))
    assert payload["verification"]["ok"] is False
    assert payload["verification"]["first_bad_seq"] == 5
    assert payload["verification"]["reason"] == "deleted"


def test_csv_report_is_one_table_and_defuses_formulas() -> None:
    records = _records()
    text = report_csv(build_report(records, FROM_MS, TO_MS, verify_chain(records)))
    rows = list(csv.DictReader(io.StringIO(text)))
    sections = {row["section"] for row in rows}
    assert sections == {
        "verification",
        "by_action",
        "by_actor",
        "failed_login",
        "lockout",
        "listed",
        "after_hours",
    }
    check = next(r for r in rows if r["section"] == "verification")
    assert (check["category"], check["count"]) == ("ok", str(len(records)))
    failed = [r for r in rows if r["section"] == "failed_login"]
    assert failed[0]["actor"] == "'=cmd|' /C calc'!A0"  # quoted, never run as a formula
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())
    listed = [r for r in rows if r["section"] == "listed"]
    assert [r["category"] for r in listed] == ["void", "refund", "correction", "key", "config"]
    assert json.loads(listed[0]["detail"]) == {"at": "2024-05-01 10:00"}


@pytest.mark.parametrize("offset", [0, 480, -300])
def test_local_time_uses_the_offset(offset: int) -> None:
    policy = ReportPolicy(utc_offset_minutes=offset)
    at = policy.local_time(0)
    assert at.utcoffset() == timedelta(minutes=offset) and at.timestamp() == 0
