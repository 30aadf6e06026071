"""Writing and reading one piece: plaintext -> zstd -> AES-256-GCM frames, hashed both sides.

`PieceWriter` streams: memory stays at about one frame whatever the piece's size.
`read_piece` yields plaintext while checking everything it can, and raises `BadPiece` at
the first thing wrong; callers write what it yields to a scratch file and use that file
only once the whole piece has been read, so nothing is ever restored from a bad piece.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import zstandard

from kassa.errors import CryptoError, StoreError
from kassa.ops.backup import crypto
from kassa.ops.backup.manifest import Piece

zstd_level = 6  # zstd's own default is 3; 6 costs a little CPU for ~5-10 % smaller backups
read_block_bytes = 1 << 20


class BadPiece(StoreError):
    """A piece that is missing, damaged or not the one the manifest describes."""

    def __init__(self, backup_id: str, piece: str, reason: str) -> None:
        self.backup_id = backup_id
        self.piece = piece
        super().__init__(f"backup {backup_id}: piece {piece} {reason}")


class PieceWriter:
    """Seal a piece into `out`; call `write` with its plaintext, then `finish` once."""

    def __init__(
        self,
        out: BinaryIO,
        keys: crypto.BackupKeys,
        backup_id: str,
        name: str,
        random: crypto.Random,
    ) -> None:
        self.name = name
        self._out = out
        self._keys = keys
        self._aad = crypto.piece_aad(backup_id, name)
        self._random = random
        self._zstd = zstandard.ZstdCompressor(level=zstd_level).compressobj()
        self._plain = hashlib.sha256()
        self._cipher = hashlib.sha256()
        self._plain_bytes = 0
        self._cipher_bytes = 0
        self._pending = bytearray()
        self._index = 0

    def write(self, data: bytes) -> None:
        self._plain.update(data)
        self._plain_bytes += len(data)
        self._pending += self._zstd.compress(data)
        while len(self._pending) > crypto.frame_plain_size_max_bytes:
            self._emit(bytes(self._pending[: crypto.frame_plain_size_max_bytes]), final=False)
            del self._pending[: crypto.frame_plain_size_max_bytes]

    def write_file(self, source: BinaryIO, tick: Callable[[int], None] | None = None) -> None:
        while block := source.read(read_block_bytes):
            self.write(block)
            if tick is not None:
                tick(len(block))

    def finish(self) -> Piece:
        self._pending += self._zstd.flush()
        while len(self._pending) > crypto.frame_plain_size_max_bytes:
            self._emit(bytes(self._pending[: crypto.frame_plain_size_max_bytes]), final=False)
            del self._pending[: crypto.frame_plain_size_max_bytes]
        self._emit(bytes(self._pending), final=True)
        return Piece(
            self.name,
            self._plain.hexdigest(),
            self._plain_bytes,
            self._cipher.hexdigest(),
            self._cipher_bytes,
        )

    def _emit(self, data: bytes, final: bool) -> None:
        frame = crypto.seal_frame(
            self._keys, self._aad, self._index, final, data, self._random(crypto.nonce_size_bytes)
        )
        self._out.write(frame)
        self._cipher.update(frame)
        self._cipher_bytes += len(frame)
        self._index += 1


def cipher_sha256(source: BinaryIO) -> tuple[str, int]:
    """SHA-256 (hex) and size of a stored piece file."""
    digest, size = hashlib.sha256(), 0
    while block := source.read(read_block_bytes):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def read_piece(
    source: BinaryIO, keys: crypto.BackupKeys, backup_id: str, piece: Piece
) -> Iterator[bytes]:
    """The plaintext of `piece`, checked frame by frame and against both manifest hashes."""
    cipher, plain = hashlib.sha256(), hashlib.sha256()
    cipher_bytes = plain_bytes = 0

    def read(n: int) -> bytes:
        nonlocal cipher_bytes
        data = source.read(n)
        cipher.update(data)
        cipher_bytes += len(data)
        return data

    unzstd = zstandard.ZstdDecompressor().decompressobj()
    try:
        for frame in crypto.open_frames(keys, crypto.piece_aad(backup_id, piece.name), read):
            data = unzstd.decompress(frame)
            plain.update(data)
            plain_bytes += len(data)
            if plain_bytes > piece.plain_bytes:
                raise BadPiece(backup_id, piece.name, "is longer than its manifest says")
            yield data
    except CryptoError as exc:
        raise BadPiece(backup_id, piece.name, f"is damaged ({exc})") from None
    except zstandard.ZstdError as exc:
        raise BadPiece(backup_id, piece.name, f"does not decompress ({exc})") from None
    if (cipher.hexdigest(), cipher_bytes) != (piece.cipher_sha256, piece.cipher_bytes):
        raise BadPiece(backup_id, piece.name, "ciphertext does not match its SHA-256")
    if (plain.hexdigest(), plain_bytes) != (piece.plain_sha256, piece.plain_bytes):
        raise BadPiece(backup_id, piece.name, "plaintext does not match its SHA-256")
