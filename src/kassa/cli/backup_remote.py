"""The options of `kassa backup` that name a remote copy, the remote configured in
``backup.toml`` (`kassa.ops.backup.remote_config`), and the host database to reconcile a
restored journal with.

``--remote`` is a directory (a mounted share) or ``sftp://USER@HOST[:PORT]/PATH``. For
SFTP: ``--ssh-key`` (default ``$KASSA_HOME/backup_ssh_key``), ``--known-hosts`` (default
``~/.ssh/known_hosts``) or ``--host-key SHA256:...`` to pin the server's key. ``--remote``
replaces the configured ``[remote]`` as a whole; without it, ``--ssh-key``,
``--known-hosts`` and ``--host-key`` override those keys of a configured SFTP remote.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from kassa.clock import SYSTEM
from kassa.errors import ConfigError, StoreError
from kassa.home import kassa_home
from kassa.ops import backup as bk
from kassa.ops.backup.pieces import BadPiece
from kassa.ops.backup.remote_config import (
    SSH_KEY_DEFAULT,
    RemoteConfig,
    configured,
    load_config,
)
from kassa.ops.backup.remote_sync import Outcome
from kassa.store import DbUrl, parse_db_url

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
RepoOpt = Annotated[
    Path | None, typer.Option("--to", help="backup directory (default $KASSA_HOME/backups)")
]
RemoteOpt = Annotated[
    str | None,
    typer.Option(
        "--remote",
        help="a directory (mounted share) or sftp://USER@HOST[:PORT]/PATH"
        " (default: [remote] in backup.toml)",
    ),
]
SshKeyOpt = Annotated[
    Path | None,
    typer.Option("--ssh-key", help="private key for sftp:// (default $KASSA_HOME/backup_ssh_key)"),
]
KnownHostsOpt = Annotated[
    Path | None,
    typer.Option("--known-hosts", help="known_hosts for sftp:// (default ~/.ssh/known_hosts)"),
]
HostKeyOpt = Annotated[
    str | None,
    typer.Option("--host-key", help="trust this server key: SHA256:... as ssh-keygen -lf shows"),
]
HostDbOpt = Annotated[
    str | None,
    typer.Option(
        "--host-db",
        help="host database to reconcile a restored journal with"
        " (default: [restore] host_db in backup.toml, else the home's host.db)",
    ),
]


def context(home: Path | None, to: Path | None) -> tuple[Path, bk.Repository, bk.Secret]:
    base = kassa_home(home)
    return base, bk.Repository(to or base / "backups"), bk.Secret.from_env(base)


def load_policy(home: Path) -> bk.Policy:
    """The policy in ``home/backup.toml``, or the defaults when there is none."""
    return bk.parse_policy(load_config(home), str(home / "backup.toml"))


def remote_config(
    home: Path,
    remote: str | None,
    ssh_key: Path | None,
    known_hosts: Path | None,
    host_key: str | None,
) -> RemoteConfig | None:
    """The remote of this command: --remote, else the configured one; None for none.
    Checked before anything is done."""
    if remote is not None:
        return RemoteConfig(remote_target(home, remote, ssh_key, known_hosts, host_key))
    config, _ = configured(home)
    if config is None:
        if ssh_key or known_hosts or host_key:
            raise ConfigError(
                "--ssh-key, --known-hosts and --host-key go with --remote sftp://… "
                f"or a [remote] in {home / 'backup.toml'}"
            )
        return None
    if ssh_key or known_hosts or host_key:
        return config.with_sftp(ssh_key, known_hosts, host_key)
    return config


def remote_target(
    home: Path,
    remote: str,
    ssh_key: Path | None,
    known_hosts: Path | None,
    host_key: str | None,
) -> bk.RemoteTarget:
    """The remote named by --remote and its options."""
    if remote.startswith("sftp://"):
        return bk.parse_sftp_url(
            remote,
            key_file=ssh_key or home / SSH_KEY_DEFAULT,
            known_hosts=known_hosts or Path.home() / ".ssh" / "known_hosts",
            host_key=host_key,
        )
    if "://" in remote:
        raise ConfigError(
            f"--remote {remote}: give a directory or sftp://USER@HOST[:PORT]/PATH"
            " (S3 targets are not supported)"
        )
    return Path(remote)


def failure_line(detail: str, when: str = "when the remote is back") -> str:
    """What a failed remote copy says: what failed, that the local backups stand, and how
    to send them once the remote is back."""
    return (
        f"remote copy failed: {detail}; the local backups are fine; {when}"
        " run `kassa backup retry-remote`"
    )


def remote_failed(
    config: RemoteConfig | None, detail: str, automatic: bool = False, when: str | None = None
) -> None:
    """Report a failed remote step: a StoreError (exit non-zero) unless the remote is
    configured with ``on_failure = "warn"`` or the backup is an automatic one."""
    line = failure_line(detail, *([when] if when else []))
    if automatic or (config is not None and config.on_failure == "warn"):
        typer.echo(f"warning: {line}", err=True)
        return
    raise StoreError(line)


def report(outcome: Outcome, config: RemoteConfig, automatic: bool = False) -> None:
    """Print each copy; a failure as `remote_failed` says."""
    for copy in outcome.copies:  # automatic: stderr, the command's own output is stdout
        typer.echo(f"  remote {copy.path}: {'OK' if copy.ok else 'FAILED'} ({copy.detail})",
                   err=automatic)  # fmt: skip
    if not outcome.ok:
        remote_failed(config, outcome.detail, automatic)


def size_text(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size / 1024:.1f} {unit}"
        size //= 1024
    return f"{size} B"


def local_time(at_ms: int, offset_minutes: int) -> str:
    moment = datetime.fromtimestamp(at_ms / 1000, UTC) + timedelta(minutes=offset_minutes)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def host_db(home: Path, option: str | None, default_db: str) -> DbUrl | None:
    """The host database a restored journal is reconciled with: `--host-db`, else
    ``[restore] host_db`` in backup.toml, else the home's own host database if it has
    one (host and terminal on one machine); None when none is reachable from here."""
    if option is not None:
        return parse_db_url(option)
    section = load_config(home).get("restore", {})
    if not isinstance(section, dict) or set(section) - {"host_db"}:
        raise ConfigError(f"{home / 'backup.toml'}: [restore] takes one key, host_db")
    configured = section.get("host_db")
    if configured is not None:
        if not isinstance(configured, str):
            raise ConfigError(f"{home / 'backup.toml'}: restore.host_db must be a database URL")
        return parse_db_url(configured)
    url = parse_db_url(default_db)
    return url if url.path is not None and url.path.is_file() else None


def verify_remote(repo: bk.Repository, secret: bk.Secret, target: bk.RemoteTarget, at: str,
                  pg_dsn: str | None, offset: int) -> None:  # fmt: skip
    """`kassa backup verify --remote`: fetch the remote copy, verify it, print, exit."""
    try:
        with bk.fetched(repo, target, at, offset) as (local, manifest):
            report = bk.verify_backup(local, secret, manifest.id, now_ms=SYSTEM.now_ms(),
                                      pg_dsn=pg_dsn)  # fmt: skip
    except BadPiece as exc:
        typer.echo(f"remote backup {exc.backup_id}: FAILED: {exc}", err=True)
        raise typer.Exit(1) from None
    for check in report.checks:
        typer.echo(f"  {'ok  ' if check.ok else 'BAD '} {check.name}: {check.detail}")
    if not report.ok:
        typer.echo(f"remote backup {report.backup_id}: FAILED: {report.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"remote backup {report.backup_id}: OK")
