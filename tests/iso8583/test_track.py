"""Track-data encryption with the TDK (reference §4.4)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import CardError, CryptoError
from kassa.iso8583.track import decrypt_track, encrypt_track

TDK = bytes.fromhex("1A2A3D4C5E0B1A2C4C5E6B7A8C9D0E1A")
TRACK2 = "6225880112345678=25121010000012300000"

tracks = st.text("0123456789D", min_size=17, max_size=104)


def tdes(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(TripleDES(key + key[:8]), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def test_the_sixteen_nibbles_before_the_last_are_encrypted() -> None:
    clear = TRACK2.replace("=", "D")
    # Track 2 of 37 nibbles: nibbles 20..35 are encrypted, 0..19 and the last stay clear.
    expected_block = tdes(TDK, bytes.fromhex(clear[20:36])).hex().upper()
    encrypted = encrypt_track(TDK, TRACK2)
    assert encrypted == clear[:20] + expected_block + clear[36]
    assert decrypt_track(TDK, encrypted) == clear


def test_seventeen_nibbles_is_the_minimum() -> None:
    clear = "1234567890123456D"
    encrypted = encrypt_track(TDK, clear)
    assert encrypted == tdes(TDK, bytes.fromhex(clear[:16])).hex().upper() + "D"
    assert decrypt_track(TDK, encrypted) == clear
    with pytest.raises(CryptoError, match="at least 17 nibbles"):
        encrypt_track(TDK, clear[1:])
    with pytest.raises(CryptoError, match="at least 17 nibbles"):
        decrypt_track(TDK, encrypted[1:])


@given(tracks)
def test_round_trip(track: str) -> None:
    encrypted = encrypt_track(TDK, track)
    assert len(encrypted) == len(track)
    assert encrypted[:-17] == track[:-17]
    assert encrypted[-1] == track[-1]
    assert decrypt_track(TDK, encrypted) == track


@given(tracks)
def test_equals_sign_reads_as_d(track: str) -> None:
    assert encrypt_track(TDK, track.replace("D", "=")) == encrypt_track(TDK, track)


def test_bad_input() -> None:
    with pytest.raises(CryptoError, match="TDK must be 16 bytes"):
        encrypt_track(bytes(8), TRACK2)
    with pytest.raises(CardError, match="only digits"):
        encrypt_track(TDK, TRACK2.replace("0", "A"))
    with pytest.raises(CardError, match="only hex digits"):
        decrypt_track(TDK, TRACK2 + "?")
    with pytest.raises(CardError, match="at most 104"):
        encrypt_track(TDK, "1" * 105)


def test_a_wrong_tdk_is_detected_when_the_result_is_not_digits() -> None:
    encrypted = encrypt_track(TDK, TRACK2)
    with pytest.raises(CryptoError, match="wrong TDK or damaged data"):
        decrypt_track(bytes(reversed(TDK)), encrypted)
