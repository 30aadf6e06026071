"""Working keys delivered at sign-on (UnionPay reference §3.3, §4.2) and the DES operations.

The key hierarchy: the terminal master key (TMK, injected out of band) protects the working
keys PIK (PIN), MAK (MAC) and TDK (track data) that the host sends in F62 of every 0810
sign-on response, each followed by a 4-byte check value of the clear key:

    60.3  F62   layout
    001   24    PIK(8)  + CV(4) + MAK(8)                  + CV(4)
    003   40    PIK(16) + CV(4) + MAK(8 + 8 x 00)         + CV(4)
    004   60    as 003                                    + TDK(16) + CV(4)

Every key is encrypted under the TMK with ECB: single DES for an 8-byte TMK, two-key
triple DES for a 16-byte TMK. The MAK stays single length in every mode.

DES runs on `cryptography`'s decrepit TripleDES with an explicit 24-byte key (K1K1K1 for
single DES, K1K2K1 for two-key 3DES). psec's own DES helpers still use the TripleDES
alias that cryptography deprecated, and they warn; only psec's pure key-parity helper is
used here.
"""

from __future__ import annotations

import hmac
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from psec.des import adjust_key_parity

from kassa.errors import CryptoError

des_block_size_bytes = 8
check_value_size_bytes = 4
key_generation_attempts_max = 8

# FIPS PUB 74: the 4 weak and 12 semi-weak DES keys (odd parity form). A generated key
# (or half of a double-length key) equal to one of them is drawn again.
_WEAK_DES_KEYS = frozenset(
    bytes.fromhex(k)
    for k in [
        "0101010101010101",
        "FEFEFEFEFEFEFEFE",
        "E0E0E0E0F1F1F1F1",
        "1F1F1F1F0E0E0E0E",
        "011F011F010E010E",
        "1F011F010E010E01",
        "01E001E001F101F1",
        "E001E001F101F101",
        "01FE01FE01FE01FE",
        "FE01FE01FE01FE01",
        "1FE01FE00EF10EF1",
        "E01FE01FF10EF10E",
        "1FFE1FFE0EFE0EFE",
        "FE1FFE1FFE0EFE0E",
        "E0FEE0FEF1FEF1FE",
        "FEE0FEE0FEF1FEF1",
    ]
)


_ECB_CACHE_SIZE = 4096


def _algorithm(key: bytes) -> TripleDES:
    """Single DES for an 8-byte key, two-key triple DES for a 16-byte key."""
    if len(key) == 8:
        return TripleDES(key * 3)
    if len(key) == 16:
        return TripleDES(key + key[:8])
    raise CryptoError(f"a DES key must be 8 or 16 bytes, not {len(key)}")


def _check_blocks(data: bytes) -> None:
    if not data or len(data) % des_block_size_bytes:
        raise CryptoError(f"DES data must be a non-empty multiple of 8 bytes, not {len(data)}")


@lru_cache(maxsize=_ECB_CACHE_SIZE)
def _ecb(key: bytes) -> Cipher[modes.ECB]:
    """The ECB cipher of one key, built once: building it costs more than using it, and a
    host uses the same few thousand working keys all day."""
    return Cipher(_algorithm(key), modes.ECB())


