"""Remote copies of backups (shell): push, list, fetch back, prune; a directory or SFTP.

    with open_remote(target) as remote:            # target: a Path or an SftpSpec
        copies = push(repo, chain(repo, manifest), remote)
        found = remote_manifests(remote)
        fetched = fetch(remote, found[-1].id, Repository(scratch))

The remote holds the same layout as a local repository (``<id>/manifest.json`` and one
``<piece>.kbk`` per piece). A backup is uploaded into ``<id>.partial/``, manifest last,
then the directory is renamed to its id: a cut upload stays a ``.partial`` that is never
listed (and is replaced by the next push of that backup). Every piece is read back and
checked against the manifest (SHA-256 and size of its ciphertext) before the manifest
is written and the directory published, and the published copy is read back again, so
a copy is only listed, and reported OK, once the remote really holds it.

Fetching back checks each piece's SHA-256 as it arrives and publishes the fetched backup
the same way; the MACs and the plaintext are then checked by `rebuild` (verify, restore).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from kassa.errors import ConfigError, InputError, StoreError
from kassa.ops.backup.manifest import Manifest, is_backup_id, parse_manifest
from kassa.ops.backup.pieces import BadPiece
from kassa.ops.backup.policy import BackupInfo, Policy, Retention, retention
from kassa.ops.backup.rebuild import scratch_dir
from kassa.ops.backup.restore import choose_from
from kassa.ops.backup.sftp import SftpSpec, connect_sftp
from kassa.ops.backup.store import MANIFEST, PARTIAL, RemoteCopy, Repository, fsync_dir

read_block_bytes = 1 << 20
RemoteTarget = Path | SftpSpec


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class RemoteFS(Protocol):
    """A remote directory; paths are relative to it, "/"-joined."""

    where: str

    def listdir(self, rel: str = "") -> list[str]: ...
    def kind(self, rel: str) -> str | None: ...
    def mkdir(self, rel: str) -> None: ...
    def write(self, rel: str, source: BinaryIO) -> None: ...
    def open(self, rel: str) -> contextlib.AbstractContextManager[Readable]: ...
    def rename(self, old: str, new: str) -> None: ...
    def remove(self, rel: str) -> None: ...
    def rmtree(self, rel: str) -> None: ...


class DirFS:
    """A local (mounted) directory as a `RemoteFS`, every write fsynced."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ConfigError(f"{root}: not a directory (mount the share first)")
        self.root, self.where = root, str(root)

    def listdir(self, rel: str = "") -> list[str]:
        return sorted(p.name for p in (self.root / rel).iterdir())

    def kind(self, rel: str) -> str | None:
        path = self.root / rel
        return "dir" if path.is_dir() else "file" if path.exists() else None

    def mkdir(self, rel: str) -> None:
        (self.root / rel).mkdir()

    def write(self, rel: str, source: BinaryIO) -> None:
        with open(self.root / rel, "wb") as out:
            while block := source.read(read_block_bytes):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
            if hasattr(os, "posix_fadvise"):  # drop our cached copy: read back from the share
                os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    def open(self, rel: str) -> contextlib.AbstractContextManager[Readable]:
        return open(self.root / rel, "rb")

    def rename(self, old: str, new: str) -> None:
        os.rename(self.root / old, self.root / new)
        fsync_dir((self.root / new).parent)

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()

    def rmtree(self, rel: str) -> None:
        path = self.root / rel
        if path.is_dir():
            for child in path.iterdir():
                self.rmtree(f"{rel}/{child.name}")
            path.rmdir()
        elif path.exists():
            path.unlink()


@contextlib.contextmanager
def open_remote(target: RemoteTarget) -> Iterator[RemoteFS]:
    """The remote `target` opened (an SFTP session is closed on the way out)."""
    if isinstance(target, SftpSpec):
        with connect_sftp(target) as fs:
            yield fs
    else:
        yield DirFS(target)


def push(repo: Repository, manifests: Sequence[Manifest], fs: RemoteFS) -> list[RemoteCopy]:
    """Upload each backup the remote lacks, then read every one back against its hashes.

    Pass the whole chain of an incremental: a remote copy without its parents is useless.
    """
    results = []
    for manifest in manifests:
        if fs.kind(f"{manifest.id}/{MANIFEST}") != "file":
            failed = _upload(repo, manifest, fs)
            if failed is not None:
                results.append(failed)
                continue
        results.append(check_remote(fs, manifest))
    return results


def _upload(repo: Repository, manifest: Manifest, fs: RemoteFS) -> RemoteCopy | None:
    """Upload into ``<id>.partial``, read the pieces back, and only then write the manifest
    and publish by a rename; a RemoteCopy saying what is wrong if the pieces do not match
    (the ``.partial`` stays, unlisted, for the next push to replace)."""
    work = f"{manifest.id}{PARTIAL}"
    fs.rmtree(work)  # a cut upload of this same backup: start it again
    fs.mkdir(work)
    for piece in manifest.pieces:
        with open(repo.piece_path(manifest, piece.name), "rb") as source:
            fs.write(f"{work}/{piece.file}", source)
    try:
        _check_pieces(fs, work, manifest)
    except StoreError as exc:
        return RemoteCopy(manifest.id, Path(f"{fs.where}/{work}"), False, str(exc))
    _write_bytes(fs, f"{work}/{MANIFEST}", manifest.to_bytes())
    fs.rename(work, manifest.id)  # the publication: all or nothing
    return None


