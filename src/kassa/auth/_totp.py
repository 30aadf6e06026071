"""One-time codes (TOTP, RFC 6238) for supervisors and console admins (pure).

Codes are the common authenticator-app kind: HMAC-SHA1, 6 digits, 30-second steps, so
any authenticator (Google/Microsoft Authenticator, 腾讯身份验证器) can be enrolled from
`provisioning_uri`. A code is accepted one step early or late (clock drift, RFC 6238
section 5.2), and a step once used is never accepted again, nor any step before it
(RFC 6238 section 5.2: "MUST NOT accept the second attempt of the OTP"): the caller keeps
the last accepted step in the operator record.

Secrets rest sealed. The pure core never sees the key: it takes `Seal` / `Open`
callables; `vault_sealer` builds them over `kassa.vault` (AES-256-GCM), with the
operator id as associated data so a secret copied to another operator's row does not open.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable

import pyotp

from kassa import vault
from kassa.errors import InputError

Rand = Callable[[int], bytes]
Seal = Callable[[bytes, bytes], bytes]  # (plaintext, aad) -> sealed blob
Open = Callable[[bytes, bytes], bytes]  # (sealed blob, aad) -> plaintext; raises if tampered

totp_step_ms = 30_000
totp_digits = 6
totp_window_steps = 1
totp_secret_size_bytes = 20  # 160 bits, the HMAC-SHA1 key size RFC 4226 section 4 asks for


def new_totp_secret(rand: Rand) -> str:
    """A new TOTP secret: 20 random bytes in base32 (32 letters, no padding)."""
    raw = rand(totp_secret_size_bytes)
    if len(raw) != totp_secret_size_bytes:
        raise AssertionError(f"rand gave {len(raw)} bytes, asked {totp_secret_size_bytes}")
    return base64.b32encode(raw).decode("ascii")


def _otp(secret: str) -> pyotp.TOTP:
    try:
        return pyotp.TOTP(secret, digits=totp_digits, interval=totp_step_ms // 1000)
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        raise InputError(f"a TOTP secret must be base32 of at least 14 bytes: {exc}") from None


def provisioning_uri(secret: str, operator_id: str, issuer: str = "Kassa") -> str:
    """The ``otpauth://totp/...`` URI an authenticator app enrolls from (shown as a QR code)."""
    return _otp(secret).provisioning_uri(name=operator_id, issuer_name=issuer)


def totp_step(now_ms: int) -> int:
    """The 30-second step number of the time `now_ms` (UTC milliseconds)."""
    if now_ms < 0:
        raise InputError(f"a time must not be before 1970: {now_ms} ms")
    return now_ms // totp_step_ms


def totp_code(secret: str, step: int) -> str:
    """The 6-digit code of `secret` for `step` (what the authenticator app shows)."""
    return _otp(secret).generate_otp(step)


def verify_totp(secret: str, code: str, now_ms: int, last_step: int | None = None) -> int | None:
    """The step `code` belongs to, if it is valid at `now_ms` and not replayed; else None.

    Accepts the current step and one either side. A step at or before `last_step` (the
    last one accepted for this operator) is refused: that code, or an older one, was
    already used. Spaces in `code` are ignored ("287 082").
    """
    typed = "".join(code.split())
    if len(typed) != totp_digits or not (typed.isascii() and typed.isdigit()):
        return None
    otp = _otp(secret)
    current = totp_step(now_ms)
    for step in range(current - totp_window_steps, current + totp_window_steps + 1):
        if step < 0 or (last_step is not None and step <= last_step):
            continue
        if hmac.compare_digest(otp.generate_otp(step).encode(), typed.encode()):
            return step
    return None


def totp_aad(operator_id: str) -> bytes:
    """Associated data that binds a sealed TOTP secret to its operator."""
    return b"kassa/auth/totp/" + operator_id.encode("utf-8")


def seal_totp_secret(secret: str, operator_id: str, seal: Seal) -> bytes:
    """`secret` sealed for storage in `operator_id`'s record."""
    return seal(secret.encode("ascii"), totp_aad(operator_id))


def open_totp_secret(sealed: bytes, operator_id: str, open_sealed: Open) -> str:
    """The secret sealed by `seal_totp_secret` (raises `CryptoError` when it does not open)."""
    return open_sealed(sealed, totp_aad(operator_id)).decode("ascii")


def vault_sealer(key: bytes, rand: Rand) -> tuple[Seal, Open]:
    """A `Seal` / `Open` pair over `kassa.vault` with a 32-byte key (e.g. `derive_key(m, "totp")`).

    Each seal draws a fresh 12-byte nonce from `rand`.
    """

    def seal(plaintext: bytes, aad: bytes) -> bytes:
        return vault.seal(key, plaintext, aad, rand(vault.seal_nonce_size_bytes))

    def open_sealed(blob: bytes, aad: bytes) -> bytes:
        return vault.open_sealed(key, blob, aad)

    return seal, open_sealed
