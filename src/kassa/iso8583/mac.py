"""Message authentication codes for F64 (UnionPay reference §4.1).

The default is the UnionPay POS "ECB" MAC (POS终端MAC算法, Q/CUP 007):

1. MAB = the message from the MTI up to the last field before F64, zero-padded to a
   multiple of 8 bytes (the caller builds the MAB; see the codec).
2. XOR all 8-byte blocks into one RESULT BLOCK; write it as 16 upper-case hex ASCII.
3. ENC1 = E_MAK(first 8 ASCII); ENC2 = E_MAK(ENC1 XOR last 8 ASCII).
4. F64 = the first 8 characters of ENC2 in upper-case hex, as 8 ASCII bytes.

E_MAK is single DES with the 8-byte MAK; a 16-byte MAK (some acquirers) gives 3DES.
Two acquirer options give a binary 8-byte F64 instead: ANSI X9.9 (single-DES CBC-MAC,
zero IV, zero padding: ISO/IEC 9797-1 algorithm 1, padding 1) and ANSI X9.19 (retail MAC:
DES CBC under the left key half, the last block through 3DES; ISO/IEC 9797-1 algorithm 3).
"""

from __future__ import annotations

import hmac
from enum import StrEnum

from psec.mac import pad_iso_1

from kassa.errors import CryptoError
from kassa.iso8583.keys import (
    des_block_size_bytes,
    des_ecb_encryptor,
    des_encrypt_cbc,
    des_encrypt_ecb,
)

mac_size_bytes = 8


class MacAlgorithm(StrEnum):
    """How F64 is computed; ECB is UnionPay's, the others are per-acquirer options."""

    ECB = "ecb"
    X99 = "x9.9"
    X919 = "x9.19"


_KEY_SIZES_BYTES = {
    MacAlgorithm.ECB: (8, 16),
    MacAlgorithm.X99: (8,),
    MacAlgorithm.X919: (16,),
}


def _xor(left: bytes, right: bytes) -> bytes:
    if len(left) != len(right):
        raise ValueError("XOR of blocks of different sizes")
    size = len(left)
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(size, "big")


def _padded(mab: bytes) -> bytes:
    if not mab:
        # A MAB always holds at least the MTI; an empty one is a caller bug.
        raise CryptoError("the MAC input block is empty; pass the message from the MTI on")
    return pad_iso_1(mab, des_block_size_bytes)


def _ecb_mac(mak: bytes, mab: bytes) -> bytes:
    padded = _padded(mab)
    result = 0
    for start in range(0, len(padded), des_block_size_bytes):
        result ^= int.from_bytes(padded[start : start + des_block_size_bytes], "big")
    result_hex = result.to_bytes(des_block_size_bytes, "big").hex().upper().encode("ascii")
    encrypt = des_ecb_encryptor(mak)  # one cipher context for both blocks
    enc1 = encrypt(result_hex[:8])
    enc2 = encrypt(_xor(enc1, result_hex[8:]))
    return enc2.hex().upper()[:8].encode("ascii")


def _x99_mac(mak: bytes, mab: bytes) -> bytes:
    return des_encrypt_cbc(mak, _padded(mab))[-des_block_size_bytes:]


def _x919_mac(mak: bytes, mab: bytes) -> bytes:
    padded = _padded(mab)
    left = mak[:des_block_size_bytes]
    chain = bytes(des_block_size_bytes)
    if len(padded) > des_block_size_bytes:
        chain = des_encrypt_cbc(left, padded[:-des_block_size_bytes])[-des_block_size_bytes:]
    # 3DES with K1=left, K2=right is E_left(D_right(E_left(x))): the X9.19 output step.
    return des_encrypt_ecb(mak, _xor(chain, padded[-des_block_size_bytes:]))


_COMPUTE = {
    MacAlgorithm.ECB: _ecb_mac,
    MacAlgorithm.X99: _x99_mac,
    MacAlgorithm.X919: _x919_mac,
}


def _algorithm(algorithm: MacAlgorithm | str) -> MacAlgorithm:
    try:
        return MacAlgorithm(algorithm)
    except ValueError:
        raise CryptoError(f"MAC algorithm {algorithm!r} is not one of ecb, x9.9, x9.19") from None


def compute_mac(mak: bytes, mab: bytes, algorithm: MacAlgorithm | str = MacAlgorithm.ECB) -> bytes:
    """The 8 bytes of F64 for a MAB under the MAK.

    ECB gives 8 ASCII hex characters; X9.9 and X9.19 give the 8 binary bytes of the MAC.
    A MAK of the wrong length for the algorithm raises CryptoError (ECB: 8 or 16 bytes,
    X9.9: 8, X9.19: 16).
    """
    chosen = _algorithm(algorithm)
    sizes = _KEY_SIZES_BYTES[chosen]
    if len(mak) not in sizes:
        wanted = " or ".join(str(n) for n in sizes)
        raise CryptoError(f"a MAK for the {chosen} MAC must be {wanted} bytes, not {len(mak)}")
    return _COMPUTE[chosen](mak, mab)


def verify_mac(
    mak: bytes, mab: bytes, mac: bytes, algorithm: MacAlgorithm | str = MacAlgorithm.ECB
) -> bool:
    """Whether `mac` (F64 as received) is right for the MAB, compared in constant time.

    A wrong MAC is a business outcome (response code A0), so it returns False; only a
    wrong key or an empty MAB raises.
    """
    return hmac.compare_digest(compute_mac(mak, mab, algorithm), mac)