def des_encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Encrypt whole 8-byte blocks with ECB: DES for an 8-byte key, 3DES for a 16-byte key."""
    _check_blocks(data)
    encryptor = _ecb(bytes(key)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def des_ecb_encryptor(key: bytes) -> Callable[[bytes], bytes]:
    """ECB encryption of whole 8-byte blocks under one key, for several calls in a row:
    one cipher context for all of them (making a context costs more than a block). ECB
    keeps no state between blocks, so each call's output is `des_encrypt_ecb`'s. Use it
    in one thread, and pass it whole blocks only."""
    return _ecb(bytes(key)).encryptor().update


def des_decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Inverse of `des_encrypt_ecb`."""
    _check_blocks(data)
    decryptor = _ecb(bytes(key)).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def des_encrypt_cbc(key: bytes, data: bytes, iv: bytes = bytes(8)) -> bytes:
    """Encrypt whole 8-byte blocks with CBC (zero IV unless given); for CBC-MACs."""
    _check_blocks(data)
    if len(iv) != des_block_size_bytes:
        raise CryptoError(f"a DES IV must be 8 bytes, not {len(iv)}")
    encryptor = Cipher(_algorithm(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def check_value(key: bytes) -> bytes:
    """The 4-byte check value: first 4 bytes of E_key(8 x 00), DES or 3DES by key length."""
    return des_encrypt_ecb(key, bytes(des_block_size_bytes))[:check_value_size_bytes]


class KeyMode(StrEnum):
    """F60.3 of the 0800 sign-on: how the host delivers the working keys in F62."""

    SINGLE = "001"
    DOUBLE = "003"
    DOUBLE_TDK = "004"


@dataclass(frozen=True, slots=True)
class _Layout:
    pik_size_bytes: int
    mak_field_size_bytes: int  # the MAK is 8 bytes; 003/004 pad its field with 8 x 00
    has_tdk: bool
    f62_size_bytes: int


_LAYOUTS = {
    KeyMode.SINGLE: _Layout(8, 8, False, 24),
    KeyMode.DOUBLE: _Layout(16, 16, False, 40),
    KeyMode.DOUBLE_TDK: _Layout(16, 16, True, 60),
}
_MAK_SIZE_BYTES = 8
_TDK_SIZE_BYTES = 16


@dataclass(frozen=True, slots=True, repr=False)
class WorkingKeys:
    """Clear working keys. The repr shows sizes and check values, never key bytes.

    `pik` is 8 or 16 bytes, `mak` 8 (16 only for an acquirer's X9.19 MAC), `tdk` 16 or None.
    """

    pik: bytes = field(repr=False)
    mak: bytes = field(repr=False)
    tdk: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.pik) not in (8, 16):
            raise CryptoError(f"a PIK must be 8 or 16 bytes, not {len(self.pik)}")
        if len(self.mak) not in (8, 16):
            raise CryptoError(f"a MAK must be 8 or 16 bytes, not {len(self.mak)}")
        if self.tdk is not None and len(self.tdk) != _TDK_SIZE_BYTES:
            raise CryptoError(f"a TDK must be 16 bytes, not {len(self.tdk)}")

    def __repr__(self) -> str:
        def show(key: bytes | None) -> str:
            return "None" if key is None else f"<{len(key)} bytes, CV {check_value(key).hex()}>"

        return f"WorkingKeys(pik={show(self.pik)}, mak={show(self.mak)}, tdk={show(self.tdk)})"


def _mode(mode: KeyMode | str) -> KeyMode:
    try:
        return KeyMode(mode)
    except ValueError:
        raise CryptoError(f"key mode {mode!r} is not one of 001, 003, 004") from None


def _layout_for(tmk: bytes, mode: KeyMode | str) -> tuple[KeyMode, _Layout]:
    key_mode = _mode(mode)
    if len(tmk) not in (8, 16):
        raise CryptoError(f"a TMK must be 8 or 16 bytes, not {len(tmk)}")
    if key_mode is not KeyMode.SINGLE and len(tmk) != 16:
        # A single-length key must not protect double-length keys.
        raise CryptoError(f"key mode {key_mode} needs a 16-byte TMK, not {len(tmk)} bytes")
    return key_mode, _LAYOUTS[key_mode]


def _segments(layout: _Layout) -> list[tuple[int, int]]:
    """(key size, field size) of each key in F62 order: PIK, MAK, then TDK."""
    segments = [
        (layout.pik_size_bytes, layout.pik_size_bytes),
        (_MAK_SIZE_BYTES, layout.mak_field_size_bytes),
    ]
    if layout.has_tdk:
        segments.append((_TDK_SIZE_BYTES, _TDK_SIZE_BYTES))
    return segments


def unwrap_working_keys(tmk: bytes, f62: bytes, mode: KeyMode | str) -> tuple[WorkingKeys, bool]:
    """Decrypt the working keys of a sign-on response F62 under the TMK.

    Returns the clear keys and whether every check value matched. On False the terminal
    must not use the keys (the reference's "下载工作密钥失败, 请确认主密钥下载"). The 8 pad
    bytes after the MAK in modes 003/004 are not read; a host that meant a different MAK
    is caught by the check value.
    """
    key_mode, layout = _layout_for(tmk, mode)
    if len(f62) != layout.f62_size_bytes:
        raise CryptoError(
            f"F62 working keys for key mode {key_mode} must be {layout.f62_size_bytes} bytes,"
            f" got {len(f62)}"
        )
    keys: list[bytes] = []
    all_match = True
    position = 0
    for key_size, field_size in _segments(layout):
        clear = des_decrypt_ecb(tmk, f62[position : position + key_size])
        sent = f62[position + field_size : position + field_size + check_value_size_bytes]
        all_match &= hmac.compare_digest(check_value(clear), sent)
        keys.append(clear)
        position += field_size + check_value_size_bytes
    tdk = keys[2] if layout.has_tdk else None
    return WorkingKeys(pik=keys[0], mak=keys[1], tdk=tdk), all_match


def wrap_working_keys(tmk: bytes, keys: WorkingKeys, mode: KeyMode | str) -> bytes:
    """Build F62 of a sign-on response (host side): the exact inverse of the unwrap."""
    key_mode, layout = _layout_for(tmk, mode)
    wanted = {"PIK": layout.pik_size_bytes, "MAK": _MAK_SIZE_BYTES}
    actual = {"PIK": len(keys.pik), "MAK": len(keys.mak)}
    for name, size in wanted.items():
        if actual[name] != size:
            raise CryptoError(f"key mode {key_mode} needs a {size}-byte {name}, not {actual[name]}")
    clear_keys = [keys.pik, keys.mak]
    if layout.has_tdk:
        if keys.tdk is None:
            raise CryptoError(f"key mode {key_mode} needs a TDK")
        clear_keys.append(keys.tdk)
    elif keys.tdk is not None:
        raise CryptoError(f"key mode {key_mode} carries no TDK; use 004")
    parts: list[bytes] = []
    for clear, (_, field_size) in zip(clear_keys, _segments(layout), strict=True):
        encrypted = des_encrypt_ecb(tmk, clear)
        parts += [encrypted.ljust(field_size, b"\x00"), check_value(clear)]
    return b"".join(parts)


def _random_key(rand: Callable[[int], bytes], size: int) -> bytes:
    """A DES key of odd parity; halves that are weak or equal (single DES) are drawn again."""
    for _ in range(key_generation_attempts_max):
        raw = rand(size)
        if len(raw) != size:
            raise CryptoError(f"the random source gave {len(raw)} bytes, not {size}")
        key = adjust_key_parity(raw)
        halves = {key[i : i + 8] for i in range(0, size, 8)}
        if len(halves) == size // 8 and not halves & _WEAK_DES_KEYS:
            return key
    raise CryptoError("the random source keeps giving weak DES keys; check it")


def generate_working_keys(mode: KeyMode | str, rand: Callable[[int], bytes]) -> WorkingKeys:
    """Fresh working keys for a key mode (host side); the MAK is always 8 bytes."""
    layout = _LAYOUTS[_mode(mode)]
    pik = _random_key(rand, layout.pik_size_bytes)
    mak = _random_key(rand, _MAK_SIZE_BYTES)
    tdk = _random_key(rand, _TDK_SIZE_BYTES) if layout.has_tdk else None
    return WorkingKeys(pik=pik, mak=mak, tdk=tdk)


def parse_key_hex(text: str, lengths: tuple[int, ...] = (8, 16)) -> bytes:
    """Parse a key typed or configured as hex. The message never echoes the input."""
    digits = " or ".join(str(2 * n) for n in lengths)
    value = text.strip()
    if len(value) not in {2 * n for n in lengths} or not set(value) <= set(string.hexdigits):
        raise CryptoError(f"a key must be {digits} hex digits (0-9, A-F); check the value")
    return bytes.fromhex(value)
