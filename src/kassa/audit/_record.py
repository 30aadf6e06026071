"""The values of the audit chain (pure): records, heads, anchors, keys, and the hash.

See `kassa.audit.chain` for what the hash covers and why a key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kassa.audit._detail import canonical_json
from kassa.errors import CryptoError
from kassa.vault import derive_key

GENESIS_HASH = "0" * 64
chain_key_size_min_bytes = 32
_KEY_ID_LABEL = b"kassa audit chain key id"


@dataclass(frozen=True, slots=True)
class ChainKey:
    """The secret that makes the chain unforgeable without it. repr never shows it."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < chain_key_size_min_bytes:
            raise CryptoError(
                f"an audit chain key must be at least {chain_key_size_min_bytes} bytes, "
                f"not {len(self.secret)}"
            )

    @classmethod
    def from_master(cls, master: bytes) -> ChainKey:
        """The audit key derived (HKDF, purpose "audit") from a host or device master key."""
        return cls(derive_key(master, "audit"))

    @property
    def key_id(self) -> str:
        """16 hex digits naming the key (like a check value); reveals nothing of it."""
        return hmac.new(self.secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def key_id_of(key: ChainKey | None) -> str:
    """The key's id, or "" for an unkeyed chain."""
    return "" if key is None else key.key_id


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last link of a chain: what the next record chains to."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One operator action. `detail` is already cleaned; treat it as read-only."""

    seq: int
    at_ms: int
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    source: str
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """Every field except `hash`: what the hash covers."""
        return {
            "seq": self.seq,
            "at_ms": self.at_ms,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "source": self.source,
            "prev_hash": self.prev_hash,
        }

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.seq, self.hash)


def compute_hash(body: Mapping[str, Any], key: ChainKey | None) -> str:
    """SHA-256 (unkeyed) or HMAC-SHA256 (keyed) of the canonical JSON of `body`, in hex."""
    data = canonical_json(body).encode("utf-8")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key.secret, data, hashlib.sha256).hexdigest()


def record_hash(record: AuditRecord, key: ChainKey | None) -> str:
    """What `record.hash` must be."""
    return compute_hash(record.body(), key)


@dataclass(frozen=True, slots=True)
class Anchor:
    """A record's seq and hash (or the first 16+ hex digits of it), kept outside the
    database (a file, a settlement slip) so that cutting off the end of the log shows."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    def matches(self, record: AuditRecord) -> bool:
        return record.seq == self.seq and record.hash[: len(self.hash)] == self.hash
