"""Restoring to a point in time (shell).

    report = restore(repo, secret, at="2024-05-01T18:00", overrides={}, yes=False,
                     confirm=ask, now_ms=clock.now_ms)

Order, so that a failure at any step leaves the live data as it was:
1. choose the newest backup at or before the time (or the backup named);
2. rebuild its data in a scratch directory and check it (`rebuild`: MACs, hashes, the
   SQLite chain, integrity_check): a bad or undecryptable backup stops here;
3. if live data would be overwritten: ask (`confirm`), unless `yes`;
4. back up the current data (a full backup, reason ``pre-restore <id>``);
5. restore each database: SQLite through the backup API into the live file, PostgreSQL
   with pg_restore in one transaction;
6. `after_restore`: integrity_check, the ledger check for a host database, and for a
   terminal journal the reconciliation with the host (`journal_recon`).

Stop the host (or the terminal) first: SQLite's locks keep the file sound under a running
process, but a transaction it commits after the restore would land in the restored data.
Log files in a backup are verified but not restored (they are evidence, not state).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from kassa.errors import ConfigError, InputError
from kassa.ops.backup import pg_source, sqlite_source
from kassa.ops.backup.journal_recon import Finding, reconcile_journal
from kassa.ops.backup.keys import Secret
from kassa.ops.backup.manifest import Manifest, Source, is_backup_id
from kassa.ops.backup.rebuild import Check, rebuild, scratch_dir
from kassa.ops.backup.run import run_backup
from kassa.ops.backup.store import Repository
from kassa.ops.backup.targets import Target
from kassa.store import DbUrl, connect, parse_db_url


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What was restored from which backup, the safety backup taken first, and the checks."""

    backup_id: str
    restored: tuple[str, ...]
    pre_restore_id: str | None
    checks: tuple[Check, ...]
    findings: tuple[Finding, ...] = ()  # journal against host: recovered, 补登, in flight

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def parse_time(text: str, utc_offset_minutes: int) -> int:
    """UTC milliseconds of an ISO 8601 time; a time without offset is local time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"--at {text!r}: give a backup id or a time such as 2024-05-01T18:00 "
            "(local) or 2024-05-01T10:00+00:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=utc_offset_minutes)))
    return int(moment.astimezone(UTC).timestamp() * 1000)


def choose(repo: Repository, at: str, utc_offset_minutes: int) -> Manifest:
    """The backup named by `at`: an id, ``latest``, or the newest at or before a time."""
    if is_backup_id(at):
        return repo.get(at)
    return choose_from(repo.manifests(), at, utc_offset_minutes, str(repo.root))


def choose_from(backups: list[Manifest], at: str, utc_offset_minutes: int, where: str) -> Manifest:
    """`choose` among `backups` (oldest first), found at `where`."""
    if is_backup_id(at):
        found = [m for m in backups if m.id == at]
        if not found:
            raise InputError(f"no backup {at!r} at {where}")
        return found[0]
    if not backups:
        raise InputError(f"no backups in {where}")
    if at == "latest":
        return backups[-1]
    limit_ms = parse_time(at, utc_offset_minutes)
    eligible = [m for m in backups if m.started_ms <= limit_ms]
    if not eligible:
        raise InputError(f"no backup at or before {at}; the oldest is {backups[0].id}")
    return eligible[-1]


def targets_of(manifest: Manifest, overrides: Mapping[str, DbUrl]) -> list[tuple[Source, Target]]:
    """Where each database of `manifest` goes: `overrides` by source name if any are given
    (then only those are restored), else back where it came from."""
    pairs = []
    for source in manifest.sources:
        if source.dialect == "files" or (overrides and source.name not in overrides):
            continue
        url = overrides.get(source.name) or _recorded(source)
        if url.kind != source.dialect:
            raise ConfigError(
                f"backup {manifest.id} holds {source.name} as {source.dialect}; "
                f"cannot restore it into {url.kind} {url.display}"
            )
        pairs.append((source, Target(source.name, url)))
    missing = set(overrides) - {s.name for s, _ in pairs}
    if missing:
        raise InputError(f"backup {manifest.id} holds no {sorted(missing)[0]}")
    return pairs


def _recorded(source: Source) -> DbUrl:
    if source.dialect == "sqlite":
        return DbUrl("sqlite", path=Path(source.location), display=source.location)
    if source.connect is None:
        raise ConfigError(f"give --db for {source.name}: where to restore it")
    return parse_db_url(source.connect)


def has_data(url: DbUrl) -> bool:
    """Whether restoring into `url` would overwrite something."""
    if url.kind == "sqlite":
        assert url.path is not None
        return url.path.is_file() and url.path.stat().st_size > 0
    assert url.dsn is not None
    return pg_source.table_count(url.dsn) > 0


def restore(
    repo: Repository,
    secret: Secret,
    *,
    at: str,
    overrides: Mapping[str, DbUrl],
    yes: bool,
    confirm: Callable[[str], bool],
    now_ms: Callable[[], int],
    utc_offset_minutes: int = 480,
    source: Repository | None = None,
    host_db: DbUrl | None = None,
) -> RestoreReport:
    """Restore the databases of the backup chosen by `at` (see the module docstring).

    `source` is where the backup is read from (a remote copy fetched into a scratch
    place), `repo` by default; the pre-restore backup always goes to `repo`. `host_db` is
    the host database a restored terminal journal is reconciled with (`after_restore`).
    """
    origin = source or repo
    manifest = choose(origin, at, utc_offset_minutes)
    pairs = targets_of(manifest, overrides)
    if not pairs:
        raise InputError(f"backup {manifest.id} holds no database to restore")
    with repo.locked(), scratch_dir(repo) as scratch:
        wanted = {s.name for s, _ in pairs}
        built = rebuild(origin, secret, manifest, Path(scratch), lambda s: s.name in wanted)
        live = [t for _, t in pairs if has_data(t.url)]
        if live and not yes:
            places = ", ".join(t.url.display for t in live)
            if not confirm(f"overwrite {places} with backup {manifest.id}?"):
                raise InputError(
                    f"restore refused: {places} holds data; rerun with --yes "
                    "to overwrite it (a backup of it is taken first)"
                )
        pre_id = None
        if live:
            pre = run_backup(
                repo,
                secret,
                live,
                kind="full",
                reason=f"pre-restore {manifest.id}",
                logs_dir=None,
                now_ms=now_ms,
            )
            pre_id = pre.manifest.id
        for held, target in pairs:
            if held.dialect == "sqlite":
                assert target.url.path is not None
                sqlite_source.restore_into(built[held.name], target.url.path)
            else:
                assert target.url.dsn is not None
                pg_source.restore_dump(built[held.name], target.url.dsn)
    checks, findings = after_restore(pairs, manifest, host_db, now_ms())
    return RestoreReport(
        manifest.id, tuple(t.url.display for _, t in pairs), pre_id, tuple(checks), findings
    )


def after_restore(
    restored: list[tuple[Source, Target]],
    manifest: Manifest | None = None,
    host_db: DbUrl | None = None,
    now_ms: int = 0,
) -> tuple[list[Check], tuple[Finding, ...]]:
    """The checks run on restored databases, each with its outcome, and the findings of
    the journal's reconciliation with the host.

    SQLite ``integrity_check``; for a host database the ledger check
    (`kassa.host.check.check_host`) in one read transaction; for a terminal journal,
    `journal_recon.reconcile_journal` against the host database restored alongside, else
    `host_db`, else the command the back office must run is given.
    """
    from kassa.host.check import check_host

    checks = []
    for source, target in restored:
        if target.url.kind == "sqlite":
            assert target.url.path is not None
            problems = sqlite_source.integrity_problems(target.url.path)
            checks.append(
                Check(f"{source.name}: integrity_check", not problems, "; ".join(problems) or "ok")
            )
        if "host" in source.schema_versions:
            with connect(target.url) as db, db.transaction(write=False) as tx:
                report = check_host(tx)
            detail = (
                f"{report.entries} entries, {report.accounts} accounts balance"
                if report.ok
                else "; ".join(report.problems[:3])
            )
            checks.append(Check(f"{source.name}: host ledger check", report.ok, detail))
    findings: list[Finding] = []
    hosts = [t.url for s, t in restored if "host" in s.schema_versions]
    for source, target in restored:
        if "terminal" in source.schema_versions and target.url.path is not None:
            assert manifest is not None, "a journal is reconciled against its backup's time"
            result = reconcile_journal(
                target.url.path, hosts[0] if hosts else host_db, manifest.started_ms,
                manifest.id, now_ms,
            )  # fmt: skip
            checks.append(result.check)
            findings.extend(result.findings)
    return checks, tuple(findings)
