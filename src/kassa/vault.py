"""Host-side storage crypto (pure): sealed blobs, keyed look-up hashes, PIN verification.

What PCI DSS v4 asks of stored card data, in functions that take every input as a value:
- `seal` / `open_sealed`: AES-256-GCM for PAN, track data and PIN blocks waiting in the
  store-and-forward queue (3.3.2, 3.5.1). Blob = version byte + 12-byte nonce + ciphertext
  + 16-byte tag. The nonce is passed in and must never repeat under one key (draw 12
  random bytes per seal). `aad` binds the blob to its row (e.g. table + record id), so a
  blob copied to another row does not open.
- `lookup_hash`: HMAC-SHA256 of a value (a PAN) to find records without storing the PAN.
- `pin_verification_value` / `verify_pin`: a keyed per-card PIN check value for the
  simulated issuer. It is not the Visa PVV; it is HMAC-SHA256 over PAN and PIN.
- `derive_key`: HKDF-SHA256 sub-keys from one master key, one per purpose, so that a
  look-up hash key never doubles as an encryption key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kassa.errors import CryptoError, InputError

seal_version = 1
seal_key_size_bytes = 32
seal_nonce_size_bytes = 12
seal_tag_size_bytes = 16
secret_key_size_min_bytes = 32
derived_key_size_bytes = 32
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
_PAN = re.compile(r"[0-9]{12,19}")
_PIN = re.compile(r"[0-9]{4,12}")


def _check_aes_key(key: bytes) -> None:
    if len(key) != seal_key_size_bytes:
        raise CryptoError(f"a storage key must be {seal_key_size_bytes} bytes, not {len(key)}")


def _check_secret_key(key: bytes, what: str) -> None:
    if len(key) < secret_key_size_min_bytes:
        raise CryptoError(
            f"a {what} key must be at least {secret_key_size_min_bytes} bytes, not {len(key)}"
        )


def seal(key: bytes, plaintext: bytes, aad: bytes, nonce: bytes) -> bytes:
    """Encrypt and authenticate `plaintext` (and `aad`) with AES-256-GCM."""
    _check_aes_key(key)
    if len(nonce) != seal_nonce_size_bytes:
        raise CryptoError(f"a seal nonce must be {seal_nonce_size_bytes} bytes, not {len(nonce)}")
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return bytes([seal_version]) + nonce + sealed


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of a `seal` blob; a wrong key, wrong aad or any changed byte raises."""
    _check_aes_key(key)
    if len(blob) < 1 + seal_nonce_size_bytes + seal_tag_size_bytes or blob[0] != seal_version:
        raise CryptoError("the sealed data cannot be decrypted: wrong key or damaged data")
    nonce = blob[1 : 1 + seal_nonce_size_bytes]
    try:
        return AESGCM(key).decrypt(nonce, blob[1 + seal_nonce_size_bytes :], aad)
    except InvalidTag:
        raise CryptoError(
            "the sealed data cannot be decrypted: wrong key or damaged data"
        ) from None


def lookup_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256 of `value` (UTF-8) as lower-case hex, for look-ups without the value."""
    _check_secret_key(key, "look-up")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def pin_verification_value(pvk: bytes, pan: str, pin: str) -> str:
    """The keyed check value of a card's PIN: HMAC-SHA256(pvk, PAN ":" PIN) in hex.

    Binding the PAN makes two cards with the same PIN store different values.
    """
    _check_secret_key(pvk, "PIN verification")
    if not _PAN.fullmatch(pan):
        raise InputError("a card number must be 12 to 19 digits")
    if not _PIN.fullmatch(pin):
        raise InputError("a PIN must be 4 to 12 digits")
    return hmac.new(pvk, f"{pan}:{pin}".encode("ascii"), hashlib.sha256).hexdigest()


def verify_pin(pvk: bytes, pan: str, pin: str, pvv: str) -> bool:
    """Whether `pin` matches the stored value `pvv`, compared in constant time.

    A PIN of the wrong shape is simply wrong (False): it is what a cardholder typed.
    """
    _check_secret_key(pvk, "PIN verification")
    if not _PIN.fullmatch(pin):
        return False
    expected = pin_verification_value(pvk, pan, pin)
    return hmac.compare_digest(expected.encode("ascii"), pvv.encode("utf-8"))


def hkdf_sha256(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256 (extract and expand)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte sub-key of the master key for one purpose ("tmk", "pan", "pan-lookup", "pvk").

    HKDF-SHA256 with no salt and info = b"kassa/" + purpose; the same inputs always give the
    same key, different purposes give independent keys.
    """
    _check_secret_key(master, "master")
    if not _PURPOSE.fullmatch(purpose):
        raise CryptoError(
            f"a key purpose must be lower-case letters, digits, '.' or '-': {purpose!r}"
        )
    return hkdf_sha256(master, None, b"kassa/" + purpose.encode("ascii"), derived_key_size_bytes)
