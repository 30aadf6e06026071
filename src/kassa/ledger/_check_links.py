"""Passes (b) and (c): what undoes what, and one capture per approved transaction.

(b) keeps, per entry id seen, its kind and two hashes (of its postings and of its
transaction identity) packed in one int instead of the entry itself, so a stream of
millions of entries costs about a hundred bytes each and no object the garbage collector
has to scan (a tuple or list per entry made the collector's passes grow with the ledger).
Comparing hashes can in principle miss a mismatch by collision (about one chance in 2**64
per comparison); it cannot invent one.
"""

from __future__ import annotations

from collections.abc import Set

from kassa.ledger._entries import MIRROR_KINDS, REVERSIBLE, EntryKind, LedgerEntry
from kassa.ledger._preauth import completion_max_fen
from kassa.ledger._problems import ProblemCode, ProblemLog

__all__ = ["CaptureCheck", "LinkCheck"]

_CAPTURES = frozenset({EntryKind.sale, EntryKind.completion})
_KINDS = list(EntryKind)
_KIND_INDEX = {kind: index for index, kind in enumerate(_KINDS)}
_MASK_64 = (1 << 64) - 1


def _pack(kind: EntryKind, postings_print: int, key_print: int) -> int:
    return (_KIND_INDEX[kind] << 128) | ((postings_print & _MASK_64) << 64) | (key_print & _MASK_64)


def _unpack(packed: int) -> tuple[EntryKind, int, int]:
    return _KINDS[packed >> 128], (packed >> 64) & _MASK_64, packed & _MASK_64


def _fingerprint(currency: str, pairs: frozenset[tuple[str, int]]) -> int:
    return hash((currency, pairs))


def _postings_print(entry: LedgerEntry, sign: int) -> int:
    return _fingerprint(
        entry.currency, frozenset((p.account, sign * p.amount_fen) for p in entry.postings)
    )


class LinkCheck:
    """(b) unique ids; every ``reverses`` names an earlier entry it may undo, and undoes it
    exactly; no entry has two live undoers (a hold: two live consumers)."""

    __slots__ = ("log", "over_capture_max_percent", "seen", "undoers")

    def __init__(self, log: ProblemLog, over_capture_max_percent: int) -> None:
        self.log = log
        self.over_capture_max_percent = over_capture_max_percent
        self.seen: dict[str, int] = {}  # entry id -> _pack(kind, postings hash, key hash)
        self.undoers: dict[str, list[str]] = {}

    def feed(self, entry: LedgerEntry) -> None:
        entry_id = entry.entry_id
        if entry_id in self.seen:
            self.log.add(ProblemCode.entry_id_duplicate, (entry_id,), "entry id used twice")
            return  # keep the first: later links resolve against it
        self.seen[entry_id] = _pack(entry.kind, _postings_print(entry, 1), hash(entry.txn_key))
        if entry.reverses is not None and entry.kind in REVERSIBLE:
            self._link(entry, entry.reverses)

    def _link(self, entry: LedgerEntry, target_id: str) -> None:
        ids = (target_id, entry.entry_id)
        target = self.seen.get(target_id) if target_id != entry.entry_id else None
        if target is None:
            self.log.add(ProblemCode.reverses_unknown, ids, "reverses no earlier entry")
            return
        kind, postings_print, key_print = _unpack(target)
        if kind not in REVERSIBLE[entry.kind]:
            message = f"a {entry.kind.value} may not undo a {kind.value}"
            self.log.add(ProblemCode.reverses_kind, ids, message)
            return
        self.undoers.setdefault(target_id, []).append(entry.entry_id)
        if entry.kind in MIRROR_KINDS:
            if _postings_print(entry, -1) & _MASK_64 != postings_print:
                message = f"{entry.kind.value} is not the exact opposite of {kind.value}"
                self.log.add(ProblemCode.reverse_mismatch, ids, message)
            if entry.kind is EntryKind.reversal and hash(entry.txn_key) & _MASK_64 != key_print:
                message = "reversal carries another transaction identity than its original"
                self.log.add(ProblemCode.reverse_mismatch, ids, message)
        elif entry.kind is EntryKind.completion:
            self._check_completion(entry, ids, postings_print)

    def _check_completion(self, entry: LedgerEntry, ids: tuple[str, str], hold_print: int) -> None:
        hold = next((p for p in entry.postings if p.account.startswith("hold:")), None)
        merchant = next((p for p in entry.postings if p.account.startswith("merchant:")), None)
        if hold is None or merchant is None:
            return  # reported by the shape check in pass (a)
        held = -hold.amount_fen
        card = "card:" + hold.account.partition(":")[2]
        expected = frozenset({(card, -held), (hold.account, held)})
        if _fingerprint(entry.currency, expected) & _MASK_64 != hold_print:
            message = "completion does not release exactly the held amount of its hold"
            self.log.add(ProblemCode.reverse_mismatch, ids, message)
        if merchant.amount_fen > completion_max_fen(held, self.over_capture_max_percent):
            message = f"completion of {merchant.amount_fen} fen above the limit for {held} held"
            self.log.add(ProblemCode.completion_over_limit, ids, message)

    def finish(self) -> None:
        live: dict[str, bool] = {}

        def is_live(entry_id: str) -> bool:
            # An undoer is live unless a live undoer of its own cancels it. Chains are at
            # most four deep (hold <- completion <- completion void <- reversal).
            known = live.get(entry_id)
            if known is None:
                known = live[entry_id] = not any(map(is_live, self.undoers.get(entry_id, ())))
            return known

        for target_id, undoers in self.undoers.items():
            standing = [u for u in undoers if is_live(u)]
            if len(standing) > 1:
                message = f"undone {len(standing)} times by live entries"
                self.log.add(ProblemCode.reversed_twice, (target_id, *standing), message)


