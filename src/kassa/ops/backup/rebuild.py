"""Rebuilding a backup's data in a scratch directory, and `verify` (shell).

`rebuild` checks before it builds: the MAC of every manifest in the chain (wrong key?),
then the ciphertext SHA-256 of every piece (missing or damaged file?), then decrypts each
piece into a scratch file, checking every frame and the plaintext SHA-256. Only then are
the SQLite diffs applied, and the rebuilt file must have the SHA-256 recorded when the
backup was taken. Whatever fails raises before anything outside the scratch directory
has been touched.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kassa.errors import ConfigError, KassaError, StoreError
from kassa.ops.backup import pg_source, sqlite_source
from kassa.ops.backup.keys import Secret, unlock
from kassa.ops.backup.manifest import Manifest, Source
from kassa.ops.backup.pieces import read_piece
from kassa.ops.backup.store import SCRATCH, Repository, VerifyMark, chain


@dataclass(frozen=True, slots=True)
class Check:
    """One check run on restored or test-restored data."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """`ok`, the checks run, and the first problem (None when OK)."""

    backup_id: str
    ok: bool
    checks: tuple[Check, ...]
    problem: str | None


def scratch_dir(repo: Repository) -> tempfile.TemporaryDirectory[str]:
    """A private scratch directory beside the backups (same disk, never /tmp's RAM)."""
    repo.root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=repo.root, prefix=SCRATCH)


def extract(repo: Repository, secret: Secret, manifest: Manifest, piece: str, dest: Path) -> Path:
    """Decrypt one piece of `manifest` into the file `dest`, checked throughout."""
    keys = unlock(secret, manifest)
    entry = manifest.piece(piece)
    with repo.open_piece(manifest, piece) as source, open(dest, "wb") as out:
        for block in read_piece(source, keys, manifest.id, entry):
            out.write(block)
    return dest


def rebuild(
    repo: Repository,
    secret: Secret,
    manifest: Manifest,
    scratch: Path,
    only: Callable[[Source], bool] = lambda s: True,
) -> dict[str, Path]:
    """Every source of `manifest` (those `only` accepts) rebuilt under `scratch`, by name."""
    backups = chain(repo, manifest)
    for backup in backups:
        unlock(secret, backup)
        repo.check_stored(backup)
    built = {}
    for source in manifest.sources:
        if only(source):
            built[source.name] = _rebuild_source(repo, secret, backups, source, scratch)
    return built


def _rebuild_source(
    repo: Repository, secret: Secret, backups: list[Manifest], source: Source, scratch: Path
) -> Path:
    if source.dialect == "postgresql":
        return extract(
            repo, secret, backups[-1], f"{source.name}.data", scratch / f"{source.name}.dump"
        )
    if source.dialect == "files":
        return extract(
            repo, secret, backups[-1], f"{source.name}.tar", scratch / f"{source.name}.tar"
        )
    steps: list[Manifest] = []
    for backup in reversed(backups):  # newest first, down to the full copy of this source
        entry = backup.source(source.name)
        if entry is None or entry.location != source.location:
            raise StoreError(f"backup {backup.id} lacks {source.name} that a later diff needs")
        steps.append(backup)
        if entry.mode == "full":
            break
    image = scratch / f"{source.name}.db"
    extract(repo, secret, steps[-1], f"{source.name}.data", image)
    for backup in reversed(steps[:-1]):
        diff = extract(repo, secret, backup, f"{source.name}.data", scratch / f"{source.name}.diff")
        with open(diff, "rb") as handle:
            sqlite_source.apply_diff(image, handle)
        diff.unlink()
    if sqlite_source.file_sha256(image) != source.image_sha256:
        raise StoreError(
            f"{source.name} rebuilt from backup {backups[-1].id} does not match "
            "the database that was backed up"
        )
    return image


def check_rebuilt(source: Source, path: Path, pg_dsn: str | None) -> Check:
    """Open and check rebuilt data the way it will be used."""
    if source.dialect == "sqlite":
        problems = sqlite_source.integrity_problems(path)
        return Check(f"{source.name}: integrity_check", not problems, "; ".join(problems) or "ok")
    if source.dialect == "postgresql":
        dsn = pg_dsn or source.connect
        if dsn is None:
            return Check(f"{source.name}: test restore", False, "no server: give --db")
        problems = pg_source.scratch_restore(path, dsn)
        return Check(
            f"{source.name}: pg_restore into a scratch database",
            not problems,
            "; ".join(problems) or "ok",
        )
    try:
        with tarfile.open(path) as tar:
            count = len(tar.getmembers())
    except (tarfile.TarError, OSError) as exc:
        return Check(f"{source.name}: archive", False, str(exc))
    return Check(f"{source.name}: archive", True, f"{count} entries")


def verify_backup(
    repo: Repository, secret: Secret, backup_id: str, *, now_ms: int, pg_dsn: str | None = None
) -> VerifyReport:
    """Decrypt and check every piece of the backup and its chain, test-restore each source.

    The outcome is recorded beside the backup (shown by `kassa backup list`). A missing
    secret (`ConfigError`) or a busy repository is raised, not recorded: it says nothing
    about the backup.
    """
    manifest = repo.get(backup_id)
    checks: list[Check] = []
    problem: str | None = None
    with repo.locked():
        try:
            with scratch_dir(repo) as scratch:
                built = rebuild(repo, secret, manifest, Path(scratch))
                count = len(chain(repo, manifest))
                checks.append(Check("pieces", True, f"{count} backup(s) decrypted and hashed"))
                for source in manifest.sources:
                    checks.append(check_rebuilt(source, built[source.name], pg_dsn))
        except ConfigError:
            raise
        except KassaError as exc:
            problem = str(exc)
    bad = next((c for c in checks if not c.ok), None)
    if problem is None and bad is not None:
        problem = f"{bad.name}: {bad.detail}"
    repo.mark(manifest.id, VerifyMark(now_ms, problem is None, problem or "ok"))
    return VerifyReport(manifest.id, problem is None, tuple(checks), problem)
