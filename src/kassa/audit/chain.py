"""The hash chain of audit records (pure).

Each record's `hash` is SHA-256 (or, with a `ChainKey`, HMAC-SHA256) over the canonical
serialisation of every other field, `prev_hash` included, so each record seals the whole
history before it. The canonical serialisation is the record's fields except `hash` as
one JSON object with sorted keys, no spaces, UTF-8, characters not escaped::

    {"action":"txn.void","actor":"0001","at_ms":...,"detail":{...},"prev_hash":"...",
     "role":"cashier","seq":7,"source":"terminal","target":"..."}

so anyone can recompute an unkeyed chain with nothing but a JSON library and SHA-256. The
first record has seq 1 and `prev_hash` = `GENESIS_HASH` (64 zeros).

Unkeyed, the chain proves order and integrity only to someone who kept an `anchor` of a
later record elsewhere (on a settlement slip, in a file): whoever can write the database
can otherwise recompute every hash. Keyed, nobody without the audit key can forge a link.
The key should be derived (`ChainKey.from_master`) from a master key that is not kept in
the same database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from kassa.audit._detail import canonical_json, clean_detail
from kassa.audit._record import (
    GENESIS_HASH,
    Anchor,
    AuditRecord,
    ChainHead,
    ChainKey,
    compute_hash,
    key_id_of,
    record_hash,
)
from kassa.audit._verify import Reason, VerifyResult, verify
from kassa.card import mask_in_text
from kassa.errors import InputError

__all__ = [
    "GENESIS_HASH",
    "SOURCES",
    "Anchor",
    "AuditRecord",
    "ChainHead",
    "ChainKey",
    "Reason",
    "Source",
    "VerifyResult",
    "anchor",
    "append",
    "canonical_json",
    "compute_hash",
    "key_id_of",
    "parse_anchor",
    "record_hash",
    "verify",
]

Source = Literal["terminal", "host", "console", "cli"]
SOURCES: tuple[str, ...] = get_args(Source)

actor_size_max_chars = 128
role_size_max_chars = 32
target_size_max_chars = 256
action_size_max_chars = 64
anchor_hash_digits_min = 16
_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_HEX = re.compile(r"[0-9a-f]+")


def append(
    prev: AuditRecord | ChainHead | None,
    *,
    at_ms: int,
    actor: str,
    role: str,
    action: str,
    target: str,
    detail: Mapping[str, object],
    source: str,
    key: ChainKey | None = None,
) -> AuditRecord:
    """The record that follows `prev` (None: the first record of a chain).

    `detail` is cleaned (`clean_detail`: PANs masked, PIN/password/track/CVN keys
    refused); actor, role and target have any PAN masked and are clipped to their size
    limits, because an action must be recorded even when a stranger typed 1 KB into the
    user-name field. Raises `InputError` for a bad action, source, time or detail.
    """
    if not _ACTION.fullmatch(action) or len(action) > action_size_max_chars:
        raise InputError(
            f"audit action {action!r} must be dotted lower-case words such as 'txn.void'"
        )
    if source not in SOURCES:
        raise InputError(f"audit source {source!r} must be one of {', '.join(SOURCES)}")
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or at_ms < 0:
        raise InputError(f"audit time {at_ms!r} must be integer UTC milliseconds")
    seq, prev_hash = (1, GENESIS_HASH) if prev is None else (prev.seq + 1, prev.hash)
    body: dict[str, Any] = {
        "seq": seq,
        "at_ms": at_ms,
        "actor": _clip(mask_in_text(actor), actor_size_max_chars),
        "role": _clip(mask_in_text(role), role_size_max_chars),
        "action": action,
        "target": _clip(mask_in_text(target), target_size_max_chars),
        "detail": clean_detail(detail),
        "source": source,
        "prev_hash": prev_hash,
    }
    return AuditRecord(**body, hash=compute_hash(body, key))


def _clip(text: str, size_max: int) -> str:
    return text if len(text) <= size_max else text[: size_max - 1] + "…"


def anchor(record: AuditRecord | ChainHead, digits: int = 64) -> str:
    """``"SEQ:HASH"`` for `record`; `digits` shortens the hash for a slip (16 to 64)."""
    if not anchor_hash_digits_min <= digits <= 64:
        raise ValueError(f"anchor digits must be {anchor_hash_digits_min} to 64, not {digits}")
    return f"{record.seq}:{record.hash[:digits]}"


def parse_anchor(text: str) -> Anchor:
    """An anchor from ``"SEQ:HASH"``; raises `InputError` saying what is wrong."""
    seq_text, sep, hash_text = text.strip().partition(":")
    hash_text = hash_text.lower()
    if not sep or not seq_text.isascii() or not seq_text.isdigit() or int(seq_text) < 1:
        raise InputError(f"anchor {text!r} must be SEQ:HASH with SEQ a positive number")
    if not _HEX.fullmatch(hash_text) or not anchor_hash_digits_min <= len(hash_text) <= 64:
        raise InputError(
            f"anchor {text!r} must end in {anchor_hash_digits_min} to 64 hex digits of the hash"
        )
    return Anchor(int(seq_text), hash_text)
