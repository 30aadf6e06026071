"""One-time codes: RFC 6238 vectors, the ±1 step window, replay, sealing, enrolment."""

from __future__ import annotations

import base64
import random
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from kassa.auth import new_totp_secret, provisioning_uri, totp_code, vault_sealer, verify_totp
from kassa.auth._totp import open_totp_secret, seal_totp_secret
from kassa.errors import CryptoError, InputError

# RFC 6238 Appendix B: the SHA1 seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
# (T in seconds, the 8-digit SHA1 code from the RFC's table). Our codes are 6 digits, the
# same HOTP value mod 10^6, i.e. the last six digits of the RFC's code.
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def test_rfc_secret_is_the_seed_in_base32() -> None:
    assert RFC_SECRET == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.mark.parametrize(("seconds", "code8"), RFC_VECTORS)
def test_rfc_6238_vectors(seconds: int, code8: str) -> None:
    step = seconds // 30
    assert totp_code(RFC_SECRET, step) == code8[-6:]
    assert verify_totp(RFC_SECRET, code8[-6:], seconds * 1000) == step


def test_rfc_vector_at_59_seconds() -> None:
    assert verify_totp(RFC_SECRET, "287082", 59_000) == 1
    assert verify_totp(RFC_SECRET, "287 082", 59_000) == 1
    assert verify_totp(RFC_SECRET, "287083", 59_000) is None
    assert verify_totp(RFC_SECRET, "94287082", 59_000) is None  # 8 digits are not our codes


def test_one_step_either_side() -> None:
    step = 1111111109 // 30
    code = "081804"
    for offset in (-1, 0, 1):
        assert verify_totp(RFC_SECRET, code, (step + offset) * 30_000 + 5_000) == step
    for offset in (-2, 2):
        assert verify_totp(RFC_SECRET, code, (step + offset) * 30_000 + 5_000) is None


def test_replay_of_a_used_step_is_refused() -> None:
    now_ms = 1111111111 * 1000
    step = verify_totp(RFC_SECRET, "050471", now_ms)
    assert step == 1111111111 // 30
    assert verify_totp(RFC_SECRET, "050471", now_ms + 1_000, last_step=step) is None
    # The previous step's code is still in the window but older than the one used: refused.
    previous = totp_code(RFC_SECRET, step - 1)
    assert verify_totp(RFC_SECRET, previous, now_ms, last_step=step) is None
    assert verify_totp(RFC_SECRET, previous, now_ms, last_step=step - 2) == step - 1
    following = totp_code(RFC_SECRET, step + 1)
    assert verify_totp(RFC_SECRET, following, now_ms + 30_000, last_step=step) == step + 1


@pytest.mark.parametrize("code", ["", "28708", "2870820", "abcdef", "２８７０８２", "28708\n"])
def test_malformed_codes_fail(code: str) -> None:
    assert verify_totp(RFC_SECRET, code, 59_000) is None


def test_new_secret_is_twenty_random_bytes_in_base32() -> None:
    raw = bytes(range(20))
    secret = new_totp_secret(lambda n: raw[:n])
    assert len(secret) == 32
    assert base64.b32decode(secret) == raw


def test_provisioning_uri() -> None:
    uri = provisioning_uri(RFC_SECRET, "zhang.wei")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Kassa:zhang.wei"
    query = parse_qs(parts.query)
    assert query["secret"] == [RFC_SECRET]
    assert query["issuer"] == ["Kassa"]
    assert "Bank" in unquote(provisioning_uri(RFC_SECRET, "01", issuer="Bank"))


def test_bad_secret_is_an_input_error() -> None:
    with pytest.raises(InputError):
        verify_totp("not*base32", "287082", 59_000)
    with pytest.raises(InputError):
        verify_totp("GEZDGNBV", "287082", 59_000)  # 40 bits: too short for RFC 4226
    with pytest.raises(InputError):
        verify_totp(RFC_SECRET, "287082", -1)


def test_sealed_secret_opens_only_for_its_operator() -> None:
    seal, open_sealed = vault_sealer(bytes(range(32)), random.Random(5).randbytes)
    sealed = seal_totp_secret(RFC_SECRET, "sup1", seal)
    assert RFC_SECRET.encode() not in sealed
    assert open_totp_secret(sealed, "sup1", open_sealed) == RFC_SECRET
    with pytest.raises(CryptoError):
        open_totp_secret(sealed, "sup2", open_sealed)
    _, other_key = vault_sealer(bytes(32), random.Random(5).randbytes)
    with pytest.raises(CryptoError):
        open_totp_secret(sealed, "sup1", other_key)
