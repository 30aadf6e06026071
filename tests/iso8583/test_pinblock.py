"""PIN blocks: ISO 9564 formats 0 and 1, encryption under the PIK, host-side recovery."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import CardError, CryptoError, InputError
from kassa.iso8583.pinblock import (
    decrypt_pin_block,
    encrypt_pin_block,
    make_pin_block,
    pan_for_pin_block,
    pin_block,
    recover_pin,
)

PIK16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PIK8 = bytes.fromhex("0123456789ABCDEF")
PAN = "5555555551234567"

pins = st.text("0123456789", min_size=4, max_size=12)
pans = st.text("0123456789", min_size=13, max_size=19)
piks = st.sampled_from([PIK8, PIK16]) | st.binary(min_size=16, max_size=16)


def ecb(key: bytes, block: bytes) -> bytes:
    """DES or two-key 3DES straight from `cryptography`, independent of kassa's helpers."""
    full = key * 3 if len(key) == 8 else key + key[:8]
    encryptor = Cipher(TripleDES(full), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def seeded(seed: int) -> random.Random:
    return random.Random(seed)


@pytest.mark.parametrize(
    ("pin", "pan", "block"),
    [
        # Reference §4.3 (VFWZ PinUtil.main): PIN 123456 + PAN 123456789012345678.
        ("123456", "123456789012345678", "061253DFFEDCBA98"),
        # psec tests/test_pinblock.py test_encode_pinblock_iso_0.
        ("1234", "5555555551234567", "041261AAAAEDCBA9"),
        ("123456789012", "5555555551234567", "0C1261032D8226A9"),
        # psec.pinblock.encode_pinblock_iso_0 docstring.
        ("1234", "5544332211009966", "041277CDDEEFF669"),
    ],
)
def test_format_0_published_vectors(pin: str, pan: str, block: str) -> None:
    assert pin_block(pin, pan) == bytes.fromhex(block)
    assert pin_block(pin, pan + "=2512101", fmt=0) == bytes.fromhex(block)
    assert pin_block(pin, pan + "D25121010000") == bytes.fromhex(block)


@pytest.mark.parametrize(
    ("pin", "block"),
    [
        # psec tests/test_pinblock.py test_decode_pinblock_iso_0 (PAN 5555555551234567).
        ("123456789", "091261032D8DCBA9"),
        ("1234567890", "0A1261032D82CBA9"),
    ],
)
def test_format_0_recovery_of_published_blocks(pin: str, block: str) -> None:
    encrypted = ecb(PIK16, bytes.fromhex(block))
    assert recover_pin(PIK16, encrypted, PAN) == pin


def test_format_1_layout() -> None:
    # ISO 9564-1 format 1: control 1, PIN length, PIN, then fill from the random source.
    block = pin_block("1234", None, fmt=1, rand=lambda n: bytes.fromhex("0123456789ABCD")[:n])
    assert block == bytes.fromhex("1412340123456789")
    block = pin_block("123456789012", "ignored", fmt=1, rand=lambda n: b"\xab" * n)
    assert block == bytes.fromhex("1C123456789012AB")


def test_make_pin_block_encrypts_under_the_pik() -> None:
    clear = bytes.fromhex("061253DFFEDCBA98")
    assert make_pin_block(PIK16, "123456", "123456789012345678") == ecb(PIK16, clear)
    assert make_pin_block(PIK8, "123456", "123456789012345678") == ecb(PIK8, clear)
    assert encrypt_pin_block(PIK16, clear) == ecb(PIK16, clear)
    assert decrypt_pin_block(PIK16, ecb(PIK16, clear)) == clear


@given(piks, pins, pans)
def test_format_0_round_trip(pik: bytes, pin: str, pan: str) -> None:
    encrypted = make_pin_block(pik, pin, pan)
    assert len(encrypted) == 8
    assert recover_pin(pik, encrypted, pan) == pin
    assert recover_pin(pik, encrypted, pan + "=49121010000", fmt=0) == pin


@given(piks, pins, st.integers())
def test_format_1_round_trip(pik: bytes, pin: str, seed: int) -> None:
    encrypted = make_pin_block(pik, pin, None, fmt=1, rand=seeded(seed).randbytes)
    assert recover_pin(pik, encrypted, None) == pin
    assert recover_pin(pik, encrypted, PAN, fmt=1) == pin


@pytest.mark.parametrize(
    ("clear", "reason"),
    [
        ("241261AAAAEDCBA9", "not format 0 or 1"),  # control nibble 2 (format 2)
        ("F41261AAAAEDCBA9", "not format 0 or 1"),
        ("0F1261AAAAEDCBA9", "bad PIN length"),  # 15 digits
        ("021261AAAAEDCBA9", "bad PIN length"),  # 2 digits
        ("041261AAAAEDCBAA", "bad fill"),  # psec's filler case
        ("051261AAAAEDCBA9", "non-digit PIN"),  # fifth PIN nibble is F
        ("13123AFFFFFFFFFF", "bad PIN length"),
        ("1412A4FFFFFFFFFF", "non-digit PIN"),
    ],
)
def test_recover_refuses_invalid_blocks_without_showing_the_pin(clear: str, reason: str) -> None:
    with pytest.raises(CryptoError, match=reason) as caught:
        recover_pin(PIK16, ecb(PIK16, bytes.fromhex(clear)), PAN)
    message = str(caught.value)
    assert "1234" not in message
    assert "FFFF" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_recover_with_the_wrong_pan_or_pik_fails() -> None:
    encrypted = make_pin_block(PIK16, "1234", PAN)
    with pytest.raises(CryptoError, match="bad fill"):
        recover_pin(PIK16, encrypted, "5555555551234577")  # 11th of the 12 digits differs
    wrong_pik = bytes(reversed(PIK16))
    with pytest.raises(CryptoError):
        recover_pin(wrong_pik, make_pin_block(PIK16, "123456", PAN), PAN)


def test_recover_checks_the_expected_format_and_needs_a_pan_for_format_0() -> None:
    encrypted = make_pin_block(PIK16, "1234", PAN)
    with pytest.raises(CryptoError, match="not format 1"):
        recover_pin(PIK16, encrypted, PAN, fmt=1)
    with pytest.raises(CardError, match="card number"):
        recover_pin(PIK16, encrypted, None)


@pytest.mark.parametrize("pin", ["", "123", "1234567890123", "12a4", "12 34", "١٢٣٤"])
def test_bad_pin_is_an_input_error_that_does_not_echo_it(pin: str) -> None:
    with pytest.raises(InputError, match="4 to 12 digits") as caught:
        pin_block(pin, PAN)
    assert not pin or pin not in str(caught.value)


@pytest.mark.parametrize("pan", ["555555555123", "55555555512345678901", "555555555123456A", ""])
def test_bad_pan_is_a_card_error(pan: str) -> None:
    with pytest.raises(CardError, match="13 to 19 digits"):
        pin_block("1234", pan)


def test_pan_from_track_2() -> None:
    assert pan_for_pin_block("6225880112345678=25121010000012300000") == "6225880112345678"
    assert pan_for_pin_block("6225880112345678D2512101") == "6225880112345678"
    assert pan_for_pin_block("6225880112345678") == "6225880112345678"


def test_argument_errors() -> None:
    with pytest.raises(CardError, match="format 0"):
        pin_block("1234", None)
    with pytest.raises(CryptoError, match="random source"):
        pin_block("1234", None, fmt=1)
    with pytest.raises(CryptoError, match="gave 3 bytes"):
        pin_block("1234", None, fmt=1, rand=lambda n: b"abc")
    with pytest.raises(InputError, match="format 3"):
        pin_block("1234", PAN, fmt=3)
    with pytest.raises(CryptoError, match="PIK must be 8 or 16"):
        make_pin_block(bytes(24), "1234", PAN)
    with pytest.raises(CryptoError, match="PIN block must be 8 bytes"):
        encrypt_pin_block(PIK16, bytes(16))
    with pytest.raises(CryptoError, match="PIN block must be 8 bytes"):
        recover_pin(PIK16, bytes(7), PAN)
