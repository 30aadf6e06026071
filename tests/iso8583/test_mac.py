"""F64 MACs: UnionPay ECB (default), ANSI X9.9 and ANSI X9.19."""

from __future__ import annotations

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import CryptoError
from kassa.iso8583.mac import MacAlgorithm, compute_mac, verify_mac

keys8 = st.binary(min_size=8, max_size=8)
mabs = st.binary(min_size=1, max_size=200)


def des(key: bytes, block: bytes) -> bytes:
    """Single DES straight from `cryptography` (K1=K2=K3), independent of kassa's helpers."""
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def reference_ecb_mac(mak: bytes, mab: bytes) -> bytes:
    """The UnionPay ECB MAC step by step, as the reference §4.1 writes it."""
    padded = mab + bytes(-len(mab) % 8)
    result = bytes(8)
    for start in range(0, len(padded), 8):
        result = xor(result, padded[start : start + 8])
    hex16 = result.hex().upper().encode("ascii")
    enc1 = des(mak, hex16[:8])
    enc2 = des(mak, xor(enc1, hex16[8:]))
    return enc2.hex().upper()[:8].encode("ascii")


def test_ecb_mac_published_worked_example() -> None:
    # Worked example in github.com/solo123/pgate test/integration/pos_mac_test.rb
    # ("POS MAC加密算法"): MAB 1234567890ABCDEFABCDEF1234567890, MAK 2222222222222222;
    # XOR B9F9B96AA4FDB57F, ENC1 9FDE90A34CF73B2E, ENC2 E267B6E21913D339, MAC "E267B6E2".
    mab = bytes.fromhex("1234567890ABCDEFABCDEF1234567890")
    mak = bytes.fromhex("2222222222222222")
    assert compute_mac(mak, mab) == b"E267B6E2"
    assert compute_mac(mak, mab, MacAlgorithm.ECB) == b"E267B6E2"
    assert verify_mac(mak, mab, b"E267B6E2")


@given(keys8, mabs)
def test_ecb_mac_matches_the_step_by_step_algorithm(mak: bytes, mab: bytes) -> None:
    assert compute_mac(mak, mab) == reference_ecb_mac(mak, mab)


@given(keys8, mabs)
def test_ecb_mac_is_eight_upper_case_hex_characters(mak: bytes, mab: bytes) -> None:
    mac = compute_mac(mak, mab)
    assert len(mac) == 8
    assert set(mac.decode("ascii")) <= set("0123456789ABCDEF")


@given(keys8, st.binary(min_size=1, max_size=50))
def test_ecb_mac_zero_padding_is_implicit(mak: bytes, mab: bytes) -> None:
    # A MAB not aligned to 8 bytes is padded with 0x00, so adding the pad changes nothing.
    assert compute_mac(mak, mab) == compute_mac(mak, mab + bytes(-len(mab) % 8))


def test_ecb_mac_with_double_length_mak_equal_halves_is_single_des() -> None:
    mab = bytes.fromhex("1234567890ABCDEFABCDEF1234567890")
    mak = bytes.fromhex("2222222222222222")
    assert compute_mac(mak * 2, mab) == b"E267B6E2"


def test_x99_fips_113_vector() -> None:
    # FIPS PUB 113 (Computer Data Authentication) example, as quoted in RustCrypto's `daa`
    # crate docs: key 0123456789ABCDEF, text "7654321 Now is the time for " -> F1D30F6849312CA4.
    mak = bytes.fromhex("0123456789ABCDEF")
    mac = compute_mac(mak, b"7654321 Now is the time for ", MacAlgorithm.X99)
    assert mac == bytes.fromhex("F1D30F6849312CA4")


@pytest.mark.parametrize(
    ("data", "mac_prefix"),
    [
        # ISO/IEC 9797-1:2011 Annex B.4 (MAC algorithm 3, padding 1), as quoted in
        # Leon Lynch's crypto_tdes2_retail_mac_test.c; only 4 bytes of the MAC are published.
        (b"Now is the time for all ", "A1C72E74"),
        (b"Now is the time for it", "2E2B1428"),
    ],
)
def test_x919_iso_9797_annex_b_vectors(data: bytes, mac_prefix: str) -> None:
    mak = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    assert compute_mac(mak, data, MacAlgorithm.X919)[:4] == bytes.fromhex(mac_prefix)


def test_x919_psec_vector() -> None:
    # psec tests/test_mac.py test_generate_retail_mac, padding 1: key1 = b"A" * 16 and
    # key2 = b"B" * 16 are double-length keys with equal halves, i.e. the single DES keys
    # b"AAAAAAAA" (left) and b"BBBBBBBB" (right) of an X9.19 MAK.
    mac = compute_mac(b"AAAAAAAABBBBBBBB", b"hello world", MacAlgorithm.X919)
    assert mac == bytes.fromhex("3DDE5C5511661CBF")


@given(keys8, mabs)
def test_x919_with_equal_halves_is_x99(key: bytes, mab: bytes) -> None:
    assert compute_mac(key * 2, mab, "x9.19") == compute_mac(key, mab, "x9.9")


@pytest.mark.parametrize(
    ("algorithm", "bad_size"),
    [
        (MacAlgorithm.ECB, 7),
        (MacAlgorithm.ECB, 24),
        (MacAlgorithm.X99, 16),
        (MacAlgorithm.X919, 8),
        (MacAlgorithm.X919, 24),
    ],
)
def test_wrong_key_length_is_a_crypto_error(algorithm: MacAlgorithm, bad_size: int) -> None:
    with pytest.raises(CryptoError, match="MAK"):
        compute_mac(bytes(bad_size), b"0200", algorithm)


def test_empty_mab_and_unknown_algorithm_are_crypto_errors() -> None:
    with pytest.raises(CryptoError, match="empty"):
        compute_mac(bytes(8), b"")
    with pytest.raises(CryptoError, match="not one of"):
        compute_mac(bytes(8), b"0200", "cmac")


@given(keys8, mabs, st.data())
def test_verify_rejects_any_changed_byte(mak: bytes, mab: bytes, data: st.DataObject) -> None:
    for algorithm in (MacAlgorithm.ECB, MacAlgorithm.X99):
        mac = compute_mac(mak, mab, algorithm)
        assert verify_mac(mak, mab, mac, algorithm)
        position = data.draw(st.integers(0, len(mab) - 1))
        flip = data.draw(st.integers(1, 255))
        changed = mab[:position] + bytes([mab[position] ^ flip]) + mab[position + 1 :]
        assert not verify_mac(mak, changed, mac, algorithm)


def test_verify_is_false_for_a_wrong_length_or_case_mac() -> None:
    mab = bytes.fromhex("1234567890ABCDEFABCDEF1234567890")
    mak = bytes.fromhex("2222222222222222")
    assert not verify_mac(mak, mab, b"E267B6E")
    assert not verify_mac(mak, mab, b"e267b6e2")
    assert not verify_mac(mak, mab, b"")
