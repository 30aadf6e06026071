"""`kassa backup list`, `schedule` and `retry-remote`, and the remote half of `verify`.

With a ``[remote]`` configured in backup.toml (and no --remote): `list` shows the local
backups with a column saying whether the remote holds each, plus those only the remote
holds; `schedule` shows the local plan, then applies the same retention to the remote;
`retry-remote` sends what the remote lacks. An explicit --remote shows that remote alone,
as before. A remote that cannot be reached is one line (see `backup_remote.remote_failed`)
after the local part is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kassa.cli.backup_remote import (
    HomeOpt,
    HostKeyOpt,
    KnownHostsOpt,
    RemoteOpt,
    RepoOpt,
    SshKeyOpt,
    context,
    load_policy,
    local_time,
    remote_config,
    remote_failed,
    report,
    size_text,
)
from kassa.clock import SYSTEM
from kassa.errors import InputError, KassaError, StoreError
from kassa.ops import backup as bk
from kassa.ops.backup.policy import BackupInfo, Retention
from kassa.ops.backup.remote import check_remote
from kassa.ops.backup.remote_config import RemoteConfig
from kassa.ops.backup.store import MANIFEST


def _why(config: RemoteConfig, exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    text = " ".join(text.split())
    return text if config.where in text else f"{config.where}: {text}"


def list_backups(
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Backups with id, kind, time, size, parent, verified status, and whether the
    configured remote holds each (with --remote: that remote's backups)."""
    base, repo, _ = context(home, to)
    offset = load_policy(base).utc_offset_minutes
    config = remote_config(base, remote, ssh_key, known_hosts, host_key)
    if config is not None and remote is not None:
        with bk.open_remote(config.target) as fs:
            found, damaged = bk.remote_manifests(fs)
        _print(repo, found, damaged, offset, None)
        return
    found, damaged = repo.manifests(), repo.damaged()
    there: set[str] | None = None
    problem = None
    if config is not None:
        try:
            with bk.open_remote(config.target) as fs:
                held, bad = bk.remote_manifests(fs)
        except (KassaError, OSError) as exc:
            problem = _why(config, exc)
        else:
            there = {m.id for m in held}
            local = {m.id for m in found}
            found = sorted([*found, *(m for m in held if m.id not in local)],
                           key=lambda m: (m.started_ms, m.id))  # fmt: skip
            damaged = [*damaged, *bad]
    _print(repo, found, damaged, offset, there if config is not None else None, problem)
    if problem is not None:
        remote_failed(config, problem)


def _print(
    repo: bk.Repository,
    found: list[bk.Manifest],
    damaged: list[str],
    offset: int,
    there: set[str] | None,
    problem: str | None = None,
) -> None:
    """The table; `there` is what the remote holds (None: no remote column)."""
    remote_column = there is not None or problem is not None
    columns = ["id", "kind", "time", "size", "parent", "verified"]
    table = Table(*columns, *(["remote"] if remote_column else []), "reason")
    local = {m.id for m in repo.manifests()}
    for m in found:
        mark = repo.verified(m.id)
        status = "never" if mark is None else (
            f"{'OK' if mark.ok else 'FAILED'} {local_time(mark.at_ms, offset)}"
        )  # fmt: skip
        row = [m.id, m.kind, local_time(m.started_ms, offset), size_text(m.size_bytes),
               m.parent or "-", status]  # fmt: skip
        if remote_column:
            on = "?" if there is None else "yes" if m.id in there else "no"
            row.append(on if m.id in local else "only there")
        table.add_row(*row, m.reason)
    Console(width=200).print(table)
    for line in damaged:
        typer.echo(f"damaged: {line}", err=True)