class CaptureCheck:
    """(c) each approved transaction has exactly one capture (sale or completion) left
    standing once its reversals are set against it; no capture exists without approval."""

    __slots__ = ("approved", "captures", "log", "reversed")

    def __init__(self, log: ProblemLog, approved_txn_keys: Set[str]) -> None:
        self.log = log
        self.approved = approved_txn_keys
        # txn_key -> entry id, or a list of them once a second capture shows up (rare); no
        # list per transaction, for the same garbage-collector reason as in LinkCheck.
        self.captures: dict[str, str | list[str]] = {}
        self.reversed: set[str] = set()

    def feed(self, entry: LedgerEntry) -> None:
        if entry.kind in _CAPTURES:
            earlier = self.captures.get(entry.txn_key)
            if earlier is None:
                self.captures[entry.txn_key] = entry.entry_id
            elif isinstance(earlier, str):
                self.captures[entry.txn_key] = [earlier, entry.entry_id]
            else:
                earlier.append(entry.entry_id)
        elif entry.kind is EntryKind.reversal and entry.reverses is not None:
            self.reversed.add(entry.reverses)

    def finish(self) -> None:
        approved, reversed_ids, log = self.approved, self.reversed, self.log
        approved_standing = 0
        for txn_key, found in self.captures.items():
            if isinstance(found, str):  # the common case, kept free of allocations
                if found in reversed_ids:
                    continue
                standing: tuple[str, ...] = (found,)
            else:
                standing = tuple(e for e in found if e not in reversed_ids)
            if txn_key not in approved:
                if standing:
                    message = f"transaction {txn_key} captured but not approved"
                    log.add(ProblemCode.capture_unapproved, standing, message)
                continue
            approved_standing += bool(standing)
            if len(standing) > 1:
                message = f"transaction {txn_key} captured {len(standing)} times"
                log.add(ProblemCode.capture_duplicate, standing, message)
        if approved_standing == len(approved):
            return  # every approved identity already has its capture
        missing = [txn_key for txn_key in approved if not self._stands(txn_key)]
        for txn_key in sorted(missing):  # sets iterate in a per-process order
            message = f"approved transaction {txn_key} has no standing capture"
            log.add(ProblemCode.capture_missing, (), message)

    def _stands(self, txn_key: str) -> bool:
        found = self.captures.get(txn_key)
        if found is None:
            return False
        entry_ids = [found] if isinstance(found, str) else found
        return any(e not in self.reversed for e in entry_ids)
