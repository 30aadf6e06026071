"""Host-side storage crypto: AES-256-GCM seals, HMAC look-ups, PIN values, HKDF."""

from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import CryptoError, InputError
from kassa.vault import (
    derive_key,
    hkdf_sha256,
    lookup_hash,
    open_sealed,
    pin_verification_value,
    seal,
    verify_pin,
)

KEY = bytes(range(32))
NONCE = bytes(range(12))

# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)" (2005), Appendix B.
GCM_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_PT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_CT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
)


class GcmVector(NamedTuple):
    key: bytes
    iv: bytes
    plaintext: bytes
    aad: bytes
    ciphertext: bytes
    tag: str


GCM_VECTORS = {
    # Test Case 14: 256-bit zero key, one zero block.
    "case 14": GcmVector(
        bytes(32),
        bytes(12),
        bytes(16),
        b"",
        bytes.fromhex("cea7403d4d606b6e074ec5d3baf39d18"),
        "d0d1c8a799996bf0265b98b5d48ab919",
    ),
    # Test Case 15: four blocks, no AAD.
    "case 15": GcmVector(GCM_KEY, GCM_IV, GCM_PT, b"", GCM_CT, "b094dac5d93471bdec1a502270e3cc6c"),
    # Test Case 16: 60 bytes with 20 bytes of AAD.
    "case 16": GcmVector(
        GCM_KEY,
        GCM_IV,
        GCM_PT[:60],
        bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
        GCM_CT[:60],
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ),
}


@pytest.mark.parametrize("name", sorted(GCM_VECTORS))
def test_seal_gcm_spec_vectors(name: str) -> None:
    v = GCM_VECTORS[name]
    blob = seal(v.key, v.plaintext, v.aad, v.iv)
    assert blob == b"\x01" + v.iv + v.ciphertext + bytes.fromhex(v.tag)
    assert open_sealed(v.key, blob, v.aad) == v.plaintext


@given(st.binary(max_size=300), st.binary(max_size=40), st.binary(min_size=12, max_size=12))
def test_seal_round_trip(plaintext: bytes, aad: bytes, nonce: bytes) -> None:
    assert open_sealed(KEY, seal(KEY, plaintext, aad, nonce), aad) == plaintext


@given(st.binary(min_size=1, max_size=64), st.data())
def test_any_changed_byte_is_refused(plaintext: bytes, data: st.DataObject) -> None:
    blob = seal(KEY, plaintext, b"pan/42", NONCE)
    position = data.draw(st.integers(0, len(blob) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = blob[:position] + bytes([blob[position] ^ flip]) + blob[position + 1 :]
    with pytest.raises(CryptoError, match="cannot be decrypted: wrong key or damaged data"):
        open_sealed(KEY, tampered, b"pan/42")


def test_wrong_key_aad_or_shape_is_refused() -> None:
    blob = seal(KEY, b"6225880112345678", b"pan/42", NONCE)
    message = "cannot be decrypted: wrong key or damaged data"
    with pytest.raises(CryptoError, match=message):
        open_sealed(bytes(32), blob, b"pan/42")
    with pytest.raises(CryptoError, match=message):
        open_sealed(KEY, blob, b"pan/43")
    with pytest.raises(CryptoError, match=message):
        open_sealed(KEY, blob[:28], b"pan/42")
    with pytest.raises(CryptoError, match=message):
        open_sealed(KEY, blob + b"\x00", b"pan/42")
    with pytest.raises(CryptoError, match="storage key must be 32 bytes"):
        seal(bytes(16), b"x", b"", NONCE)
    with pytest.raises(CryptoError, match="nonce must be 12 bytes"):
        seal(KEY, b"x", b"", bytes(16))


def test_hkdf_rfc_5869_test_case_1() -> None:
    okm = hkdf_sha256(
        bytes.fromhex("0b" * 22),
        bytes.fromhex("000102030405060708090a0b0c"),
        bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        42,
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def hkdf_by_hand(master: bytes, info: bytes) -> bytes:
    """RFC 5869 §2.2-2.3 for one output block, salt absent (= 32 zero bytes)."""
    prk = hmac.new(bytes(32), master, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_derive_key_is_hkdf_with_a_purpose_label() -> None:
    master = bytes(range(100, 148))
    assert derive_key(master, "pan") == hkdf_by_hand(master, b"kassa/pan")
    keys = {purpose: derive_key(master, purpose) for purpose in ("tmk", "pan", "pan-lookup", "pvk")}
    assert len(set(keys.values())) == 4
    assert all(len(key) == 32 for key in keys.values())
    assert derive_key(master, "pvk") == keys["pvk"]


@pytest.mark.parametrize("purpose", ["", "PAN", "pan lookup", "pan/x", "é"])
def test_derive_key_refuses_odd_purposes(purpose: str) -> None:
    with pytest.raises(CryptoError, match="purpose"):
        derive_key(KEY, purpose)


def test_derive_key_refuses_a_short_master() -> None:
    with pytest.raises(CryptoError, match="at least 32 bytes"):
        derive_key(bytes(16), "pan")


def test_lookup_hash_is_hmac_sha256() -> None:
    # RFC 4231 test case 6: 131-byte key 0xaa, "Test Using Larger Than Block-Size Key - Hash
    # Key First".
    key = b"\xaa" * 131
    text = "Test Using Larger Than Block-Size Key - Hash Key First"
    assert lookup_hash(key, text) == (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )
    assert lookup_hash(KEY, "6225880112345678") != lookup_hash(KEY, "6225880112345679")
    with pytest.raises(CryptoError, match="look-up key"):
        lookup_hash(bytes(16), "6225880112345678")


def test_pin_verification_value() -> None:
    pvk, pan = derive_key(KEY, "pvk"), "6225880112345678"
    pvv = pin_verification_value(pvk, pan, "123456")
    assert pvv == hmac.new(pvk, b"6225880112345678:123456", hashlib.sha256).hexdigest()
    assert verify_pin(pvk, pan, "123456", pvv)
    assert not verify_pin(pvk, pan, "123457", pvv)
    assert not verify_pin(pvk, pan, "12a456", pvv)
    assert not verify_pin(pvk, pan, "123456", pvv.upper())
    assert not verify_pin(derive_key(KEY, "pan"), pan, "123456", pvv)
    assert pin_verification_value(pvk, "6225880112345679", "123456") != pvv


def test_pin_verification_value_refuses_bad_input_without_echoing_the_pin() -> None:
    pvk = derive_key(KEY, "pvk")
    with pytest.raises(InputError, match="PIN must be") as caught:
        pin_verification_value(pvk, "6225880112345678", "12a")
    assert "12a" not in str(caught.value)
    with pytest.raises(InputError, match="card number"):
        pin_verification_value(pvk, "62258801", "1234")
    with pytest.raises(CryptoError, match="PIN verification key"):
        pin_verification_value(bytes(8), "6225880112345678", "1234")
