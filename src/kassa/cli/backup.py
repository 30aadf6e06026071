"""`kassa backup`: take, verify, list and restore backups; show the schedule and prune.

The backup directory is ``$KASSA_HOME/backups`` unless ``--to`` says otherwise; the key is
``$KASSA_HOME/backup.key`` (created at the first backup) unless KASSA_BACKUP_PASSPHRASE is
set. The policy is read from ``$KASSA_HOME/backup.toml`` (see `kassa.ops.backup.policy`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from kassa.cli._audit import record as audit_record
from kassa.cli.backup_remote import (
    HostDbOpt,
    HostKeyOpt,
    KnownHostsOpt,
    RemoteOpt,
    SshKeyOpt,
    copy_out,
    host_db,
    load_config,
    remote_target,
    verify_remote,
)
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.home import kassa_home
from kassa.ops import backup as bk
from kassa.ops.backup.policy import BackupInfo
from kassa.store import DbUrl, parse_db_url

app = typer.Typer(
    help="Backups: encrypted, verified, restorable to a point in time.", no_args_is_help=True
)
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
RepoOpt = Annotated[
    Path | None, typer.Option("--to", help="backup directory (default $KASSA_HOME/backups)")
]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="sqlite:///path/host.db or postgresql://user@host/db")
]
JournalOpt = Annotated[str | None, typer.Option("--journal", help="terminal journal file")]


def _context(home: Path | None, to: Path | None) -> tuple[Path, bk.Repository, bk.Secret]:
    base = kassa_home(home)
    return base, bk.Repository(to or base / "backups"), bk.Secret.from_env(base)


def load_policy(home: Path) -> bk.Policy:
    """The policy in ``home/backup.toml``, or the defaults when there is none."""
    return bk.parse_policy(load_config(home), str(home / "backup.toml"))


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
    """Back up the host database, the terminal journal and the logs, online; with
    --remote, also copy it (and the backups it builds on) there and read it back."""
    if full and incremental:
        raise InputError("--full and --incremental exclude each other")
    from kassa.host.runtime import default_db_url

    base, repo, secret = _context(home, to)
    target = remote_target(base, remote, ssh_key, known_hosts, host_key)
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
        f"backup {m.id}: {m.kind}{of}, {_size(m.size_bytes)}, "
        f"{', '.join(s.name for s in m.sources)} -> {result.path}"
    )
    for note in m.notes:
        typer.echo(f"  note: {note}")
    if target is not None:
        copy_out(repo, m, target)


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
    """Decrypt and check every piece, then test-restore into a scratch place; with
    --remote, of the remote copy (fetched into a scratch place first)."""
    base, repo, secret = _context(home, to)
    target = remote_target(base, remote, ssh_key, known_hosts, host_key)
    if target is not None:
        verify_remote(repo, secret, target, backup_id or "latest", db,
                      load_policy(base).utc_offset_minutes)  # fmt: skip
        return
    if backup_id is None:
        backups = repo.manifests()
        if not backups:
            raise InputError(f"no backups in {repo.root}")
        backup_id = backups[-1].id
    report = bk.verify_backup(repo, secret, backup_id, now_ms=SYSTEM.now_ms(), pg_dsn=db)
    for check in report.checks:
        typer.echo(f"  {'ok  ' if check.ok else 'BAD '} {check.name}: {check.detail}")
    if not report.ok:
        typer.echo(f"backup {report.backup_id}: FAILED: {report.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"backup {report.backup_id}: OK")


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
    """Restore to a point in time (a backup of the current data is taken first); with
    --remote, from the remote copy. A restored terminal journal is then reconciled with
    the host: what the host holds and the journal lacks is brought back or listed."""
    from kassa.host.runtime import default_db_url

    base, repo, secret = _context(home, to)
    target = remote_target(base, remote, ssh_key, known_hosts, host_key)
    host = host_db(base, host_db_url, default_db_url(base))
    offset = load_policy(base).utc_offset_minutes
    overrides: dict[str, DbUrl] = {}
    if db is not None:
        overrides["db"] = parse_db_url(db)
    if journal is not None:
        overrides["journal"] = DbUrl("sqlite", path=Path(journal), display=journal)

    def confirm(question: str) -> bool:
        return sys.stdin.isatty() and typer.confirm(question, default=False)

    with ExitStack() as stack:
        source = None
        if target is not None:
            source, chosen = stack.enter_context(bk.fetched(repo, target, at, offset))
            at = chosen.id
        report = bk.restore(repo, secret, at=at, overrides=overrides, yes=yes, confirm=confirm,
                            now_ms=SYSTEM.now_ms, utc_offset_minutes=offset, source=source,
                            host_db=host)  # fmt: skip
    audit_record(home, "restore.run", report.backup_id or at,
                 {"restored": list(report.restored), "ok": report.ok,
                  "pre_restore_backup": report.pre_restore_id})  # fmt: skip
    if report.pre_restore_id:
        typer.echo(f"backup of the data before the restore: {report.pre_restore_id}")
    typer.echo(f"restored {', '.join(report.restored)} from backup {report.backup_id}")
    for check in report.checks:
        typer.echo(f"  {'ok  ' if check.ok else 'BAD '} {check.name}: {check.detail}")
    for finding in report.findings:
        typer.echo(f"  {finding.line()}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("list")
def list_backups(
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Backups with id, kind, time, size, parent and verified status (of --remote)."""
    base, repo, _ = _context(home, to)
    offset = load_policy(base).utc_offset_minutes
    target = remote_target(base, remote, ssh_key, known_hosts, host_key)
    if target is not None:
        with bk.open_remote(target) as fs:
            found, damaged = bk.remote_manifests(fs)
    else:
        found, damaged = repo.manifests(), repo.damaged()
    table = Table("id", "kind", "time", "size", "parent", "verified", "reason")
    for m in found:
        mark = repo.verified(m.id) if target is None else None
        status = (
            "never"
            if mark is None
            else (f"{'OK' if mark.ok else 'FAILED'} {_local(mark.at_ms, offset)}")
        )
        table.add_row(
            m.id,
            m.kind,
            _local(m.started_ms, offset),
            _size(m.size_bytes),
            m.parent or "-",
            status,
            m.reason,
        )
    Console(width=200).print(table)
    for problem in damaged:
        typer.echo(f"damaged: {problem}", err=True)


