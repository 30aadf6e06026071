"""Backup policy (pure): what is due now, and which backups grandfather-father-son keeps.

Configured in ``$KASSA_HOME/backup.toml`` (every key optional)::

    utc_offset_minutes = 480        # days, weeks and months are counted in this local time
    [schedule]                      # the kind of backup each period asks for, or "none"
    daily = "full"
    weekly = "incremental"
    monthly = "full"
    [retention]                     # grandfather-father-son: how many of each to keep
    daily = 7
    weekly = 5
    monthly = 12
    [restore]                       # read by `kassa backup restore`, not by the policy
    host_db = "postgresql://kassa@host-db/kassa"   # reconcile a restored journal with it
    [remote]                        # the remote copy of every backup: see `remote_config`
    url = "sftp://kassa@backup.example/srv/kassa"  # or a mounted directory

Schedule: a period is satisfied when a backup started inside the current calendar
period (local day, ISO week from Monday, month) is of its kind or better (a full
satisfies an incremental). What is due is a full if any unsatisfied period asks for one,
else an incremental; an incremental with no full to build on becomes a full.

Retention: for each of the newest ``daily`` local days that hold backups, the newest
backup of that day is kept; likewise ``weekly`` ISO weeks and ``monthly`` months. The
newest backup is always kept. Then every backup a kept incremental depends on (its
parent, the parent's parent, ... down to the full) is kept too, so no kept backup ever
loses the chain it needs. Everything else may be deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from kassa.errors import ConfigError

Period = Literal["daily", "weekly", "monthly"]
PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly")
ScheduleKind = Literal["full", "incremental", "none"]
_RANK = {"none": 0, "incremental": 1, "full": 2}
utc_offset_minutes_default = 480  # China Standard Time: the settlement day's clock
retention_max = 10_000


@dataclass(frozen=True, slots=True)
class Policy:
    """Schedule kind per period, GFS counts, and the local clock offset."""

    daily: ScheduleKind = "full"
    weekly: ScheduleKind = "incremental"
    monthly: ScheduleKind = "full"
    keep_daily: int = 7
    keep_weekly: int = 5
    keep_monthly: int = 12
    utc_offset_minutes: int = utc_offset_minutes_default

    def schedule(self, period: Period) -> ScheduleKind:
        return {"daily": self.daily, "weekly": self.weekly, "monthly": self.monthly}[period]

    def keep(self, period: Period) -> int:
        return {"daily": self.keep_daily, "weekly": self.keep_weekly, "monthly": self.keep_monthly}[
            period
        ]


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What the policy needs to know of one backup."""

    id: str
    kind: Literal["full", "incremental"]
    parent: str | None
    started_ms: int


@dataclass(frozen=True, slots=True)
class Due:
    """The backup to take now (`kind` None: nothing due) and why."""

    kind: Literal["full", "incremental"] | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Retention:
    """`keep` maps each kept id to why; `delete` is every other id, oldest first."""

    keep: Mapping[str, str]
    delete: tuple[str, ...]


