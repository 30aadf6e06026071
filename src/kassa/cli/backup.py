"""`kassa backup`: take, verify, list and restore backups; show the schedule and prune.

The backup directory is ``$KASSA_HOME/backups`` unless ``--to`` says otherwise; the key is
``$KASSA_HOME/backup.key`` (created at the first backup) unless KASSA_BACKUP_PASSPHRASE is
set. The policy is read from ``$KASSA_HOME/backup.toml`` (see `kassa.ops.backup.policy`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from kassa.cli import backup_views
from kassa.cli._audit import record as audit_record
from kassa.cli.backup_remote import (
    HomeOpt,
    HostDbOpt,
    HostKeyOpt,
    KnownHostsOpt,
    RemoteOpt,
    RepoOpt,
    SshKeyOpt,
    context,
    host_db,
    load_policy,
    remote_config,
    remote_failed,
    remote_target,
    report,
    size_text,
    verify_remote,
)
from kassa.clock import SYSTEM
from kassa.errors import ConfigError, InputError
from kassa.ops import backup as bk
from kassa.ops.backup.remote_config import RemoteConfig, configured
from kassa.store import DbUrl, parse_db_url

app = typer.Typer(
    help="Backups: encrypted, verified, restorable to a point in time.", no_args_is_help=True
)
DbOpt = Annotated[
    str | None, typer.Option("--db", help="sqlite:///path/host.db or postgresql://user@host/db")
]
JournalOpt = Annotated[str | None, typer.Option("--journal", help="terminal journal file")]
# How long an automatic backup (before settlement or a restore) waits for its remote copy:
# a healthy copy is done well before; a hung share or server must not hold settlement up.
auto_remote_wait_s = 120.0
log = logging.getLogger("kassa.backup")


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None] | None]:
    if not sys.stderr.isatty():  # a bar in a cron mail or a pipe is noise
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, object] = {}

        def update(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)  # type: ignore[arg-type]

        yield update


@app.command("run")
def run(
    full: Annotated[bool, typer.Option("--full", help="a full backup (the default)")] = False,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="only what changed since the last backup")
    ] = False,
    db: DbOpt = None,
    journal: JournalOpt = None,
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Back up the host database, the terminal journal and the logs, online; then copy it
    (and the backups it builds on, and any the remote lacks) to --remote or the configured
    [remote], and read it back. The local backup stands whatever the remote does."""
    if full and incremental:
        raise InputError("--full and --incremental exclude each other")
    from kassa.host.runtime import default_db_url

    base, repo, secret = context(home, to)
    if remote is not None:  # a mistyped option is refused before anything is done
        remote_target(base, remote, ssh_key, known_hosts, host_key)
    targets = bk.targets_for(base, db, journal, default_db_url(base))
    with _progress() as progress:
        result = bk.run_backup(
            repo,
            secret,
            targets,
            kind="incremental" if incremental else "full",
            reason="manual",
            logs_dir=base / "logs",
            now_ms=SYSTEM.now_ms,
            progress=progress,
        )
    m = result.manifest
    audit_record(home, "backup.run", m.id, {"kind": m.kind, "size_bytes": m.size_bytes})
    of = f" of {m.parent}" if m.parent else ""
    typer.echo(
        f"backup {m.id}: {m.kind}{of}, {size_text(m.size_bytes)}, "
        f"{', '.join(s.name for s in m.sources)} -> {result.path}"
    )
    for note in m.notes:
        typer.echo(f"  note: {note}")
    try:  # a broken backup.toml fails the remote copy, never the local backup
        config = remote_config(base, remote, ssh_key, known_hosts, host_key)
        policy = load_policy(base)
    except ConfigError as exc:
        remote_failed(None, str(exc), when="fix backup.toml, then")
        return
    if config is not None:
        report(bk.attempt(repo, config, policy, m, SYSTEM.now_ms), config)


