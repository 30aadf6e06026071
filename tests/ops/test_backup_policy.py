"""Backup policy: the schedule and grandfather-father-son retention (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.errors import ConfigError
from kassa.ops.backup.policy import BackupInfo, Policy, due, parse_policy, retention

DAY_MS = 86_400_000
UTC_POLICY = Policy(utc_offset_minutes=0)


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def full(name: str, when: str) -> BackupInfo:
    return BackupInfo(name, "full", None, at(when))


def incr(name: str, parent: str, when: str) -> BackupInfo:
    return BackupInfo(name, "incremental", parent, at(when))


def test_defaults_and_toml_values() -> None:
    policy = parse_policy({}, "backup.toml")
    assert (policy.daily, policy.weekly, policy.monthly) == ("full", "incremental", "full")
    custom = parse_policy(
        {
            "utc_offset_minutes": 0,
            "schedule": {"daily": "incremental", "weekly": "full"},
            "retention": {"daily": 3, "monthly": 0},
        },
        "backup.toml",
    )
    assert (custom.daily, custom.weekly, custom.keep_daily, custom.keep_monthly) == (
        "incremental",
        "full",
        3,
        0,
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schedule": {"daily": "hourly"}}, "schedule.daily"),
        ({"schedule": {"yearly": "full"}}, "schedule.yearly"),
        ({"retention": {"weekly": -1}}, "retention.weekly"),
        ({"retention": {"weekly": True}}, "retention.weekly"),
        ({"retention": 3}, r"\[retention\] must be a table"),
        ({"utc_offset_minutes": 5000}, "utc_offset_minutes"),
        ({"keep": 3}, "unknown key 'keep'"),
    ],
)
def test_bad_policy_is_one_config_error(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy(doc, "backup.toml")


def test_nothing_yet_means_a_full_is_due() -> None:
    result = due(at("2026-03-04T10:00"), [], UTC_POLICY)
    assert result.kind == "full" and len(result.reasons) == 3


def test_todays_full_satisfies_every_period_and_an_incremental_does_not_satisfy_a_full() -> None:
    now = at("2026-03-04T10:00")
    assert due(now, [full("a", "2026-03-04T01:00")], UTC_POLICY).kind is None
    only_incr = [full("a", "2026-02-20T01:00"), incr("b", "a", "2026-03-04T01:00")]
    result = due(now, only_incr, UTC_POLICY)
    assert result.kind == "full"
    assert any(r.startswith("daily full") for r in result.reasons)
    assert not any(r.startswith("weekly") for r in result.reasons)  # an incremental this week


def test_incremental_due_when_only_weekly_unsatisfied() -> None:
    policy = Policy(daily="none", weekly="incremental", monthly="full", utc_offset_minutes=0)
    backups = [full("a", "2026-03-01T01:00")]  # a Sunday: ISO week 9; 2026-03-04 is week 10
    assert due(at("2026-03-04T10:00"), backups, policy).kind == "incremental"


def test_local_day_decides_what_today_means() -> None:
    # 2026-03-03T20:00Z is already 2026-03-04 04:00 in China (UTC+8).
    backups = [full("a", "2026-03-03T20:00")]
    assert due(at("2026-03-04T10:00"), backups, Policy()).kind is None
    assert due(at("2026-03-04T10:00"), backups, UTC_POLICY).kind == "full"


def test_gfs_keeps_newest_per_day_week_month_and_the_chains_they_need() -> None:
    policy = Policy(keep_daily=2, keep_weekly=1, keep_monthly=2, utc_offset_minutes=0)
    backups = [
        full("jan", "2026-01-10T01:00"),
        full("feb-old", "2026-02-01T01:00"),
        full("feb", "2026-02-27T01:00"),
        incr("mar1", "feb", "2026-03-01T01:00"),
        incr("mar2a", "mar1", "2026-03-02T01:00"),
        incr("mar2b", "mar2a", "2026-03-02T05:00"),
    ]
    plan = retention(backups, policy)
    # days: 03-02 -> mar2b, 03-01 -> mar1; week 9 (02-23..03-01) -> mar1;
    # months: 03 -> mar2b, 02 -> feb; mar2b needs mar2a, mar1, feb.
    assert set(plan.keep) == {"mar2b", "mar2a", "mar1", "feb"}
    assert plan.delete == ("jan", "feb-old")
    assert plan.keep["mar2a"] == "needed by mar2b"


def test_newest_is_kept_even_when_everything_is_zero() -> None:
    policy = Policy(keep_daily=0, keep_weekly=0, keep_monthly=0)
    backups = [full("a", "2026-01-01T00:00"), incr("b", "a", "2026-01-02T00:00")]
    plan = retention(backups, policy)
    assert set(plan.keep) == {"a", "b"} and plan.delete == ()


@st.composite
def histories(draw: st.DrawFn) -> list[BackupInfo]:
    count = draw(st.integers(1, 40))
    gaps = draw(st.lists(st.integers(1, 3 * DAY_MS), min_size=count, max_size=count))
    backups: list[BackupInfo] = []
    moment = at("2025-11-01T00:00")
    for index, gap in enumerate(gaps):
        moment += gap
        if backups and draw(st.booleans()):
            parent = draw(st.sampled_from(backups)).id
            backups.append(BackupInfo(f"b{index:02d}", "incremental", parent, moment))
        else:
            backups.append(BackupInfo(f"b{index:02d}", "full", None, moment))
    return backups


counts = st.integers(0, 6)


@settings(max_examples=150, deadline=None)
@given(histories(), counts, counts, counts, st.sampled_from([0, 480, -300]))
def test_gfs_properties(
    backups: list[BackupInfo], days: int, weeks: int, months: int, offset: int
) -> None:
    policy = Policy(
        keep_daily=days, keep_weekly=weeks, keep_monthly=months, utc_offset_minutes=offset
    )
    plan = retention(backups, policy)
    ids = {b.id for b in backups}
    by_id = {b.id: b for b in backups}
    assert set(plan.keep) | set(plan.delete) == ids
    assert not set(plan.keep) & set(plan.delete)
    assert max(backups, key=lambda b: b.started_ms).id in plan.keep
    for kept in plan.keep:  # no kept backup loses its chain
        parent = by_id[kept].parent
        assert parent is None or parent in plan.keep
    chosen = [k for k, why in plan.keep.items() if not why.startswith(("needed", "newest"))]
    assert len(chosen) <= days + weeks + months
    starts = [by_id[i].started_ms for i in plan.delete]
    assert starts == sorted(starts)  # oldest first


@settings(max_examples=100, deadline=None)
@given(histories())
def test_a_day_with_backups_among_the_newest_n_keeps_its_newest(backups: list[BackupInfo]) -> None:
    policy = Policy(keep_daily=3, keep_weekly=0, keep_monthly=0, utc_offset_minutes=0)
    plan = retention(backups, policy)
    by_day: dict[int, BackupInfo] = {}
    for b in backups:  # oracle written independently: UTC day numbers
        day = b.started_ms // DAY_MS
        if day not in by_day or b.started_ms > by_day[day].started_ms:
            by_day[day] = b
    for day in sorted(by_day)[-3:]:
        assert by_day[day].id in plan.keep