def parse_policy(doc: Mapping[str, Any], where: str) -> Policy:
    """The policy in a parsed TOML document; `ConfigError` naming the bad key."""
    unknown = set(doc) - {"utc_offset_minutes", "schedule", "retention", "restore", "remote"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    schedule = _table(doc, "schedule", where)
    retention = _table(doc, "retention", where)
    values: dict[str, Any] = {}
    for period in PERIODS:
        kind = schedule.get(period, Policy().schedule(period))
        if kind not in _RANK:
            raise ConfigError(
                f"{where}: schedule.{period} = {kind!r}; use full, incremental or none"
            )
        values[period] = kind
        count = retention.get(period, Policy().keep(period))
        if type(count) is not int or not 0 <= count <= retention_max:
            raise ConfigError(f"{where}: retention.{period} = {count!r}; use 0..{retention_max}")
        values[f"keep_{period}"] = count
    offset = doc.get("utc_offset_minutes", utc_offset_minutes_default)
    if type(offset) is not int or not -14 * 60 <= offset <= 14 * 60:
        raise ConfigError(f"{where}: utc_offset_minutes = {offset!r}; use -840..840")
    return Policy(**values, utc_offset_minutes=offset)


def _table(doc: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    table = doc.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [{name}] must be a table")
    unknown = set(table) - set(PERIODS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {name}.{sorted(unknown)[0]}; use daily, weekly, monthly"
        )
    return table


def period_key(at_ms: int, period: Period, utc_offset_minutes: int) -> tuple[int, int, int]:
    """The local calendar period holding `at_ms`: (year, month, day) / ISO (year, week, 0)."""
    local = datetime.fromtimestamp(at_ms // 1000, UTC) + timedelta(minutes=utc_offset_minutes)
    if period == "daily":
        return (local.year, local.month, local.day)
    if period == "weekly":
        iso = local.isocalendar()
        return (iso.year, iso.week, 0)
    return (local.year, local.month, 0)


def due(now_ms: int, backups: Sequence[BackupInfo], policy: Policy) -> Due:
    """What `policy` asks to run at `now_ms`, given the existing `backups`."""
    wanted = "none"
    reasons: list[str] = []
    for period in PERIODS:
        kind = policy.schedule(period)
        if kind == "none":
            continue
        current = period_key(now_ms, period, policy.utc_offset_minutes)
        done = any(
            b.started_ms <= now_ms
            and period_key(b.started_ms, period, policy.utc_offset_minutes) == current
            and _RANK[b.kind] >= _RANK[kind]
            for b in backups
        )
        if not done:
            reasons.append(f"{period} {kind}: none yet this {_PERIOD_NAMES[period]}")
            wanted = max(wanted, kind, key=_RANK.__getitem__)
    if wanted == "incremental" and not any(b.kind == "full" for b in backups):
        wanted = "full"
        reasons.append("no full backup to build an incremental on")
    return Due(None if wanted == "none" else wanted, tuple(reasons))  # type: ignore[arg-type]


_PERIOD_NAMES = {"daily": "day", "weekly": "week", "monthly": "month"}


def retention(backups: Sequence[BackupInfo], policy: Policy) -> Retention:
    """Grandfather-father-son retention of `backups` under `policy` (see the module doc)."""
    ordered = sorted(backups, key=lambda b: (b.started_ms, b.id), reverse=True)
    keep: dict[str, str] = {}
    if ordered:
        keep[ordered[0].id] = "newest"
    for period in PERIODS:
        _keep_newest_per_period(ordered, period, policy, keep)
    by_id = {b.id: b for b in backups}
    for kept in list(keep):
        _keep_chain(by_id, kept, keep)
    delete = tuple(b.id for b in reversed(ordered) if b.id not in keep)
    return Retention(keep, delete)


def _keep_newest_per_period(
    ordered: Sequence[BackupInfo], period: Period, policy: Policy, keep: dict[str, str]
) -> None:
    seen: set[tuple[int, int, int]] = set()
    for backup in ordered:  # newest first: the first of each period is its newest
        if len(seen) >= policy.keep(period):
            return
        key = period_key(backup.started_ms, period, policy.utc_offset_minutes)
        if key not in seen:
            seen.add(key)
            keep.setdefault(backup.id, f"{period} {_label(key, period)}")


def _label(key: tuple[int, int, int], period: Period) -> str:
    if period == "daily":
        return f"{key[0]:04d}-{key[1]:02d}-{key[2]:02d}"
    return f"{key[0]:04d}-W{key[1]:02d}" if period == "weekly" else f"{key[0]:04d}-{key[1]:02d}"


def _keep_chain(by_id: Mapping[str, BackupInfo], start: str, keep: dict[str, str]) -> None:
    child, current, walked = start, by_id[start].parent, {start}
    while current is not None and current in by_id and current not in walked:
        walked.add(current)  # a damaged manifest could make a cycle; never loop on it
        keep.setdefault(current, f"needed by {child}")
        child, current = current, by_id[current].parent
