"""Checking a chain of audit records, streaming (pure).

Records are checked in the order given (the store gives them by seq). For each record:
its seq must follow the previous one, its `prev_hash` must be the previous record's hash,
and its own hash must match its fields. What breaks says what happened:

- ``changed``: a record's fields no longer match its hash (edited in place), or a record
  matches its hash but the next one does not chain to it (edited and its hash recomputed,
  which only works without a key), or a record differs from the anchor;
- ``deleted``: a seq is missing (the first missing seq is named);
- ``reordered``: a record sits where another was written (its seq was changed: it matches
  neither its hash nor its predecessor), or a seq goes backwards or repeats;
- ``truncated``: the log ends before the anchor's seq. Only an anchor kept elsewhere can
  show this: the last records can be cut off leaving a chain that is whole.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from kassa.audit._record import GENESIS_HASH, Anchor, AuditRecord, ChainHead, ChainKey, record_hash

Reason = Literal["changed", "deleted", "reordered", "truncated"]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of `verify`.

    `checked` counts the records found good before the first bad one (all of them when
    `ok`); `first_bad_seq` is the seq of the first bad or missing entry; `record` is the
    stored record where the break showed (None for ``truncated``); `last` is the last good
    link (when `ok`, the chain's head: write `anchor(last)` down somewhere safe).
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: Reason | None
    message: str
    record: AuditRecord | None = None
    last: ChainHead | None = None


@dataclass(frozen=True, slots=True)
class _Break:
    seq: int
    reason: Reason
    message: str


def verify(
    records: Iterable[AuditRecord], key: ChainKey | None = None, anchor: Anchor | None = None
) -> VerifyResult:
    """Check `records` (oldest first) as one chain from genesis; stops at the first break.

    `key` must be the key the chain was written with (None for an unkeyed chain).
    `anchor`, kept outside the database, makes removing the newest records show.
    """
    prev: AuditRecord | None = None
    checked = 0
    anchored = anchor is None
    for record in records:
        found = _check_link(prev, record, key)
        if found is None and anchor is not None and record.seq == anchor.seq:
            anchored = True
            if not anchor.matches(record):
                found = _Break(
                    record.seq,
                    "changed",
                    f"entry {record.seq} differs from the "
                    f"anchor {anchor}: the log was rewritten at or before it",
                )
        if found is not None:
            before = checked if prev is None or found.seq > prev.seq else checked - 1
            last = prev.head if prev is not None and found.seq > prev.seq else None
            return VerifyResult(False, before, found.seq, found.reason, found.message, record, last)
        prev = record
        checked += 1
    head = prev.head if prev is not None else None
    if not anchored:
        assert anchor is not None
        first = 1 if prev is None else prev.seq + 1
        return VerifyResult(
            False,
            checked,
            first,
            "truncated",
            f"the log ends at entry "
            f"{first - 1} but the anchor {anchor} names entry {anchor.seq}: "
            f"entries from {first} were removed",
            None,
            head,
        )
    return VerifyResult(True, checked, None, None, f"{checked} entries chain correctly", None, head)


def _check_link(
    prev: AuditRecord | None, record: AuditRecord, key: ChainKey | None
) -> _Break | None:
    expected_seq = 1 if prev is None else prev.seq + 1
    seq = record.seq
    if seq > expected_seq:
        after = "the log starts" if prev is None else f"the log jumps from entry {prev.seq}"
        return _Break(
            expected_seq, "deleted", f"entry {expected_seq} is missing: {after} to entry {seq}"
        )
    if seq < expected_seq:
        return _Break(
            seq,
            "reordered",
            f"entry {seq} comes after entry {expected_seq - 1}: "
            "entries are out of order or repeated",
        )
    sealed = _same(record_hash(record, key), record.hash)
    linked = _same(record.prev_hash, GENESIS_HASH if prev is None else prev.hash)
    if not sealed and not linked:
        return _Break(
            seq,
            "reordered",
            f"entry {seq} is not the entry written there: it "
            "was moved (its seq changed) or replaced",
        )
    if not sealed:
        return _Break(
            seq,
            "changed",
            f"entry {seq} was changed after it was written (its hash does not match its fields)",
        )
    if not linked:
        if prev is None:
            return _Break(seq, "changed", "entry 1 does not start from the genesis hash")
        return _Break(
            prev.seq,
            "changed",
            f"entry {seq} does not chain to entry {prev.seq}: "
            f"entry {prev.seq} was rewritten (hash recomputed) or replaced",
        )
    return None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
