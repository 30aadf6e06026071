"""Keeping the configured remote in step with the local repository (shell).

    outcome = attempt(repo, config, policy, newest, now_ms)   # never raises on a failed copy
    outcome = attempt_within(repo, config, policy, newest, now_ms, wait_s=60)  # automatic

What is pushed (`to_push`): every local backup the remote lacks that the remote's own
grandfather-father-son retention would keep (so a copy that failed last night goes with
the next run or `kassa backup retry-remote`, and what the remote already pruned is not
sent again), each with the backups it builds on; and the chain of the backup just taken,
read back even where it is already there. Every copy is read back (`remote.push`).

Each attempt is recorded in ``<repository>/remote-status.json`` (when, where, OK or the
one-line reason); `kassa doctor` reads it without touching the network.

`attempt_within` is for the automatic backups before settlement and before a restore:
the copy runs in a daemon thread and the caller waits at most `wait_s`; a copy still
running then (a hung share, a stalled server) is reported as not done and left to finish
or die with the process (a cut copy stays an unlisted ``.partial``). It records its true
outcome if it does finish.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kassa.errors import KassaError
from kassa.ops.backup.manifest import Manifest
from kassa.ops.backup.policy import BackupInfo, Policy, retention
from kassa.ops.backup.remote import open_remote, push, remote_manifests
from kassa.ops.backup.remote_config import RemoteConfig
from kassa.ops.backup.store import RemoteCopy, Repository, chain, write_atomic

STATUS = "remote-status.json"
log = logging.getLogger("kassa.backup")


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """The last copy to `where`: when it ended, OK or why not, the newest backup then."""

    at_ms: int
    where: str
    ok: bool
    detail: str
    newest: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: the copies made and read back, or the one-line reason it failed."""

    ok: bool
    copies: tuple[RemoteCopy, ...]
    detail: str


def _info(m: Manifest) -> BackupInfo:
    return BackupInfo(m.id, m.kind, m.parent, m.started_ms)


def to_push(
    repo: Repository, found: Sequence[Manifest], policy: Policy, newest: Manifest | None
) -> list[Manifest]:
    """The backups to push, oldest first (see the module docstring)."""
    on_remote = {m.id for m in found}
    missing = [m for m in repo.manifests() if m.id not in on_remote]
    keep = retention([_info(m) for m in (*found, *missing)], policy).keep
    picked: dict[str, Manifest] = {}
    for manifest in missing:
        if manifest.id in keep:
            for link in chain(repo, manifest):
                if link.id not in on_remote:
                    picked.setdefault(link.id, link)
    if newest is not None:
        for link in chain(repo, newest):
            picked.setdefault(link.id, link)
    return sorted(picked.values(), key=lambda m: (m.started_ms, m.id))


def attempt(
    repo: Repository,
    config: RemoteConfig,
    policy: Policy,
    newest: Manifest | None,
    now_ms: Callable[[], int],
) -> Outcome:
    """Push what the remote lacks (and `newest`'s chain) and record the outcome; a failure
    is returned, not raised: the local backups stand whatever the remote does."""
    outcome = _copy(repo, config, policy, newest)
    _record(repo, config, outcome, now_ms())
    return outcome


def _copy(
    repo: Repository, config: RemoteConfig, policy: Policy, newest: Manifest | None
) -> Outcome:
    try:
        with open_remote(config.target) as fs:
            found, _ = remote_manifests(fs)
            copies = tuple(push(repo, to_push(repo, found, policy, newest), fs))
    except (KassaError, OSError) as exc:
        outcome = Outcome(False, (), _line(config, exc))
    else:
        bad = [c for c in copies if not c.ok]
        detail = (
            f"{config.where}: {len(copies)} backup(s) copied or checked, read back OK"
            if not bad
            else f"{config.where}: {bad[0].backup_id} did not verify: {bad[0].detail}"
        )
        outcome = Outcome(not bad, copies, detail)
    return outcome


def _line(config: RemoteConfig, exc: BaseException) -> str:
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    text = " ".join(text.split()) or type(exc).__name__
    return text if config.where in text else f"{config.where}: {text}"


def _record(repo: Repository, config: RemoteConfig, outcome: Outcome, at_ms: int) -> None:
    if not outcome.ok:
        log.warning("backup remote copy failed: %s", outcome.detail)
    try:
        manifests = repo.manifests()
        status = RemoteStatus(at_ms, config.where, outcome.ok, outcome.detail,
                              manifests[-1].id if manifests else None)  # fmt: skip
        write_atomic(repo.root / STATUS, json.dumps(_doc(status)).encode())
    except OSError as exc:  # the record is for the doctor; never fail the backup for it
        log.warning("cannot record the remote copy's outcome in %s: %s", repo.root, exc)


def _doc(status: RemoteStatus) -> dict[str, object]:
    return {"at_ms": status.at_ms, "where": status.where, "ok": status.ok,
            "detail": status.detail, "newest": status.newest}  # fmt: skip


def read_status(root: Path) -> RemoteStatus | None:
    """The last recorded attempt in the repository at `root`; None if none (or unreadable)."""
    try:
        doc = json.loads((root / STATUS).read_bytes())
        newest = doc.get("newest")
        return RemoteStatus(int(doc["at_ms"]), str(doc["where"]), bool(doc["ok"]),
                            str(doc["detail"]), None if newest is None else str(newest))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def attempt_within(
    repo: Repository,
    config: RemoteConfig,
    policy: Policy,
    newest: Manifest | None,
    now_ms: Callable[[], int],
    wait_s: float,
) -> Outcome:
    """`attempt` in a daemon thread, waited for at most `wait_s` (see the module doc)."""
    done: list[Outcome] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            outcome = _copy(repo, config, policy, newest)
        except Exception as exc:  # a bug here must not reach settlement either
            log.exception("backup remote copy crashed")
            outcome = Outcome(False, (), _line(config, exc))
        with lock:  # after a "not done" record, so the true outcome is the one kept
            _record(repo, config, outcome, now_ms())
            done.append(outcome)

    thread = threading.Thread(target=work, name="kassa-backup-remote", daemon=True)
    thread.start()
    thread.join(wait_s)
    with lock:
        if done:
            return done[0]
        late = Outcome(False, (), f"{config.where}: not done after {wait_s:.0f} s (share or"
                       " server hanging?); left running in the background")  # fmt: skip
        _record(repo, config, late, now_ms())
        return late