@app.command("verify")
def verify(
    backup_id: Annotated[str | None, typer.Argument(help="backup id (default: the newest)")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="PostgreSQL server for the scratch test restore")
    ] = None,
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Decrypt and check every piece, then test-restore into a scratch place; then read
    the configured remote's copy back against it. With --remote (or when the backup is
    only on the configured remote), the remote copy is fetched and verified itself."""
    base, repo, secret = context(home, to)
    config = remote_config(base, remote, ssh_key, known_hosts, host_key)
    backups = repo.manifests()
    held = bool(backups) if backup_id is None else any(m.id == backup_id for m in backups)
    if config is not None and (remote is not None or not held):
        verify_remote(repo, secret, config.target, backup_id or "latest", db,
                      load_policy(base).utc_offset_minutes)  # fmt: skip
        return
    if backup_id is None:
        if not backups:
            raise InputError(f"no backups in {repo.root}")
        backup_id = backups[-1].id
    result = bk.verify_backup(repo, secret, backup_id, now_ms=SYSTEM.now_ms(), pg_dsn=db)
    for check in result.checks:
        typer.echo(f"  {'ok  ' if check.ok else 'BAD '} {check.name}: {check.detail}")
    if not result.ok:
        typer.echo(f"backup {result.backup_id}: FAILED: {result.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"backup {result.backup_id}: OK")
    if config is not None:
        backup_views.check_remote_copy(repo, config, repo.get(backup_id))


@app.command("restore")
def restore(
    at: Annotated[str, typer.Option("--at", help="backup id, 'latest', or a time (local)")],
    db: DbOpt = None,
    journal: JournalOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="overwrite live data without asking")] = False,
    host_db_url: HostDbOpt = None,
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Restore to a point in time (a backup of the current data is taken first, and
    copied to the configured remote afterwards); from --remote, or from the configured
    remote when the local backups hold none for --at. A restored terminal journal is then
    reconciled with the host: what the host holds and the journal lacks is brought back
    or listed."""
    from kassa.host.runtime import default_db_url

    base, repo, secret = context(home, to)
    config = remote_config(base, remote, ssh_key, known_hosts, host_key)
    host = host_db(base, host_db_url, default_db_url(base))
    policy = load_policy(base)
    offset = policy.utc_offset_minutes
    overrides: dict[str, DbUrl] = {}
    if db is not None:
        overrides["db"] = parse_db_url(db)
    if journal is not None:
        overrides["journal"] = DbUrl("sqlite", path=Path(journal), display=journal)

    def confirm(question: str) -> bool:
        return sys.stdin.isatty() and typer.confirm(question, default=False)

    with ExitStack() as stack:
        source = None
        if config is not None and (remote is not None or not _has_local(repo, at, offset)):
            source, chosen = stack.enter_context(bk.fetched(repo, config.target, at, offset))
            at = chosen.id
        result = bk.restore(repo, secret, at=at, overrides=overrides, yes=yes, confirm=confirm,
                            now_ms=SYSTEM.now_ms, utc_offset_minutes=offset, source=source,
                            host_db=host)  # fmt: skip
    audit_record(home, "restore.run", result.backup_id or at,
                 {"restored": list(result.restored), "ok": result.ok,
                  "pre_restore_backup": result.pre_restore_id})  # fmt: skip
    if result.pre_restore_id:
        typer.echo(f"backup of the data before the restore: {result.pre_restore_id}")
    typer.echo(f"restored {', '.join(result.restored)} from backup {result.backup_id}")
    for check in result.checks:
        typer.echo(f"  {'ok  ' if check.ok else 'BAD '} {check.name}: {check.detail}")
    for finding in result.findings:
        typer.echo(f"  {finding.line()}")
    if result.pre_restore_id:
        _copy_auto(repo, base, repo.get(result.pre_restore_id))
    if not result.ok:
        raise typer.Exit(1)


def _has_local(repo: bk.Repository, at: str, offset: int) -> bool:
    try:
        bk.choose(repo, at, offset)
    except InputError:
        return False
    return True


app.command("list")(backup_views.list_backups)
app.command("schedule")(backup_views.schedule)
app.command("retry-remote")(backup_views.retry_remote)


def auto_backup(home: Path | None, reason: str, db: str | None = None,
                journal: str | None = None) -> str:  # fmt: skip
    """The backup taken by itself before settlement (and restore): returns its id.

    A failure of the local backup raises: settlement does not start on data that could
    not be backed up (the operator may choose `--no-backup` knowingly). The copy to the
    configured remote only ever warns, and is waited for at most `auto_remote_wait_s`."""
    from kassa.host.runtime import default_db_url

    base, repo, secret = context(home, None)
    targets = bk.targets_for(base, db, journal, default_db_url(base))
    if not targets:
        return "none (no database or journal yet: nothing to lose)"
    result = bk.run_backup(repo, secret, targets, kind="full", reason=reason,
                           logs_dir=base / "logs", now_ms=SYSTEM.now_ms)  # fmt: skip
    audit_record(home, "backup.run", result.manifest.id, {"kind": "full", "reason": reason})
    _copy_auto(repo, base, result.manifest)
    return result.manifest.id


def _copy_auto(repo: bk.Repository, base: Path, manifest: bk.Manifest) -> None:
    """The remote copy of an automatic backup: warns, never raises, never hangs."""
    config: RemoteConfig | None = None
    try:
        config, policy = configured(base)
        if config is None:
            return
        outcome = bk.attempt_within(repo, config, policy, manifest, SYSTEM.now_ms,
                                    auto_remote_wait_s)  # fmt: skip
    except Exception as exc:  # a bad backup.toml or a bug: never in the way of settlement
        log.warning("backup remote copy not made: %s", exc)
        when = "fix backup.toml, then" if isinstance(exc, ConfigError) else None
        remote_failed(config, " ".join(str(exc).split()), automatic=True, when=when)
        return
    report(outcome, config, automatic=True)