def _check_pieces(fs: RemoteFS, folder: str, manifest: Manifest) -> None:
    for piece in manifest.pieces:
        digest, size = _hash(fs, f"{folder}/{piece.file}")
        if (digest, size) != (piece.cipher_sha256, piece.cipher_bytes):
            raise BadPiece(manifest.id, piece.name, "ciphertext does not match its SHA-256")


def _write_bytes(fs: RemoteFS, rel: str, data: bytes) -> None:
    fs.write(rel, io.BytesIO(data))


def check_remote(fs: RemoteFS, manifest: Manifest) -> RemoteCopy:
    """Read the remote copy of `manifest` back: the same manifest, every piece's hash."""
    where = Path(f"{fs.where}/{manifest.id}")
    try:
        stored = _read_all(fs, f"{manifest.id}/{MANIFEST}")
        if stored != manifest.to_bytes():
            return RemoteCopy(manifest.id, where, False, "manifest differs from the local one")
        _check_pieces(fs, manifest.id, manifest)
    except StoreError as exc:
        return RemoteCopy(manifest.id, where, False, str(exc))
    return RemoteCopy(manifest.id, where, True, "copied and read back")


def _read_all(fs: RemoteFS, rel: str) -> bytes:
    with fs.open(rel) as handle:
        return b"".join(iter(lambda: handle.read(read_block_bytes), b""))


def _hash(fs: RemoteFS, rel: str, out: BinaryIO | None = None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with fs.open(rel) as handle:
        while block := handle.read(read_block_bytes):
            digest.update(block)
            size += len(block)
            if out is not None:
                out.write(block)
    return digest.hexdigest(), size


def remote_manifests(fs: RemoteFS) -> tuple[list[Manifest], list[str]]:
    """The remote's complete backups, oldest first, and one line per unreadable manifest."""
    found, bad = [], []
    for name in fs.listdir():
        if is_backup_id(name) and fs.kind(f"{name}/{MANIFEST}") == "file":
            try:
                found.append(parse_manifest(_read_all(fs, f"{name}/{MANIFEST}"), name))
            except StoreError as exc:
                bad.append(f"{fs.where}/{exc}")
    return sorted(found, key=lambda m: (m.started_ms, m.id)), bad


def fetch(fs: RemoteFS, backup_id: str, dest: Repository) -> list[Manifest]:
    """Copy backup `backup_id` and its chain from the remote into `dest`; the chain, full
    first. `BadPiece` / `StoreError` at the first file that is missing or does not match;
    what was fetched so far stays in `dest` (a scratch place, by design)."""
    if not is_backup_id(backup_id) or fs.kind(f"{backup_id}/{MANIFEST}") != "file":
        raise InputError(f"no backup {backup_id!r} at {fs.where}")
    chain: list[Manifest] = []
    current: str | None = backup_id
    while current is not None:
        if any(m.id == current for m in chain):
            raise StoreError(f"backup {chain[-1].id} at {fs.where}: its chain loops: damaged")
        if fs.kind(f"{current}/{MANIFEST}") != "file":
            raise StoreError(f"backup {chain[-1].id} needs {current}, gone from {fs.where}")
        chain.append(_fetch_one(fs, current, dest))
        current = chain[-1].parent
    return chain[::-1]


def _fetch_one(fs: RemoteFS, backup_id: str, dest: Repository) -> Manifest:
    data = _read_all(fs, f"{backup_id}/{MANIFEST}")
    manifest = parse_manifest(data, f"{fs.where}/{backup_id}/{MANIFEST}")
    if manifest.id != backup_id:
        raise StoreError(f"{fs.where}/{backup_id}: its manifest names {manifest.id}: damaged")
    final = dest.root / backup_id
    if (final / MANIFEST).is_file():
        return manifest
    work = dest.root / f"{backup_id}{PARTIAL}"
    work.mkdir(parents=True)
    for piece in manifest.pieces:
        with open(work / piece.file, "wb") as out:
            digest, size = _hash(fs, f"{backup_id}/{piece.file}", out)
        if (digest, size) != (piece.cipher_sha256, piece.cipher_bytes):
            raise BadPiece(backup_id, piece.name, f"at {fs.where}: does not match its SHA-256")
    (work / MANIFEST).write_bytes(data)
    os.rename(work, final)
    return manifest


@contextlib.contextmanager
def fetched(
    repo: Repository, target: RemoteTarget, at: str, utc_offset_minutes: int
) -> Iterator[tuple[Repository, Manifest]]:
    """The remote backup chosen by `at` (an id, ``latest`` or a time) and its chain,
    fetched into a scratch repository beside `repo` (removed on the way out); `repo` is
    locked meanwhile, so no other run cleans the scratch place away."""
    with repo.locked(), scratch_dir(repo) as scratch, open_remote(target) as fs:
        found, _ = remote_manifests(fs)
        manifest = choose_from(found, at, utc_offset_minutes, fs.where)
        local = Repository(Path(scratch) / "remote")
        local.root.mkdir()
        fetch(fs, manifest.id, local)
        yield local, manifest


def prune(fs: RemoteFS, policy: Policy, apply: bool) -> Retention:
    """Grandfather-father-son retention on the remote, like on a local repository; with
    `apply`, delete what it drops (each backup's manifest first, so a half-deleted one is
    no longer listed)."""
    found, _ = remote_manifests(fs)
    plan = retention([BackupInfo(m.id, m.kind, m.parent, m.started_ms) for m in found], policy)
    if apply:
        for backup_id in plan.delete:
            fs.remove(f"{backup_id}/{MANIFEST}")
            fs.rmtree(backup_id)
    return plan
