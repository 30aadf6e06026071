"""Taking a backup (shell): snapshot each source, seal its pieces, write the manifest last.

    result = run_backup(repo, secret, targets, kind="incremental", logs_dir=home / "logs")

An incremental is built on the newest backup in the repository (its parent). Each SQLite
source whose parent copy is at the same location with the same page size is stored as
a page diff; any other source (a PostgreSQL database, a new source, a changed page size,
the logs) is stored in full. A backup is "incremental" when at least one source is a
diff; otherwise it is recorded as a full, and the notes say why.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kassa import __version__
from kassa.errors import ConfigError, InputError
from kassa.ops.backup import pg_source, sqlite_source
from kassa.ops.backup.crypto import BackupKeys, manifest_mac
from kassa.ops.backup.keys import Secret, unlock
from kassa.ops.backup.manifest import Kind, Manifest, Piece, Source, new_backup_id
from kassa.ops.backup.pieces import PieceWriter, read_piece
from kassa.ops.backup.store import Repository
from kassa.ops.backup.targets import Target, location

Progress = Callable[[str, int, int], None]  # (what, bytes done, bytes total)


@dataclass(frozen=True, slots=True)
class RunResult:
    manifest: Manifest
    path: Path


def run_backup(
    repo: Repository,
    secret: Secret,
    targets: Sequence[Target],
    *,
    kind: Kind,
    reason: str,
    logs_dir: Path | None,
    now_ms: Callable[[], int],
    progress: Progress | None = None,
) -> RunResult:
    """Take one backup of `targets` (and of the files in `logs_dir`) into `repo`."""
    if not targets:
        raise InputError(
            "nothing to back up: no host database or terminal journal found; "
            "give --db URL or --journal PATH"
        )
    with repo.locked():
        return _run(repo, secret, targets, kind, reason, logs_dir, now_ms, progress)


def _run(
    repo: Repository,
    secret: Secret,
    targets: Sequence[Target],
    kind: Kind,
    reason: str,
    logs_dir: Path | None,
    now_ms: Callable[[], int],
    progress: Progress | None,
) -> RunResult:
    started = now_ms()
    parent = _parent(repo, secret, targets) if kind == "incremental" else None
    notes = []
    if kind == "incremental" and parent is None:
        notes.append(
            "nothing to diff against (no earlier SQLite copy at these locations; "
            "PostgreSQL is always a full pg_dump): taken full"
        )
    backup_id = new_backup_id(started, os.urandom)
    kdf = secret.new_kdf().to_json()
    keys = secret.keys(kdf, backup_id)
    work = repo.begin(backup_id)
    scratch = work / "_scratch"
    scratch.mkdir()
    job = _Job(repo, secret, keys, backup_id, work, scratch, parent, progress)
    try:
        sources = [job.source(t, notes) for t in targets]
        if logs_dir is not None and logs_dir.is_dir() and any(logs_dir.iterdir()):
            sources.append(job.logs(logs_dir))
        shutil.rmtree(scratch)
        diffs = any(s.mode == "diff" for s in sources)
        if parent is not None and not diffs:
            notes.append("no source could be stored as a diff: recorded as a full backup")
        manifest = Manifest(
            id=backup_id,
            kind="incremental" if diffs else "full",
            parent=parent.id if parent is not None and diffs else None,
            reason=reason,
            started_ms=started,
            finished_ms=now_ms(),
            kassa_version=__version__,
            kdf=kdf,
            sources=tuple(sources),
            pieces=tuple(job.pieces),
            notes=tuple(notes),
        )
        manifest = manifest.with_mac(manifest_mac(keys, manifest.body()))
        path = repo.commit(work, manifest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    repo.check_stored(manifest)  # read back what was written before calling it done
    return RunResult(manifest, path)


def _parent(repo: Repository, secret: Secret, targets: Sequence[Target]) -> Manifest | None:
    existing = repo.manifests()
    if not existing:
        return None
    newest = existing[-1]
    if not any(
        (previous := newest.source(t.name)) is not None
        and previous.dialect == "sqlite"
        and previous.location == location(t.url)
        for t in targets
    ):
        return None  # nothing could be a diff of it
    unlock(secret, newest)  # building on a backup we cannot authenticate would be a guess
    return newest


class _Job:
    """The pieces of one backup as they are written."""

    def __init__(
        self,
        repo: Repository,
        secret: Secret,
        keys: BackupKeys,
        backup_id: str,
        work: Path,
        scratch: Path,
        parent: Manifest | None,
        progress: Progress | None,
    ) -> None:
        self.repo, self.secret, self.keys, self.id = repo, secret, keys, backup_id
        self.work, self.scratch, self.parent, self.progress = work, scratch, parent, progress
        self.pieces: list[Piece] = []

    def seal(self, name: str, path: Path | None = None, data: bytes = b"") -> None:
        with open(self.work / f"{name}.kbk", "wb") as out:
            writer = PieceWriter(out, self.keys, self.id, name, os.urandom)
            if path is None:
                writer.write(data)
            else:
                total, done = path.stat().st_size, 0

                def tick(size: int) -> None:
                    nonlocal done
                    done += size
                    if self.progress is not None:
                        self.progress(name, done, total)

                with open(path, "rb") as source:
                    writer.write_file(source, tick)
            self.pieces.append(writer.finish())
            out.flush()
            os.fsync(out.fileno())

    def source(self, target: Target, notes: list[str]) -> Source:
        if target.url.kind == "postgresql":
            return self.postgresql(target, notes)
        return self.sqlite(target, notes)

    def postgresql(self, target: Target, notes: list[str]) -> Source:
        assert target.url.dsn is not None
        archive = self.scratch / f"{target.name}.dump"
        versions = pg_source.schema_versions(target.url.dsn)
        pg_source.dump(target.url.dsn, archive)
        self.seal(f"{target.name}.data", archive)
        if self.parent is not None:
            notes.append(f"{target.name}: PostgreSQL is always stored as a full pg_dump")
        connect, _ = pg_source.split_password(target.url.dsn)
        return Source(
            target.name,
            "postgresql",
            target.url.display,
            "full",
            (f"{target.name}.data",),
            versions,
            connect=connect,
        )

    def sqlite(self, target: Target, notes: list[str]) -> Source:
        assert target.url.path is not None
        image = self.scratch / f"{target.name}.db"
        sqlite_source.snapshot(target.url.path, image)
        page_size, page_count = sqlite_source.geometry(image)
        hashes = sqlite_source.page_hashes(image, page_size)
        base = self._parent_hashes(target, page_size, notes)
        data, pages = f"{target.name}.data", f"{target.name}.pages"
        if base is None:
            self.seal(data, image)
        else:
            diff = self.scratch / f"{target.name}.diff"
            with open(diff, "wb") as out:
                sqlite_source.write_diff(image, page_size, hashes, base, out.write)
            self.seal(data, diff)
        self.seal(pages, data=hashes)
        return Source(
            target.name,
            "sqlite",
            location(target.url),
            "full" if base is None else "diff",
            (data, pages),
            sqlite_source.schema_versions(image),
            page_size=page_size,
            page_count=page_count,
            image_sha256=sqlite_source.file_sha256(image),
        )

    def _parent_hashes(self, target: Target, page_size: int, notes: list[str]) -> bytes | None:
        previous = self.parent.source(target.name) if self.parent is not None else None
        if self.parent is None:
            return None
        if (
            previous is None
            or previous.dialect != "sqlite"
            or previous.location != location(target.url)
        ):
            notes.append(f"{target.name}: not in the parent backup at this location: stored full")
            return None
        if previous.page_size != page_size:
            notes.append(f"{target.name}: page size changed: stored full")
            return None
        piece = self.parent.piece(f"{target.name}.pages")
        keys = unlock(self.secret, self.parent)
        with self.repo.open_piece(self.parent, piece.name) as handle:
            return b"".join(read_piece(handle, keys, self.parent.id, piece))

    def logs(self, logs_dir: Path) -> Source:
        archive = self.scratch / "logs.tar"
        try:
            with tarfile.open(archive, "w") as tar:
                tar.add(logs_dir, arcname="logs")
        except OSError as exc:
            raise ConfigError(f"cannot read the logs in {logs_dir}: {exc}") from None
        self.seal("logs.tar", archive)
        return Source("logs", "files", str(logs_dir.resolve()), "full", ("logs.tar",))
