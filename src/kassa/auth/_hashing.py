"""Password hashes: Argon2id with explicit, documented parameters (pure; salt passed in).

Default parameters (`HASH_DEFAULT`) are RFC 9106 section 4's second recommended option,
for machines that cannot spend 2 GiB per hash: Argon2id, t=3 passes, m=64 MiB,
p=4 lanes, 16-byte salt, 32-byte tag. They are also what argon2-cffi 25.1 uses by default,
and stronger than OWASP's floor (m=19 MiB, t=2, p=1). One hash costs about 50-100 ms on a
server core; a POS terminal with little memory may pass its own `HashParams`.

The parameters travel inside every hash (``$argon2id$v=19$m=65536,t=3,p=4$...``), so a
hash made with old parameters still verifies, and `needs_rehash` says when to replace it
(done on the next successful login). `HASH_FAST` exists only to keep the tests fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from kassa.auth._policy import normalize_password, password_length_max
from kassa.errors import ConfigError, CryptoError

Rand = Callable[[int], bytes]

salt_size_min_bytes = 16  # RFC 9106 section 3.1 recommends 128 bits


@dataclass(frozen=True, slots=True)
class HashParams:
    """Argon2id cost parameters: passes, memory in KiB, lanes, tag and salt sizes."""

    time_cost: int
    memory_kib: int
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ConfigError("argon2 time_cost and parallelism must be at least 1")
        if self.memory_kib < 8 * self.parallelism:
            raise ConfigError(
                f"argon2 memory must be at least 8 KiB per lane ({8 * self.parallelism} KiB)"
            )
        if self.hash_len < 16 or self.salt_len < salt_size_min_bytes:
            raise ConfigError(
                f"argon2 hash_len must be at least 16 and salt_len at least {salt_size_min_bytes}"
            )


HASH_DEFAULT = HashParams(time_cost=3, memory_kib=64 * 1024, parallelism=4)
HASH_FAST = HashParams(time_cost=1, memory_kib=8, parallelism=1)  # tests only


@lru_cache(maxsize=8)
def _hasher(params: HashParams) -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        type=argon2.Type.ID,
    )


def hash_password(password: str, params: HashParams, rand: Rand) -> str:
    """The Argon2id hash (PHC string) of `password`, salted with `params.salt_len` bytes of rand."""
    salt = rand(params.salt_len)
    if len(salt) != params.salt_len:
        raise AssertionError(f"rand gave {len(salt)} bytes, asked {params.salt_len}")
    return _hasher(params).hash(normalize_password(password), salt=salt)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`, whatever parameters made the hash.

    A password longer than any policy allows is wrong without hashing it, so a login
    form cannot be made to hash megabytes. Raises `CryptoError` for a stored hash that is
    not an Argon2 hash (damaged data).
    """
    # NFKC may lengthen text (one ligature can become 18 characters): bound it before too.
    if len(password) > 4 * password_length_max:
        return False
    password = normalize_password(password)
    if len(password) > password_length_max:
        return False
    try:
        # verify() reads type and cost from the hash itself; HASH_FAST's hasher is cheap.
        return _hasher(HASH_FAST).verify(password_hash, password)
    except VerificationError:
        return False
    except InvalidHashError:
        raise CryptoError(
            "a stored password hash is damaged: reset that operator's password"
        ) from None


def needs_rehash(password_hash: str, params: HashParams) -> bool:
    """Whether `password_hash` was made with other parameters than `params`."""
    try:
        return _hasher(params).check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


@lru_cache(maxsize=8)
def _dummy_hash(params: HashParams) -> str:
    # A fixed salt is fine: this hash protects nothing, it only costs the same time.
    return _hasher(params).hash("kassa-no-such-operator", salt=bytes(params.salt_len))


def burn_verify(password: str, params: HashParams) -> None:
    """Spend the time of one verification, for an operator that does not exist.

    Answering an unknown operator id faster than a wrong password would tell which ids exist.
    """
    verify_password(_dummy_hash(params), password)
