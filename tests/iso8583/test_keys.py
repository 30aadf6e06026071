"""Working keys at sign-on: check values, F62 unwrap/wrap, generation, hex parsing."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import CryptoError
from kassa.iso8583 import keys as keys_module
from kassa.iso8583.keys import (
    KeyMode,
    WorkingKeys,
    check_value,
    des_decrypt_ecb,
    des_ecb_encryptor,
    des_encrypt_ecb,
    generate_working_keys,
    parse_key_hex,
    unwrap_working_keys,
    wrap_working_keys,
)

TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
PIK16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MAK = bytes.fromhex("C24A8FB57AA20123")
TDK = bytes.fromhex("1A2A3D4C5E0B1A2C4C5E6B7A8C9D0E1A")


def ecb(key: bytes, data: bytes, decrypt: bool = False) -> bytes:
    """DES (8-byte key) or two-key 3DES (16-byte key) straight from `cryptography`."""
    full = key * 3 if len(key) == 8 else key + key[:8]
    cipher = Cipher(TripleDES(full), modes.ECB())
    context = cipher.decryptor() if decrypt else cipher.encryptor()
    return context.update(data) + context.finalize()


def random_source(seed: int) -> Callable[[int], bytes]:
    """A reproducible random source for tests."""
    return random.Random(seed).randbytes


def test_des_known_answers() -> None:
    # Classic single-DES worked example (J. Orlin Grabbe, "The DES Algorithm Illustrated"):
    # key 133457799BBCDFF1, plaintext 0123456789ABCDEF -> 85E813540F0AB405.
    key = bytes.fromhex("133457799BBCDFF1")
    assert des_encrypt_ecb(key, bytes.fromhex("0123456789ABCDEF")) == bytes.fromhex(
        "85E813540F0AB405"
    )
    # psec.des.encrypt_tdes_ecb docstring: 0123456789ABCDEFFEDCBA9876543210, "12345678".
    assert des_encrypt_ecb(PIK16, b"12345678") == bytes.fromhex("41D2FFBA3CDC15FE")
    assert des_decrypt_ecb(PIK16, bytes.fromhex("41D2FFBA3CDC15FE")) == b"12345678"


def test_one_encryptor_gives_each_block_as_a_fresh_one_would() -> None:
    for key in (MAK, PIK16):
        encrypt = des_ecb_encryptor(key)
        blocks = [b"12345678", bytes(8), bytes.fromhex("0123456789ABCDEF"), b"12345678"]
        assert [encrypt(b) for b in blocks] == [ecb(key, b) for b in blocks]


def test_tmk_decrypts_a_published_working_key() -> None:
    # Worked example in blog.csdn.net/zhu244912654/article/details/80005341 ("MAC算法演示"):
    # TMK 70F2A84CCBC2AE8625CBB0F2C22AB923, TAK 96D605EA176B7E9E (cipher) = C24A8FB57AA20123.
    assert des_decrypt_ecb(TMK, bytes.fromhex("96D605EA176B7E9E")) == MAK


def test_check_value() -> None:
    # psec.des.generate_kcv docstring: KCV of 0123456789ABCDEFFEDCBA9876543210 starts 08D7.
    assert check_value(PIK16)[:2] == bytes.fromhex("08D7")
    assert check_value(PIK16) == ecb(PIK16, bytes(8))[:4]
    assert check_value(MAK) == ecb(MAK, bytes(8))[:4]
    assert len(check_value(MAK)) == 4
    with pytest.raises(CryptoError, match="8 or 16 bytes"):
        check_value(bytes(24))


def f62_from_first_principles(tdk: bool) -> bytes:
    """F62 of a 003/004 sign-on response built by hand from the §3.3 table."""
    pik_part = ecb(TMK, PIK16) + ecb(PIK16, bytes(8))[:4]
    mak_part = bytes.fromhex("96D605EA176B7E9E") + bytes(8) + ecb(MAK, bytes(8))[:4]
    tdk_part = ecb(TMK, TDK) + ecb(TDK, bytes(8))[:4] if tdk else b""
    return pik_part + mak_part + tdk_part


def test_unwrap_known_vector_mode_003_and_004() -> None:
    keys, ok = unwrap_working_keys(TMK, f62_from_first_principles(tdk=False), KeyMode.DOUBLE)
    assert ok
    assert (keys.pik, keys.mak, keys.tdk) == (PIK16, MAK, None)
    keys, ok = unwrap_working_keys(TMK, f62_from_first_principles(tdk=True), "004")
    assert ok
    assert (keys.pik, keys.mak, keys.tdk) == (PIK16, MAK, TDK)


def test_unwrap_known_vector_mode_001() -> None:
    tmk, pik = bytes.fromhex("0123456789ABCDEF"), bytes.fromhex("FEDCBA9876543210")
    f62 = ecb(tmk, pik) + ecb(pik, bytes(8))[:4] + ecb(tmk, MAK) + ecb(MAK, bytes(8))[:4]
    keys, ok = unwrap_working_keys(tmk, f62, KeyMode.SINGLE)
    assert ok
    assert (keys.pik, keys.mak, keys.tdk) == (pik, MAK, None)


@pytest.mark.parametrize("position", [16, 17, 18, 19, 36, 37, 38, 39, 56, 59])
def test_unwrap_reports_a_wrong_check_value(position: int) -> None:
    f62 = bytearray(f62_from_first_principles(tdk=True))
    f62[position] ^= 0x01
    _, ok = unwrap_working_keys(TMK, bytes(f62), KeyMode.DOUBLE_TDK)
    assert not ok


def test_unwrap_with_a_wrong_tmk_fails_the_check_values() -> None:
    wrong_tmk = bytes(reversed(TMK))
    _, ok = unwrap_working_keys(wrong_tmk, f62_from_first_principles(tdk=False), "003")
    assert not ok


@pytest.mark.parametrize(("mode", "size"), [("001", 24), ("003", 40), ("004", 60)])
def test_unwrap_wrong_f62_length_names_expected_and_actual(mode: str, size: int) -> None:
    with pytest.raises(CryptoError, match=f"must be {size} bytes, got {size - 1}"):
        unwrap_working_keys(TMK, bytes(size - 1), mode)


def test_unwrap_refuses_bad_tmk_and_mode() -> None:
    with pytest.raises(CryptoError, match="16-byte TMK"):
        unwrap_working_keys(bytes(8), bytes(40), KeyMode.DOUBLE)
    with pytest.raises(CryptoError, match="TMK must be 8 or 16"):
        unwrap_working_keys(bytes(24), bytes(24), KeyMode.SINGLE)
    with pytest.raises(CryptoError, match="not one of 001, 003, 004"):
        unwrap_working_keys(TMK, bytes(40), "002")


def test_wrap_is_the_exact_inverse_on_the_known_vector() -> None:
    keys = WorkingKeys(pik=PIK16, mak=MAK, tdk=TDK)
    assert wrap_working_keys(TMK, keys, KeyMode.DOUBLE_TDK) == f62_from_first_principles(True)


@given(
    st.sampled_from(list(KeyMode)),
    st.binary(min_size=16, max_size=16),
    st.integers(),
)
def test_wrap_unwrap_round_trip(mode: KeyMode, tmk: bytes, seed: int) -> None:
    keys = generate_working_keys(mode, random_source(seed))
    f62 = wrap_working_keys(tmk, keys, mode)
    assert len(f62) == {"001": 24, "003": 40, "004": 60}[mode.value]
    unwrapped, ok = unwrap_working_keys(tmk, f62, mode)
    assert ok
    assert unwrapped == keys
    assert wrap_working_keys(tmk, unwrapped, mode) == f62


def test_wrap_refuses_keys_that_do_not_fit_the_mode() -> None:
    with pytest.raises(CryptoError, match="16-byte PIK"):
        wrap_working_keys(TMK, WorkingKeys(pik=MAK, mak=MAK), KeyMode.DOUBLE)
    with pytest.raises(CryptoError, match="8-byte MAK"):
        wrap_working_keys(TMK, WorkingKeys(pik=PIK16, mak=PIK16), KeyMode.DOUBLE)
    with pytest.raises(CryptoError, match="needs a TDK"):
        wrap_working_keys(TMK, WorkingKeys(pik=PIK16, mak=MAK), KeyMode.DOUBLE_TDK)
    with pytest.raises(CryptoError, match="carries no TDK"):
        wrap_working_keys(TMK, WorkingKeys(pik=PIK16, mak=MAK, tdk=TDK), KeyMode.DOUBLE)


@given(st.sampled_from(list(KeyMode)), st.integers())
def test_generated_keys_have_odd_parity_and_mode_sizes(mode: KeyMode, seed: int) -> None:
    keys = generate_working_keys(mode, random_source(seed))
    sizes = {"001": (8, None), "003": (16, None), "004": (16, 16)}[mode.value]
    assert (len(keys.pik), keys.tdk and len(keys.tdk)) == sizes
    assert len(keys.mak) == 8
    for key in (keys.pik, keys.mak, keys.tdk or b""):
        assert all(bin(byte).count("1") % 2 == 1 for byte in key)


def test_weak_key_table_holds_weak_and_semi_weak_keys() -> None:
    # A weak key K gives E_K(E_K(x)) = x; a semi-weak pair gives E_K1(E_K2(x)) = x.
    table = keys_module._WEAK_DES_KEYS
    assert len(table) == 16
    block = bytes.fromhex("0123456789ABCDEF")
    for key in table:
        partners = [k for k in table if ecb(k, ecb(key, block)) == block]
        assert len(partners) == 1


def test_generation_draws_again_after_weak_or_degenerate_keys() -> None:
    weak = bytes.fromhex("0101010101010101")
    good = bytes.fromhex("0123456789ABCDEF")
    other = bytes.fromhex("FEDCBA9876543210")
    draws = iter([good * 2, good + other, weak, other, other + good])
    keys = generate_working_keys(KeyMode.DOUBLE_TDK, lambda n: next(draws)[:n])
    assert keys.pik == good + other  # the first draw was single DES in disguise
    assert keys.mak == other  # the weak key was drawn again
    assert keys.tdk == other + good


def test_generation_refuses_a_broken_random_source() -> None:
    with pytest.raises(CryptoError, match="gave 4 bytes, not 16"):
        generate_working_keys(KeyMode.DOUBLE, lambda n: bytes(4))
    with pytest.raises(CryptoError, match="weak DES keys"):
        generate_working_keys(KeyMode.SINGLE, bytes)


def test_working_keys_repr_shows_no_key_bytes() -> None:
    keys = WorkingKeys(pik=PIK16, mak=MAK, tdk=TDK)
    text = repr(keys) + str(keys)
    for key in (PIK16, MAK, TDK):
        assert key.hex() not in text.lower()
        assert repr(key) not in text
    assert check_value(MAK).hex() in text
    assert "tdk=None" in repr(WorkingKeys(pik=PIK16, mak=MAK))


def test_working_keys_refuse_wrong_lengths() -> None:
    with pytest.raises(CryptoError, match="PIK"):
        WorkingKeys(pik=bytes(7), mak=MAK)
    with pytest.raises(CryptoError, match="MAK"):
        WorkingKeys(pik=PIK16, mak=bytes(24))
    with pytest.raises(CryptoError, match="TDK"):
        WorkingKeys(pik=PIK16, mak=MAK, tdk=bytes(8))


def test_parse_key_hex() -> None:
    assert parse_key_hex("0123456789abcdef") == bytes.fromhex("0123456789ABCDEF")
    assert parse_key_hex(" 70F2A84CCBC2AE8625CBB0F2C22AB923\n") == TMK
    assert parse_key_hex("00" * 24, lengths=(24,)) == bytes(24)


@pytest.mark.parametrize(
    "text", ["", "0123456789ABCDE", "0123456789ABCDEG", "0123456789ABCDEF00", "01 23456789ABCDEF"]
)
def test_parse_key_hex_refuses_bad_input_without_echoing_it(text: str) -> None:
    with pytest.raises(CryptoError, match="must be 16 or 32 hex digits") as caught:
        parse_key_hex(text)
    if text:
        assert text not in str(caught.value)


def test_key_mode_values() -> None:
    assert [mode.value for mode in KeyMode] == ["001", "003", "004"]
