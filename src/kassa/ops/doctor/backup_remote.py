"""The doctor's look at the remote copy of the backups, from local records only.

No network: the outcome of the last copy is read from the repository's
``remote-status.json`` (written by every backup that copies, see
`kassa.ops.backup.remote_sync`) and compared with the newest local backup. Nothing is
said when no ``[remote]`` is configured.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from kassa.errors import ConfigError
from kassa.ops.backup.manifest import Manifest
from kassa.ops.backup.remote_config import parse_remote
from kassa.ops.backup.remote_sync import RemoteStatus, read_status
from kassa.ops.backup.store import Repository
from kassa.ops.doctor.checks import Check

NAME = "backup remote"
GUIDE = "backup_remote_failed"
_RETRY = "run `kassa backup retry-remote` once it is reachable"


def _ago(now_ms: int, then_ms: int) -> str:
    minutes = max(now_ms - then_ms, 0) // 60_000
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def conclude(
    where: str, status: RemoteStatus | None, newest: Manifest | None, now_ms: int
) -> Check:
    """The check for a remote at `where` (pure): the last copy's outcome against the
    newest local backup."""
    if newest is None:
        return Check(NAME, "info", f"{where} configured; no local backup yet")
    if status is None or status.where != where:
        return Check(NAME, "warning", f"no copy to {where} recorded yet; {_RETRY}", GUIDE)
    if not status.ok:
        return Check(
            NAME,
            "warning",
            f"the copy {_ago(now_ms, status.at_ms)} ago failed: {status.detail}; the local"
            f" backups are fine; {_RETRY}",
            GUIDE,
        )
    if newest.id != status.newest:
        return Check(
            NAME,
            "warning",
            f"backup {newest.id} was taken after the last copy to {where}"
            f" ({_ago(now_ms, status.at_ms)} ago) and is not known to be there; {_RETRY}",
            GUIDE,
        )
    return Check(NAME, "ok", f"{where}: copied {_ago(now_ms, status.at_ms)} ago, up to {newest.id}")


def remote_checks(home: Path, now_ms: int) -> list[Check]:
    """The check of the remote configured in ``home/backup.toml``; none when there is none."""
    path = home / "backup.toml"
    if not path.is_file():
        return []
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        config = parse_remote(doc, str(path), home)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ConfigError) as exc:
        text = " ".join(str(exc).split())
        return [Check(NAME, "warning", f"{text}: no remote copy is made until it is fixed", GUIDE)]
    if config is None:
        return []
    repo = Repository(home / "backups")
    manifests = repo.manifests()
    newest = manifests[-1] if manifests else None
    return [conclude(config.where, read_status(repo.root), newest, now_ms)]
