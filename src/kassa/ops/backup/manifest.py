"""The backup manifest (pure): what a backup holds, and the hashes that prove it.

One JSON document per backup, ``manifest.json``, written last: a backup directory
without it is incomplete and ignored. It is not encrypted (so `kassa backup list` works
without the key) but it holds no data, only names, sizes, hashes and times, and it is
authenticated by an HMAC under a key derived from the backup key, so neither a piece's
hash nor the parent of an incremental can be changed unnoticed.

A backup has sources (``db``: the host database, ``journal``: the terminal journal,
``logs``: the log files), each stored as one or more pieces (encrypted files). For each
piece the manifest keeps the SHA-256 and size of its plaintext and of its ciphertext.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from kassa.errors import StoreError

FORMAT = "kassa-backup/1"
Kind = Literal["full", "incremental"]
Mode = Literal["full", "diff"]


@dataclass(frozen=True, slots=True)
class Piece:
    """One encrypted file of a backup."""

    name: str
    plain_sha256: str
    plain_bytes: int
    cipher_sha256: str
    cipher_bytes: int

    @property
    def file(self) -> str:
        return f"{self.name}.kbk"


@dataclass(frozen=True, slots=True)
class Source:
    """One thing backed up.

    `dialect` is ``sqlite``, ``postgresql`` or ``files``. `mode` is ``full`` or ``diff``
    (SQLite pages changed since the parent backup's copy of the same source). For SQLite,
    `image_sha256` is the SHA-256 of the whole database file as copied, so a restore
    through a chain of diffs proves it rebuilt exactly that file. `connect` is the
    PostgreSQL URL without its password (libpq takes it from PGPASSWORD or .pgpass).
    """

    name: str
    dialect: str
    location: str
    mode: Mode
    pieces: tuple[str, ...]
    schema_versions: Mapping[str, int] = field(default_factory=dict)
    connect: str | None = None
    page_size: int = 0
    page_count: int = 0
    image_sha256: str = ""


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything about one backup; `body()` is what the MAC covers."""

    id: str
    kind: Kind
    parent: str | None
    reason: str
    started_ms: int
    finished_ms: int
    kassa_version: str
    kdf: Mapping[str, Any]
    sources: tuple[Source, ...]
    pieces: tuple[Piece, ...]
    notes: tuple[str, ...] = ()
    mac: str = ""

    def piece(self, name: str) -> Piece:
        for piece in self.pieces:
            if piece.name == name:
                return piece
        raise StoreError(f"backup {self.id} has no piece {name!r}: manifest damaged")

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    @property
    def size_bytes(self) -> int:
        return sum(p.cipher_bytes for p in self.pieces)

    def body(self) -> bytes:
        """Canonical JSON of every field but `mac`."""
        doc = _to_doc(self)
        del doc["mac"]
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def with_mac(self, mac: str) -> Manifest:
        return replace(self, mac=mac)

    def to_bytes(self) -> bytes:
        return json.dumps(_to_doc(self), sort_keys=True, indent=1).encode() + b"\n"


def _to_doc(manifest: Manifest) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": manifest.id,
        "kind": manifest.kind,
        "parent": manifest.parent,
        "reason": manifest.reason,
        "started_ms": manifest.started_ms,
        "finished_ms": manifest.finished_ms,
        "kassa_version": manifest.kassa_version,
        "kdf": dict(manifest.kdf),
        "sources": [_source_doc(s) for s in manifest.sources],
        "pieces": [
            {
                f: getattr(p, f)
                for f in ("name", "plain_sha256", "plain_bytes", "cipher_sha256", "cipher_bytes")
            }
            for p in manifest.pieces
        ],
        "notes": list(manifest.notes),
        "mac": manifest.mac,
    }


def _source_doc(source: Source) -> dict[str, Any]:
    doc = {f: getattr(source, f) for f in Source.__slots__}
    doc["pieces"] = list(source.pieces)
    doc["schema_versions"] = dict(source.schema_versions)
    return doc


def parse_manifest(data: bytes, where: str) -> Manifest:
    """The manifest in `data`; `StoreError` naming `where` if it is not one."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise StoreError(f"{where}: not a {FORMAT} manifest")
        sources = tuple(
            Source(
                **{
                    **s,
                    "pieces": tuple(s["pieces"]),
                    "schema_versions": {str(k): int(v) for k, v in s["schema_versions"].items()},
                }
            )
            for s in doc["sources"]
        )
        pieces = tuple(Piece(**p) for p in doc["pieces"])
        manifest = Manifest(
            id=str(doc["id"]),
            kind=doc["kind"],
            parent=doc["parent"],
            reason=doc["reason"],
            started_ms=int(doc["started_ms"]),
            finished_ms=int(doc["finished_ms"]),
            kassa_version=str(doc["kassa_version"]),
            kdf=dict(doc["kdf"]),
            sources=sources,
            pieces=pieces,
            notes=tuple(doc.get("notes", ())),
            mac=str(doc["mac"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{where}: damaged manifest ({type(exc).__name__}: {exc})") from None
    if manifest.kind not in ("full", "incremental") or (manifest.kind == "full") != (
        manifest.parent is None
    ):
        raise StoreError(f"{where}: damaged manifest (kind {manifest.kind!r}, parent)")
    return manifest


def new_backup_id(now_ms: int, random: Callable[[int], bytes]) -> str:
    """A sortable, unique id such as ``20240501T020000123Z-3a9c1f``: UTC time + 24 random bits."""
    stamp = datetime.fromtimestamp(now_ms // 1000, UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}{now_ms % 1000:03d}Z-{random(3).hex()}"


_ID = re.compile(r"[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}")


def is_backup_id(text: str) -> bool:
    """Whether `text` has the shape of a backup id (nothing else is ever a directory name)."""
    return _ID.fullmatch(text) is not None
