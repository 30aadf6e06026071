"""The options of `kassa backup` that name a remote copy, and the host database to
reconcile a restored journal with.

``--remote`` is a directory (a mounted share) or ``sftp://USER@HOST[:PORT]/PATH``. For
SFTP: ``--ssh-key`` (default ``$KASSA_HOME/backup_ssh_key``), ``--known-hosts`` (default
``~/.ssh/known_hosts``) or ``--host-key SHA256:...`` to pin the server's key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from kassa.clock import SYSTEM
from kassa.errors import ConfigError, StoreError
from kassa.ops import backup as bk
from kassa.ops.backup.pieces import BadPiece
from kassa.store import DbUrl, parse_db_url

RemoteOpt = Annotated[
    str | None,
    typer.Option("--remote", help="a directory (mounted share) or sftp://USER@HOST[:PORT]/PATH"),
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
SSH_KEY_DEFAULT = "backup_ssh_key"


def remote_target(
    home: Path,
    remote: str | None,
    ssh_key: Path | None,
    known_hosts: Path | None,
    host_key: str | None,
) -> bk.RemoteTarget | None:
    """The remote named by the options, checked before anything is done; None for none."""
    if remote is None:
        if ssh_key or known_hosts or host_key:
            raise ConfigError("--ssh-key, --known-hosts and --host-key go with --remote sftp://…")
        return None
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


def load_config(home: Path) -> dict[str, Any]:
    """``home/backup.toml`` parsed, or an empty document when there is none."""
    path = home / "backup.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


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


def copy_out(repo: bk.Repository, manifest: bk.Manifest, target: bk.RemoteTarget) -> None:
    """Copy `manifest` and its chain to `target`, read back; print each; StoreError if bad."""
    where = str(target) if isinstance(target, Path) else target.where
    try:
        if isinstance(target, Path):
            copies = bk.copy_to_remote(repo, bk.chain(repo, manifest), target)
        else:
            with bk.open_remote(target) as fs:
                copies = bk.push(repo, bk.chain(repo, manifest), fs)
    except StoreError as exc:
        raise StoreError(f"{exc} (the local backup {manifest.id} is fine)") from None
    for copy in copies:
        typer.echo(f"  remote {copy.path}: {'OK' if copy.ok else 'FAILED'} ({copy.detail})")
    if not all(c.ok for c in copies):
        raise StoreError(f"remote copy to {where} did not verify; the local backup is fine")


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
