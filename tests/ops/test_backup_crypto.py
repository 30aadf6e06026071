"""Backup crypto: published KDF vectors, frames that refuse every kind of tampering."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.errors import CryptoError
from kassa.ops.backup import crypto
from kassa.ops.backup.manifest import Piece
from kassa.ops.backup.pieces import BadPiece, PieceWriter, read_piece

KEYS = crypto.backup_keys(bytes(range(32)), "20260101T000000000Z-abcdef")
PREFIX = crypto.piece_aad("20260101T000000000Z-abcdef", "db.data")


def test_scrypt_matches_rfc_7914_section_12() -> None:
    # RFC 7914 §12, the first two test vectors (P, S, N, r, p, dkLen=64).
    assert crypto.scrypt(b"", b"", 16, 1, 1, 64).hex() == (
        "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
        "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"
    )
    assert crypto.scrypt(b"password", b"NaCl", 1024, 8, 16, 64).hex() == (
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
        "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
    )


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    # RFC 5869 Appendix A.1 (Test Case 1), HKDF-SHA256, L = 42.
    okm = crypto.hkdf_sha256(
        bytes.fromhex("0b" * 22),
        bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_each_backup_gets_its_own_keys_and_data_key_differs_from_mac_key() -> None:
    other = crypto.backup_keys(bytes(range(32)), "20260101T000000000Z-abcdee")
    assert len({KEYS.data, KEYS.mac, other.data, other.mac}) == 4
    assert repr(KEYS) == "BackupKeys()"  # keys are never printed


def test_kdf_round_trips_and_refuses_unknown_or_absurd_parameters() -> None:
    kdf = crypto.new_kdf(True, os.urandom)
    assert crypto.Kdf.from_json(kdf.to_json()) == kdf
    assert crypto.Kdf.from_json({"name": "keyfile"}).name == "keyfile"
    with pytest.raises(CryptoError):
        crypto.Kdf.from_json({"name": "pbkdf1"})
    with pytest.raises(CryptoError, match="out of range"):
        crypto.Kdf.from_json({**kdf.to_json(), "n": 1000})  # not a power of two


def _frames(chunks: list[bytes]) -> bytes:
    return b"".join(
        crypto.seal_frame(KEYS, PREFIX, i, i == len(chunks) - 1, c, os.urandom(12))
        for i, c in enumerate(chunks)
    )


def _open(data: bytes, prefix: bytes = PREFIX, keys: crypto.BackupKeys = KEYS) -> list[bytes]:
    return list(crypto.open_frames(keys, prefix, io.BytesIO(data).read))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6))
def test_frames_round_trip(chunks: list[bytes]) -> None:
    assert _open(_frames(chunks)) == chunks


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=4), st.data())
def test_any_flipped_bit_is_refused(chunks: list[bytes], data: st.DataObject) -> None:
    sealed = bytearray(_frames(chunks))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(CryptoError):
        _open(bytes(sealed))


def test_truncation_reordering_and_foreign_frames_are_refused() -> None:
    one, two = (
        crypto.seal_frame(KEYS, PREFIX, i, i == 1, b"x" * 10, os.urandom(12)) for i in range(2)
    )
    with pytest.raises(CryptoError, match="truncated"):
        _open(one)  # the final frame was cut off
    with pytest.raises(CryptoError):
        _open(two + one)  # reordered
    with pytest.raises(CryptoError, match="after the final"):
        _open(one + two + b"\x00")
    with pytest.raises(CryptoError, match="authentication"):
        _open(one + two, prefix=crypto.piece_aad("20260101T000000000Z-abcdef", "db.pages"))
    with pytest.raises(CryptoError, match="authentication"):
        _open(one + two, keys=crypto.backup_keys(bytes(32), "20260101T000000000Z-abcdef"))


def _seal_piece(data: bytes) -> tuple[bytes, Piece]:
    out = io.BytesIO()
    writer = PieceWriter(out, KEYS, "20260101T000000000Z-abcdef", "db.data", os.urandom)
    for start in range(0, len(data), 7000):
        writer.write(data[start : start + 7000])
    piece = writer.finish()
    return out.getvalue(), piece


def test_piece_compresses_seals_and_reads_back_against_both_hashes() -> None:
    data = os.urandom(1000) + b"kassa " * 400_000  # > 1 MiB plaintext, several frames
    sealed, piece = _seal_piece(data)
    assert piece.plain_bytes == len(data) and piece.cipher_bytes == len(sealed)
    assert len(sealed) < len(data) // 10  # zstd did its work
    back = b"".join(read_piece(io.BytesIO(sealed), KEYS, "20260101T000000000Z-abcdef", piece))
    assert back == data


def test_piece_whose_manifest_hash_differs_is_refused() -> None:
    sealed, piece = _seal_piece(b"ledger" * 1000)
    forged = Piece(piece.name, "0" * 64, piece.plain_bytes, piece.cipher_sha256, piece.cipher_bytes)
    with pytest.raises(BadPiece, match="plaintext does not match"):
        list(read_piece(io.BytesIO(sealed), KEYS, "20260101T000000000Z-abcdef", forged))
