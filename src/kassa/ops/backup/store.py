"""The backup repository on disk (shell), and the verified copy to a remote directory.

Layout: ``<root>/<backup id>/manifest.json`` plus one ``<piece>.kbk`` file per piece, and
``verified.json`` once `kassa backup verify` has looked at it. A backup is written in
``<root>/<id>.partial/``; each file is fsynced, the manifest is written last (temp file,
fsync, rename), then the directory is renamed to its id and the root fsynced. So a
crash leaves either a complete backup or a ``.partial`` directory that is ignored (and
removed by the next run).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kassa.errors import ConfigError, InputError, StoreError
from kassa.ops.backup.manifest import Manifest, is_backup_id, parse_manifest
from kassa.ops.backup.pieces import BadPiece, cipher_sha256

MANIFEST = "manifest.json"
VERIFIED = "verified.json"
PARTIAL = ".partial"
SCRATCH = ".scratch-"
LOCK = ".lock"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` so that it holds either its old content or all of `data`."""
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)


@dataclass(frozen=True, slots=True)
class VerifyMark:
    """The last `verify` of a backup: when, and OK or what was wrong."""

    at_ms: int
    ok: bool
    detail: str


class Repository:
    """Backups under `root` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock_depth = 0
        self._lock_fd: int | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the repository's lock (re-entrant for this object); one writer at a time.

        `StoreError` at once if another process holds it: two runs must not clean up
        each other's half-written backups.
        """
        if self._lock_depth == 0:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise ConfigError(f"cannot use {self.root}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise StoreError(f"another backup or restore is running in {self.root}") from None
            self._lock_fd = fd
            for stale in [*self.root.glob(f"*{PARTIAL}"), *self.root.glob(f"{SCRATCH}*")]:
                shutil.rmtree(stale, ignore_errors=True)  # left by a crashed run: we hold the lock
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the flock
                self._lock_fd = None

    def manifests(self) -> list[Manifest]:
        """Every complete backup with a readable manifest, oldest first (see `damaged`)."""
        return self._scan()[0]

    def damaged(self) -> list[str]:
        """One line per backup directory whose manifest cannot be read."""
        return self._scan()[1]

    def _scan(self) -> tuple[list[Manifest], list[str]]:
        found, bad = [], []
        if self.root.is_dir():
            for entry in sorted(self.root.iterdir()):
                if is_backup_id(entry.name) and (entry / MANIFEST).is_file():
                    try:
                        found.append(parse_manifest((entry / MANIFEST).read_bytes(), entry.name))
                    except StoreError as exc:  # never fatal to listing the others
                        bad.append(str(exc))
        return sorted(found, key=lambda m: (m.started_ms, m.id)), bad

    def get(self, backup_id: str) -> Manifest:
        path = self.root / backup_id / MANIFEST
        if not is_backup_id(backup_id) or not path.is_file():
            raise InputError(f"no backup {backup_id!r} in {self.root}; see `kassa backup list`")
        return parse_manifest(path.read_bytes(), str(path))

    def piece_path(self, manifest: Manifest, piece: str) -> Path:
        return self.root / manifest.id / manifest.piece(piece).file

    @contextlib.contextmanager
    def open_piece(self, manifest: Manifest, piece: str) -> Iterator[BinaryIO]:
        """The stored piece file; `BadPiece` if it is missing."""
        try:
            handle = open(self.piece_path(manifest, piece), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise BadPiece(manifest.id, piece, "is missing") from None
        with handle:
            yield handle

    def check_stored(self, manifest: Manifest) -> None:
        """Every piece is present with its ciphertext SHA-256; `BadPiece` at the first not."""
        for piece in manifest.pieces:
            with self.open_piece(manifest, piece.name) as handle:
                digest, size = cipher_sha256(handle)
            if (digest, size) != (piece.cipher_sha256, piece.cipher_bytes):
                raise BadPiece(manifest.id, piece.name, "ciphertext does not match its SHA-256")

    def begin(self, backup_id: str) -> Path:
        """A fresh directory to write backup `backup_id` into (hold `locked()`)."""
        assert self._lock_depth > 0, "begin() outside locked()"
        try:
            work = self.root / f"{backup_id}{PARTIAL}"
            work.mkdir()
        except OSError as exc:
            raise ConfigError(f"cannot write backups to {self.root}: {exc.strerror}") from None
        return work

    def commit(self, work: Path, manifest: Manifest) -> Path:
        """Write the manifest last and publish the backup under its id."""
        write_atomic(work / MANIFEST, manifest.to_bytes())
        final = self.root / manifest.id
        os.rename(work, final)
        fsync_dir(self.root)
        return final

    def delete(self, backup_id: str) -> None:
        """Remove a backup: its manifest first, so a half-deleted one is no longer listed."""
        path = self.root / backup_id
        if not is_backup_id(backup_id) or not path.is_dir():
            raise InputError(f"no backup {backup_id!r} in {self.root}")
        with self.locked():
            (path / MANIFEST).unlink(missing_ok=True)
            fsync_dir(path)
            shutil.rmtree(path)
            fsync_dir(self.root)

    def mark(self, backup_id: str, mark: VerifyMark) -> None:
        doc = {"at_ms": mark.at_ms, "ok": mark.ok, "detail": mark.detail}
        write_atomic(self.root / backup_id / VERIFIED, json.dumps(doc).encode())

    def verified(self, backup_id: str) -> VerifyMark | None:
        try:
            doc = json.loads((self.root / backup_id / VERIFIED).read_bytes())
            return VerifyMark(int(doc["at_ms"]), bool(doc["ok"]), str(doc["detail"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def chain(repo: Repository, manifest: Manifest) -> list[Manifest]:
    """`manifest` and its ancestors, the full first; `StoreError` if one is missing."""
    out = [manifest]
    while (parent := out[-1].parent) is not None:
        if not (repo.root / parent / MANIFEST).is_file():
            raise StoreError(f"backup {out[-1].id} needs {parent}, which is gone: chain broken")
        if any(m.id == parent for m in out):
            raise StoreError(f"backup {out[-1].id}: its chain loops back to {parent}: damaged")
        out.append(repo.get(parent))
    return out[::-1]


@dataclass(frozen=True, slots=True)
class RemoteCopy:
    """A backup copied to the remote directory and read back: `ok`, else what differs."""

    backup_id: str
    path: Path
    ok: bool
    detail: str


def copy_to_remote(
    repo: Repository, manifests: Sequence[Manifest], remote: Path
) -> list[RemoteCopy]:
    """Copy each backup missing from `remote`, then read every file back against its hash.

    Pass the whole chain of an incremental: a remote copy without its parents is useless.
    """
    if not remote.is_dir():
        raise ConfigError(f"--remote {remote}: not a directory (mount the share first)")
    results = []
    for manifest in manifests:
        target = remote / manifest.id
        if not (target / MANIFEST).is_file():
            work = remote / f"{manifest.id}{PARTIAL}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            for piece in manifest.pieces:
                _copy_durably(repo.piece_path(manifest, piece.name), work / piece.file)
            write_atomic(work / MANIFEST, manifest.to_bytes())
            os.rename(work, target)
            fsync_dir(remote)
        results.append(_check_remote(Repository(remote), manifest, target))
    return results


def _copy_durably(source: Path, target: Path) -> None:
    with open(source, "rb") as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
        if hasattr(os, "posix_fadvise"):  # drop our cached copy: read back from the share
            os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _check_remote(remote: Repository, manifest: Manifest, target: Path) -> RemoteCopy:
    try:
        stored = remote.get(manifest.id)
        if stored.to_bytes() != manifest.to_bytes():
            return RemoteCopy(manifest.id, target, False, "manifest differs from the local one")
        remote.check_stored(stored)
    except (BadPiece, StoreError, InputError) as exc:
        return RemoteCopy(manifest.id, target, False, str(exc))
    return RemoteCopy(manifest.id, target, True, "copied and read back")