def schedule(
    apply: Annotated[bool, typer.Option("--apply", help="delete what retention drops")] = False,
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Show the backup due now and what retention would delete (`--apply` deletes it), then
    the same for the configured remote's copies; with --remote, of that remote only."""
    base, repo, _ = context(home, to)
    policy = load_policy(base)
    config = remote_config(base, remote, ssh_key, known_hosts, host_key)
    if remote is None:
        _local_schedule(repo, policy, apply)
    if config is None:
        return
    try:
        with bk.open_remote(config.target) as fs:
            plan = bk.prune(fs, policy, apply)
    except (KassaError, OSError) as exc:
        remote_failed(config, _why(config, exc))
        return
    if remote is None:
        typer.echo(f"remote {config.where}:")
    _show_retention(plan, "deleted" if apply else "would delete", f" at {config.where}")


def _local_schedule(repo: bk.Repository, policy: bk.Policy, apply: bool) -> None:
    infos = [BackupInfo(m.id, m.kind, m.parent, m.started_ms) for m in repo.manifests()]
    due = bk.due(SYSTEM.now_ms(), infos, policy)
    typer.echo(f"due now: {due.kind or 'nothing'}")
    for reason in due.reasons:
        typer.echo(f"  {reason}")
    plan = bk.retention(infos, policy)
    _show_retention(plan, "delete" if apply else "would delete", "",
                    repo.delete if apply else None)  # fmt: skip


def _show_retention(plan: Retention, verb: str, where: str,
                    delete: Callable[[str], None] | None = None) -> None:  # fmt: skip
    """What retention keeps (and why) and drops; `delete` each dropped one as it is said."""
    for backup_id, why in sorted(plan.keep.items()):
        typer.echo(f"keep   {backup_id}  {why}")
    for backup_id in plan.delete:
        typer.echo(f"{verb} {backup_id}{where}")
        if delete is not None:
            delete(backup_id)


def retry_remote(
    to: RepoOpt = None,
    remote: RemoteOpt = None,
    ssh_key: SshKeyOpt = None,
    known_hosts: KnownHostsOpt = None,
    host_key: HostKeyOpt = None,
    home: HomeOpt = None,
) -> None:
    """Send the local backups the remote lacks (those its retention keeps, each with the
    backups it builds on), e.g. after a copy failed while the link was down; each is read
    back. Exits non-zero if the remote still cannot be reached."""
    base, repo, _ = context(home, to)
    config = remote_config(base, remote, ssh_key, known_hosts, host_key)
    if config is None:
        raise InputError(
            f"no remote: give --remote DIR|sftp://… or configure [remote] in {base / 'backup.toml'}"
        )
    outcome = bk.attempt(repo, config, load_policy(base), None, SYSTEM.now_ms)
    report(outcome, RemoteConfig(config.target, "fail", config.origin))  # asked for: no warn
    sent = len(outcome.copies)
    typer.echo(f"{config.where}: {sent} backup(s) sent" if sent else
               f"{config.where}: nothing missing")  # fmt: skip


def check_remote_copy(repo: bk.Repository, config: RemoteConfig, manifest: bk.Manifest) -> None:
    """The remote half of `kassa backup verify`: the configured remote's copy of `manifest`
    and of the backups it builds on read back against the verified local manifests (the
    same bytes, so they decrypt and restore alike)."""
    try:
        with bk.open_remote(config.target) as fs:
            links = bk.chain(repo, manifest)
            absent = [m.id for m in links if fs.kind(f"{m.id}/{MANIFEST}") != "file"]
            copies = [] if absent else [check_remote(fs, m) for m in links]
    except (KassaError, OSError) as exc:
        remote_failed(config, _why(config, exc))
        return
    if absent:
        remote_failed(config, f"{config.where} does not hold {absent[0]}")
        return
    for copy in copies:
        typer.echo(f"  remote {copy.path}: {'OK' if copy.ok else 'BAD'} ({copy.detail})")
    bad = [c for c in copies if not c.ok]
    if bad:
        raise StoreError(
            f"the remote copy {bad[0].path} is damaged ({bad[0].detail}); the local backup is"
            f" fine: remove {bad[0].path} and run `kassa backup retry-remote` to send it again"
        )
    typer.echo(f"remote copy at {config.where}: OK")
