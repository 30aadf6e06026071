"""SQLite sources (shell): online snapshots, page-level diffs, restore and checks.

A snapshot is taken with SQLite's online backup API (`sqlite3.Connection.backup`) in one
step: it reads one consistent state of the database under a read transaction while
writers go on (Kassa runs SQLite in WAL mode, where readers never block writers).

Incrementals are page-level diffs: the snapshot file is cut into its pages, and the pages
whose SHA-256 differs from the parent backup's copy (kept as the ``.pages`` piece: one
32-byte hash per page) are stored with their page numbers. Restoring the full image and
applying each diff in order, then cutting the file to the recorded page count, rebuilds
the snapshot byte for byte, which the restore proves against the recorded SHA-256.

Diff format: ``KSQLDIF1`` | page size (u32) | page count (u64) | records (u64), then per
record: page number (u32, from 0) | the page.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from kassa.errors import StoreError

DIFF_MAGIC = b"KSQLDIF1"
_DIFF_HEAD = struct.Struct(">8sIQQ")
_PAGE_NO = struct.Struct(">I")
HASH_BYTES = 32


def _open_existing(path: Path) -> sqlite3.Connection:
    # mode=rw: never create an empty database where the live one was expected.
    uri = f"file:{quote(str(path.resolve()))}?mode=rw"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open SQLite database {path}: {exc}") from None


def snapshot(path: Path, dest: Path) -> None:
    """Copy the live database at `path` into the new file `dest` (online, consistent)."""
    if not path.is_file():
        raise StoreError(f"no SQLite database at {path}")
    source = _open_existing(path)
    try:
        target = sqlite3.connect(dest, isolation_level=None)
        try:
            source.backup(target)  # pages=-1: one step, one read transaction, one state
            target.execute("PRAGMA journal_mode=DELETE")  # fold the image into one file
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot back up SQLite database {path}: {exc}") from None
    finally:
        source.close()


def geometry(image: Path) -> tuple[int, int]:
    """(page size, page count) of a database file, from its header."""
    with open(image, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise StoreError(f"{image} is not a SQLite database file")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65_536 if page_size == 1 else page_size
    size = image.stat().st_size
    if page_size < 512 or size % page_size:
        raise StoreError(f"{image}: size {size} is not a whole number of {page_size}-byte pages")
    return page_size, size // page_size


def page_hashes(image: Path, page_size: int) -> bytes:
    """The SHA-256 of every page of `image`, concatenated (32 bytes per page)."""
    out = bytearray()
    with open(image, "rb") as handle:
        while page := handle.read(page_size):
            out += hashlib.sha256(page).digest()
    return bytes(out)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_diff(
    image: Path,
    page_size: int,
    hashes: bytes,
    parent_hashes: bytes,
    write: Callable[[bytes], object],
) -> int:
    """Write the diff of `image` against the parent's page hashes; the pages written."""
    count = len(hashes) // HASH_BYTES
    changed = [
        n
        for n in range(count)
        if hashes[n * HASH_BYTES : (n + 1) * HASH_BYTES]
        != parent_hashes[n * HASH_BYTES : (n + 1) * HASH_BYTES]
    ]
    write(_DIFF_HEAD.pack(DIFF_MAGIC, page_size, count, len(changed)))
    with open(image, "rb") as handle:
        for number in changed:
            handle.seek(number * page_size)
            write(_PAGE_NO.pack(number) + handle.read(page_size))
    return len(changed)


def apply_diff(image: Path, diff: BinaryIO) -> None:
    """Apply a diff (an open file) onto the database file `image`, in place."""
    head = diff.read(_DIFF_HEAD.size)
    if len(head) != _DIFF_HEAD.size or not head.startswith(DIFF_MAGIC):
        raise StoreError("not a Kassa SQLite page diff")
    _, page_size, page_count, records = _DIFF_HEAD.unpack(head)
    current_size, _ = geometry(image)
    if current_size != page_size:
        raise StoreError(f"page size changed ({current_size} -> {page_size}) inside a chain")
    with open(image, "r+b") as handle:
        for _ in range(records):
            number_bytes = diff.read(_PAGE_NO.size)
            page = diff.read(page_size)
            if len(number_bytes) != _PAGE_NO.size or len(page) != page_size:
                raise StoreError("SQLite page diff cut short")
            (number,) = _PAGE_NO.unpack(number_bytes)
            if number >= page_count:
                raise StoreError(f"page {number} beyond the page count {page_count}")
            handle.seek(number * page_size)
            handle.write(page)
        handle.truncate(page_count * page_size)
    if diff.read(1):
        raise StoreError("data after the end of a SQLite page diff")


def integrity_problems(image: Path) -> list[str]:
    """``PRAGMA integrity_check`` of a database file: empty when it is sound."""
    try:
        conn = _open_existing(image)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
            conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        finally:
            conn.close()
    except (sqlite3.Error, StoreError) as exc:
        return [f"cannot read the database: {exc}"]
    problems = [str(r[0]) for r in rows]
    return [] if problems == ["ok"] else problems


def schema_versions(image: Path) -> dict[str, int]:
    """Kassa schema version per component recorded in the file (empty when none)."""
    conn = _open_existing(image)
    try:
        rows = conn.execute(
            "SELECT component, MAX(version) FROM schema_migrations GROUP BY component"
        ).fetchall()
    except sqlite3.Error:
        return {}  # no schema_migrations table: not a Kassa database, or an empty one
    finally:
        conn.close()
    return {str(c): int(v) for c, v in rows}


def restore_into(image: Path, target: Path) -> None:
    """Replace the content of the database at `target` with `image`, through SQLite.

    Uses the backup API in reverse, so a process holding the live database open sees
    the change through SQLite's own locking instead of a file swapped under it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    source = _open_existing(image)
    try:
        live = sqlite3.connect(target, isolation_level=None, timeout=30)
        try:
            source.backup(live)
        finally:
            live.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot restore into {target}: {exc}") from None
    finally:
        source.close()
