"""PIN blocks for F52 (UnionPay reference §4.3): ISO 9564 formats 0 and 1.

Format 0 (ANSI X9.8, F53.1 = 2): the PIN field `0` + length + PIN + `F` fill, XOR the PAN
field `0000` + the 12 rightmost PAN digits excluding the check digit. Format 1 (F53.1 = 1,
no PAN): `1` + length + PIN + random fill. The clear block is encrypted under the PIK with
ECB: 3DES for a 16-byte PIK (F53.2 = 6), DES for an 8-byte PIK (F53.2 = 0).

A PIN is never put in a message, a log or a repr here: errors name what is wrong, never
the digits. (psec's decoders put PIN digits in their ValueError text, so only its encoder
is used, and its errors are never passed on.)
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from psec.pinblock import encode_pinblock_iso_0

from kassa.errors import CardError, CryptoError, InputError
from kassa.iso8583.keys import des_decrypt_ecb, des_encrypt_ecb

pin_length_min = 4
pin_length_max = 12
pan_length_min = 13
pan_length_max = 19
pin_block_size_bytes = 8
_FILL_NIBBLES_MAX = 14 - pin_length_min
_DIGITS = frozenset(string.digits)


def pan_for_pin_block(pan_or_track2: str) -> str:
    """The PAN digits from a PAN (F2) or from track-2 text (F35: PAN, `=` or `D`, ...)."""
    pan = re.split("[=D]", pan_or_track2, maxsplit=1)[0]
    if not (pan_length_min <= len(pan) <= pan_length_max and set(pan) <= _DIGITS):
        raise CardError(
            f"the card number for the PIN block must be {pan_length_min} to {pan_length_max}"
            " digits (F2, or track 2 before '=')"
        )
    return pan


def _pan_field(pan_or_track2: str) -> bytes:
    """`0000` + the 12 rightmost PAN digits excluding the check digit."""
    return b"\x00\x00" + bytes.fromhex(pan_for_pin_block(pan_or_track2)[-13:-1])


def _check_pin(pin: str) -> None:
    if not (pin_length_min <= len(pin) <= pin_length_max and set(pin) <= _DIGITS):
        raise InputError(f"a PIN must be {pin_length_min} to {pin_length_max} digits")


def _format1_fill(rand: Callable[[int], bytes] | None, count: int) -> str:
    if rand is None:
        raise CryptoError("a format 1 PIN block needs a random source for its fill")
    wanted = (_FILL_NIBBLES_MAX + 1) // 2
    fill = rand(wanted)
    if len(fill) != wanted:
        raise CryptoError(f"the random source gave {len(fill)} bytes, not {wanted}")
    return fill.hex().upper()[:count]


def pin_block(
    pin: str,
    pan: str | None,
    fmt: int = 0,
    rand: Callable[[int], bytes] | None = None,
) -> bytes:
    """The clear 8-byte PIN block. `pan` is a PAN or track-2 text (format 0 only).

    Format 1 takes its fill from `rand(7)`; format 0 ignores `rand`, format 1 ignores `pan`.
    """
    _check_pin(pin)
    if fmt == 0:
        if pan is None:
            raise CardError("a format 0 PIN block needs the card number; use format 1 without")
        return encode_pinblock_iso_0(pin, pan_for_pin_block(pan))
    if fmt == 1:
        fill = _format1_fill(rand, 14 - len(pin))
        return bytes.fromhex(f"1{len(pin):X}{pin}{fill}")
    raise InputError(f"PIN block format {fmt} is not supported; use 0 or 1")


def _check_pik(pik: bytes) -> None:
    if len(pik) not in (8, 16):
        raise CryptoError(f"a PIK must be 8 or 16 bytes, not {len(pik)}")


def _check_block(block: bytes) -> None:
    if len(block) != pin_block_size_bytes:
        raise CryptoError(f"a PIN block must be {pin_block_size_bytes} bytes, not {len(block)}")


def encrypt_pin_block(pik: bytes, clear: bytes) -> bytes:
    """Encrypt a clear PIN block under the PIK: 3DES-ECB (16 bytes) or DES-ECB (8 bytes)."""
    _check_pik(pik)
    _check_block(clear)
    return des_encrypt_ecb(pik, clear)


def decrypt_pin_block(pik: bytes, enc: bytes) -> bytes:
    """Inverse of `encrypt_pin_block`."""
    _check_pik(pik)
    _check_block(enc)
    return des_decrypt_ecb(pik, enc)


def make_pin_block(
    pik: bytes,
    pin: str,
    pan: str | None,
    fmt: int = 0,
    rand: Callable[[int], bytes] | None = None,
) -> bytes:
    """The encrypted PIN block: the 8 bytes of F52."""
    _check_pik(pik)
    return encrypt_pin_block(pik, pin_block(pin, pan, fmt, rand))


def _pin_from_field(field: bytes, fmt: int) -> str:
    """The PIN of a clear PIN field (format 0 already XORed with the PAN field)."""
    nibbles = field.hex().upper()
    length = int(nibbles[1], 16)
    if not pin_length_min <= length <= pin_length_max:
        raise CryptoError("the PIN block has a bad PIN length nibble: wrong PIK or damaged block")
    pin = nibbles[2 : 2 + length]
    if not set(pin) <= _DIGITS:
        raise CryptoError("the PIN block has non-digit PIN nibbles: wrong PIK or damaged block")
    if fmt == 0 and nibbles[2 + length :] != "F" * (14 - length):
        raise CryptoError("the PIN block has a bad fill: wrong PAN, wrong PIK or damaged block")
    return pin


def recover_pin(pik: bytes, enc_block: bytes, pan: str | None, fmt: int | None = None) -> str:
    """The PIN from an encrypted format 0 or 1 block (host side; never log the result).

    The control nibble picks the format; pass `fmt` (from F53) to insist on one. A block
    that is not a valid format 0/1 block raises CryptoError (the host answers 99/55).
    """
    clear = decrypt_pin_block(pik, enc_block)
    control = clear[0] >> 4
    if control not in (0, 1) or (fmt is not None and control != fmt):
        wanted = "0 or 1" if fmt is None else str(fmt)
        raise CryptoError(f"the PIN block is not format {wanted}: wrong PIK or damaged block")
    if control == 1:
        return _pin_from_field(clear, 1)
    if pan is None:
        raise CardError("a format 0 PIN block needs the card number to recover the PIN")
    field = bytes(a ^ b for a, b in zip(clear, _pan_field(pan), strict=True))
    return _pin_from_field(field, 0)
