"""Argon2id password hashes: published vectors, parameters, rehash."""

from __future__ import annotations

import random

import pytest
from argon2 import profiles

from kassa.auth import (
    HASH_DEFAULT,
    HASH_FAST,
    HashParams,
    hash_password,
    needs_rehash,
    verify_password,
)
from kassa.errors import ConfigError, CryptoError

# The Argon2 reference implementation's test vectors (phc-winner-argon2, src/test.c,
# version 0x13, Argon2id), password "password", salt "somesalt".
REFERENCE_M64M = (
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
)
REFERENCE_M256 = (
    "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"
)


@pytest.mark.parametrize("reference", [REFERENCE_M64M, REFERENCE_M256])
def test_reference_vectors_verify(reference: str) -> None:
    assert verify_password(reference, "password")
    assert not verify_password(reference, "Password")
    assert not verify_password(reference, "password ")


def test_defaults_are_rfc_9106_second_recommendation() -> None:
    # RFC 9106 section 4, "SECOND RECOMMENDED option", as argon2-cffi publishes it.
    rfc = profiles.RFC_9106_LOW_MEMORY
    assert (HASH_DEFAULT.time_cost, HASH_DEFAULT.memory_kib, HASH_DEFAULT.parallelism) == (
        rfc.time_cost,
        rfc.memory_cost,
        rfc.parallelism,
    )
    assert (HASH_DEFAULT.hash_len, HASH_DEFAULT.salt_len) == (32, 16)


def test_hash_carries_its_parameters_and_salt() -> None:
    salt = bytes(range(16))
    hashed = hash_password("739155", HASH_FAST, lambda n: salt[:n])
    assert hashed.startswith("$argon2id$v=19$m=8,t=1,p=1$AAECAwQFBgcICQoLDA0ODw$")
    assert verify_password(hashed, "739155")
    assert not verify_password(hashed, "739156")


def test_salt_comes_from_rand() -> None:
    rand = random.Random(1).randbytes
    first, second = (
        hash_password("739155", HASH_FAST, rand),
        hash_password("739155", HASH_FAST, rand),
    )
    assert first != second
    assert verify_password(first, "739155") and verify_password(second, "739155")
    with pytest.raises(AssertionError):
        hash_password("739155", HASH_FAST, lambda n: b"short")


def test_passwords_are_normalised_before_hashing() -> None:
    hashed = hash_password(
        "\uff17\uff13\uff19\uff11\uff15\uff15", HASH_FAST, random.Random(2).randbytes
    )
    assert verify_password(hashed, "739155")


def test_overlong_passwords_are_wrong_without_hashing() -> None:
    longest = "Harbour-lamp-" * 9 + "x" * 11  # 128 characters, the most a policy allows
    hashed = hash_password(longest, HASH_FAST, random.Random(4).randbytes)
    assert verify_password(hashed, longest)
    assert not verify_password(hashed, longest + "y")
    assert not verify_password(hashed, "x" * 10_000_000)


def test_needs_rehash_when_parameters_change() -> None:
    hashed = hash_password("739155", HASH_FAST, random.Random(3).randbytes)
    assert not needs_rehash(hashed, HASH_FAST)
    assert needs_rehash(hashed, HashParams(time_cost=2, memory_kib=8, parallelism=1))
    assert needs_rehash(REFERENCE_M256, HASH_DEFAULT)
    assert needs_rehash("not a hash", HASH_FAST)


def test_damaged_hash_is_an_error() -> None:
    with pytest.raises(CryptoError, match="reset"):
        verify_password("$2b$12$notargon", "739155")


@pytest.mark.parametrize(
    "fields",
    [
        {"time_cost": 0, "memory_kib": 8, "parallelism": 1},
        {"time_cost": 1, "memory_kib": 8, "parallelism": 0},
        {"time_cost": 1, "memory_kib": 15, "parallelism": 2},
        {"time_cost": 1, "memory_kib": 8, "parallelism": 1, "hash_len": 8},
        {"time_cost": 1, "memory_kib": 8, "parallelism": 1, "salt_len": 8},
    ],
)
def test_parameter_bounds(fields: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        HashParams(**fields)