@app.command("schedule")
def schedule(
    apply: Annotated[bool, typer.Option("--apply", help="delete what retention drops")] = False,
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Show the backup due now and what retention would delete (`--apply` deletes it);
    with --remote, retention of the remote copies."""
    base, repo, _ = _context(home, to)
    policy = load_policy(base)
    target = remote_target(base, remote, ssh_key, known_hosts, host_key)
    if target is not None:
        with bk.open_remote(target) as fs:
            plan = bk.prune(fs, policy, apply)
        for backup_id, why in sorted(plan.keep.items()):
            typer.echo(f"keep   {backup_id}  {why}")
        for backup_id in plan.delete:
            typer.echo(f"{'deleted' if apply else 'would delete'} {backup_id} at {fs.where}")
        return
    infos = [BackupInfo(m.id, m.kind, m.parent, m.started_ms) for m in repo.manifests()]
    due = bk.due(SYSTEM.now_ms(), infos, policy)
    typer.echo(f"due now: {due.kind or 'nothing'}")
    for reason in due.reasons:
        typer.echo(f"  {reason}")
    plan = bk.retention(infos, policy)
    for backup_id, why in sorted(plan.keep.items()):
        typer.echo(f"keep   {backup_id}  {why}")
    for backup_id in plan.delete:
        typer.echo(f"{'delete' if apply else 'would delete'} {backup_id}")
        if apply:
            repo.delete(backup_id)


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size / 1024:.1f} {unit}"
        size //= 1024
    return f"{size} B"


def _local(at_ms: int, offset_minutes: int) -> str:
    moment = datetime.fromtimestamp(at_ms / 1000, UTC) + timedelta(minutes=offset_minutes)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def auto_backup(home: Path | None, reason: str, db: str | None = None,
                journal: str | None = None) -> str:  # fmt: skip
    """The backup taken by itself before settlement (and restore): returns its id.

    A failure raises: settlement does not start on data that could not be backed up
    (the operator may choose `--no-backup` knowingly)."""
    from kassa.host.runtime import default_db_url

    base, repo, secret = _context(home, None)
    targets = bk.targets_for(base, db, journal, default_db_url(base))
    if not targets:
        return "none (no database or journal yet: nothing to lose)"
    result = bk.run_backup(repo, secret, targets, kind="full", reason=reason,
                           logs_dir=base / "logs", now_ms=SYSTEM.now_ms)  # fmt: skip
    audit_record(home, "backup.run", result.manifest.id, {"kind": "full", "reason": reason})
    return result.manifest.id
