"""Backup encryption (pure): keys, the manifest MAC and AES-256-GCM frames.

Key hierarchy, per backup::

    root   = the 32-byte key file ($KASSA_HOME/backup.key), or
             scrypt(passphrase, salt, N=2^15, r=8, p=1) with a fresh salt per backup
    data   = HKDF-SHA256(root, salt=backup id, info="kassa backup data v1")   (AES-256-GCM)
    mac    = HKDF-SHA256(root, salt=backup id, info="kassa backup manifest v1") (HMAC-SHA256)

A piece is a sequence of frames, each ``flag(1) | nonce(12) | length(4) | ciphertext+tag``.
The AAD of a frame binds it to its backup, piece, position and to whether it is the last,
so frames cannot be swapped between pieces, reordered, dropped or cut off unnoticed.
Nonces are 12 random bytes drawn per frame (the caller passes the randomness); with at
most a few million frames under one data key that is far inside GCM's 2^32 bound.

A wrong key is detected before any piece is read: the manifest's MAC does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from kassa.errors import CryptoError

Random = Callable[[int], bytes]
Reader = Callable[[int], bytes]

key_size_bytes = 32
salt_size_bytes = 16
nonce_size_bytes = 12
tag_size_bytes = 16
frame_plain_size_max_bytes = 1 << 20  # 1 MiB of compressed data per frame
scrypt_n_default = 1 << 15  # 32 MiB of memory, ~0.1 s: RFC 7914's interactive-login level
scrypt_r_default = 8
scrypt_p_default = 1
_FRAME_HEAD_BYTES = 1 + nonce_size_bytes + 4
_FINAL, _MORE = 1, 0


@dataclass(frozen=True, slots=True)
class Kdf:
    """How the root key of one backup is obtained: the key file, or scrypt of a passphrase."""

    name: Literal["keyfile", "scrypt"]
    salt: bytes = b""
    n: int = 0
    r: int = 0
    p: int = 0

    def to_json(self) -> dict[str, Any]:
        if self.name == "keyfile":
            return {"name": "keyfile"}
        return {"name": "scrypt", "salt": self.salt.hex(), "n": self.n, "r": self.r, "p": self.p}

    @staticmethod
    def from_json(doc: Any) -> Kdf:
        """The KDF described by `doc`; `CryptoError` if it is not one we know."""
        if isinstance(doc, dict) and doc.get("name") == "keyfile":
            return Kdf("keyfile")
        try:
            assert isinstance(doc, dict) and doc["name"] == "scrypt"
            kdf = Kdf(
                "scrypt", bytes.fromhex(doc["salt"]), int(doc["n"]), int(doc["r"]), int(doc["p"])
            )
        except (AssertionError, KeyError, TypeError, ValueError):
            raise CryptoError(f"unknown key derivation {doc!r} in a backup manifest") from None
        if kdf.n < 2 or kdf.n & (kdf.n - 1) or kdf.n > 1 << 20 or not 1 <= kdf.r * kdf.p <= 64:
            raise CryptoError(f"scrypt parameters out of range in a backup manifest: {doc!r}")
        return kdf


def new_kdf(passphrase: bool, random: Random) -> Kdf:
    """The KDF for a new backup: the key file, or scrypt with a fresh random salt."""
    if not passphrase:
        return Kdf("keyfile")
    return Kdf(
        "scrypt", random(salt_size_bytes), scrypt_n_default, scrypt_r_default, scrypt_p_default
    )


def scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    """scrypt (RFC 7914) of `passphrase`."""
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(passphrase)


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def root_key(kdf: Kdf, key: bytes | None, passphrase: str | None) -> bytes:
    """The root key of a backup from the key file's `key` or from `passphrase`."""
    if kdf.name == "keyfile":
        if key is None or len(key) != key_size_bytes:
            raise CryptoError(f"a backup key must be {key_size_bytes} bytes")
        return key
    if not passphrase:
        raise CryptoError("this backup was sealed with a passphrase: set KASSA_BACKUP_PASSPHRASE")
    return scrypt(passphrase.encode(), kdf.salt, kdf.n, kdf.r, kdf.p, key_size_bytes)


@dataclass(frozen=True, slots=True)
class BackupKeys:
    """The two working keys of one backup (never printed)."""

    data: bytes = field(repr=False)
    mac: bytes = field(repr=False)


def backup_keys(root: bytes, backup_id: str) -> BackupKeys:
    """Per-backup data and MAC keys derived from `root`."""
    salt = backup_id.encode()
    return BackupKeys(
        hkdf_sha256(root, salt, b"kassa backup data v1", key_size_bytes),
        hkdf_sha256(root, salt, b"kassa backup manifest v1", key_size_bytes),
    )


def manifest_mac(keys: BackupKeys, body: bytes) -> str:
    """HMAC-SHA256 of the canonical manifest body, hex."""
    return hmac.new(keys.mac, body, hashlib.sha256).hexdigest()


def mac_matches(keys: BackupKeys, body: bytes, mac: str) -> bool:
    """Whether `mac` authenticates `body` (constant-time comparison)."""
    return hmac.compare_digest(manifest_mac(keys, body), mac)


def piece_aad(backup_id: str, piece: str) -> bytes:
    """The AAD prefix binding frames to one piece of one backup."""
    return f"kassa-backup/1|{backup_id}|{piece}|".encode()


def _frame_aad(prefix: bytes, index: int, flag: int) -> bytes:
    return prefix + index.to_bytes(8, "big") + bytes([flag])


def seal_frame(
    keys: BackupKeys, prefix: bytes, index: int, final: bool, data: bytes, nonce: bytes
) -> bytes:
    """Frame number `index` of a piece holding `data`."""
    if len(nonce) != nonce_size_bytes or len(data) > frame_plain_size_max_bytes:
        raise AssertionError("bad frame: nonce of 12 bytes and at most 1 MiB of data")
    flag = _FINAL if final else _MORE
    sealed = AESGCM(keys.data).encrypt(nonce, data, _frame_aad(prefix, index, flag))
    return bytes([flag]) + nonce + len(sealed).to_bytes(4, "big") + sealed


def open_frames(keys: BackupKeys, prefix: bytes, read: Reader) -> Iterator[bytes]:
    """The plaintext of each frame read through `read(n)`, checked; `CryptoError` if damaged.

    Exactly one final frame must end the piece: a piece cut short, extended, reordered,
    or taken from elsewhere fails here.
    """
    aead = AESGCM(keys.data)
    index = 0
    while True:
        head = read(_FRAME_HEAD_BYTES)
        if len(head) != _FRAME_HEAD_BYTES or head[0] not in (_FINAL, _MORE):
            raise CryptoError(f"frame {index}: truncated or malformed")
        size = int.from_bytes(head[13:17], "big")
        if not tag_size_bytes <= size <= frame_plain_size_max_bytes + tag_size_bytes:
            raise CryptoError(f"frame {index}: impossible length {size}")
        sealed = read(size)
        if len(sealed) != size:
            raise CryptoError(f"frame {index}: truncated")
        try:
            yield aead.decrypt(head[1:13], sealed, _frame_aad(prefix, index, head[0]))
        except InvalidTag:
            raise CryptoError(f"frame {index}: authentication failed") from None
        if head[0] == _FINAL:
            if read(1):
                raise CryptoError(f"frame {index}: data after the final frame")
            return
        index += 1
