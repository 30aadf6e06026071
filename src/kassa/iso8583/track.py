"""Track-data encryption with the TDK (UnionPay reference §4.4; 60.3 = 004, F53.3 = 1).

The track is taken as nibbles (`=` written as `D`). The 16 nibbles (8 bytes) that end at
the second-to-last nibble are replaced by their 3DES-ECB encryption under the TDK, written
back as 16 upper-case hex nibbles; everything else, the last nibble included, stays clear.
The encrypted track may then hold A-F, so F35/F36 must be packed as hex nibbles.
"""

from __future__ import annotations

from kassa.errors import CardError, CryptoError
from kassa.iso8583.keys import des_decrypt_ecb, des_encrypt_ecb

tdk_size_bytes = 16
track_nibbles_min = 17  # 16 encrypted nibbles + the clear last one
track_nibbles_max = 104  # track 3 (ISO 4909); track 2 is at most 37
_CLEAR_NIBBLES = frozenset("0123456789D")
_HEX_NIBBLES = frozenset("0123456789ABCDEF")


def _normalised(nibbles: str, allowed: frozenset[str], what: str) -> str:
    text = nibbles.upper().replace("=", "D")
    if len(text) < track_nibbles_min:
        raise CryptoError(
            f"{what} must be at least {track_nibbles_min} nibbles to encrypt, not {len(text)}"
        )
    if len(text) > track_nibbles_max:
        raise CardError(f"{what} must be at most {track_nibbles_max} nibbles, not {len(text)}")
    if not set(text) <= allowed:
        kinds = "digits and '=' or 'D'" if allowed is _CLEAR_NIBBLES else "hex digits"
        raise CardError(f"{what} may hold only {kinds}")
    return text


def _check_tdk(tdk: bytes) -> None:
    if len(tdk) != tdk_size_bytes:
        raise CryptoError(f"a TDK must be {tdk_size_bytes} bytes, not {len(tdk)}")


def encrypt_track(tdk: bytes, nibbles: str) -> str:
    """Encrypt clear track data (digits, `=` or `D`) for F35/F36; returns upper-case nibbles."""
    _check_tdk(tdk)
    text = _normalised(nibbles, _CLEAR_NIBBLES, "track data")
    block = des_encrypt_ecb(tdk, bytes.fromhex(text[-17:-1]))
    return text[:-17] + block.hex().upper() + text[-1]


def decrypt_track(tdk: bytes, nibbles: str) -> str:
    """Inverse of `encrypt_track` (host side); `=` comes back as `D`.

    Raises CryptoError when the result is not track data (wrong TDK or damaged field).
    """
    _check_tdk(tdk)
    text = _normalised(nibbles, _HEX_NIBBLES, "encrypted track data")
    block = des_decrypt_ecb(tdk, bytes.fromhex(text[-17:-1]))
    clear = text[:-17] + block.hex().upper() + text[-1]
    if not set(clear) <= _CLEAR_NIBBLES:
        raise CryptoError("decrypted track data is not digits: wrong TDK or damaged data")
    return clear
