"""The validation passes, run alone or all in one streaming pass over the entries.

Every pass returns ``list[LedgerProblem]``; an empty list means the ledger is sound.
Entries whose postings cannot even be read (not a tuple of ``Posting`` with string
accounts and int amounts) are reported once as ``entry_malformed`` and skipped by every
pass, so a corrupted row can neither crash a check nor poison its totals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from typing import Protocol

from kassa.ledger._check_links import CaptureCheck, LinkCheck
from kassa.ledger._check_money import BalanceCheck, FloorCheck, HoldCheck
from kassa.ledger._entries import EntryKind, LedgerEntry, Posting
from kassa.ledger._preauth import OVER_CAPTURE_MAX_PERCENT
from kassa.ledger._problems import LedgerProblem, ProblemCode, ProblemLog

__all__ = [
    "check_all",
    "check_balanced",
    "check_captures",
    "check_card_floors",
    "check_holds",
    "check_links",
]

PROBLEMS_MAX = 10_000  # a broken ledger of millions must not turn into millions of problems


class _Check(Protocol):
    def feed(self, entry: LedgerEntry) -> None: ...
    def finish(self) -> None: ...


def _readable(entry: object) -> bool:
    """Whether the passes can read ``entry`` at all; what is wrong beyond that is pass (a)'s."""
    if type(entry) is not LedgerEntry or type(entry.postings) is not tuple:
        return False
    if not isinstance(entry.kind, EntryKind) or not isinstance(entry.currency, str):
        return False
    if type(entry.entry_id) is not str or type(entry.txn_key) is not str:
        return False
    if entry.reverses is not None and type(entry.reverses) is not str:
        return False
    return all(
        type(p) is Posting and type(p.account) is str and type(p.amount_fen) is int
        for p in entry.postings
    )


def _run(entries: Iterable[LedgerEntry], checks: list[_Check], log: ProblemLog) -> None:
    for entry in entries:
        if not _readable(entry):
            entry_id = getattr(entry, "entry_id", None)
            ids = (entry_id,) if isinstance(entry_id, str) else ()
            log.add(ProblemCode.entry_malformed, ids, "entry fields or postings are not readable")
            continue
        for check in checks:
            check.feed(entry)
    for check in checks:
        check.finish()


def _approved_set(approved_txn_keys: Iterable[str]) -> Set[str]:
    if isinstance(approved_txn_keys, Set):
        return approved_txn_keys
    return frozenset(approved_txn_keys)


def check_balanced(
    entries: Iterable[LedgerEntry], problems_max: int = PROBLEMS_MAX
) -> list[LedgerProblem]:
    """(a) Every entry is well formed and sums to zero; all accounts together sum to zero."""
    log = ProblemLog(problems_max)
    _run(entries, [BalanceCheck(log)], log)
    return log.result()


def check_links(
    entries: Iterable[LedgerEntry],
    over_capture_max_percent: int = OVER_CAPTURE_MAX_PERCENT,
    problems_max: int = PROBLEMS_MAX,
) -> list[LedgerProblem]:
    """(b) Unique entry ids; every ``reverses`` names an earlier entry of a kind it may undo
    and undoes it exactly (a completion: releases exactly the hold, captures at most
    hold + tolerance); nothing is undone, or a hold consumed, twice by live entries."""
    log = ProblemLog(problems_max)
    _run(entries, [LinkCheck(log, over_capture_max_percent)], log)
    return log.result()


def check_captures(
    entries: Iterable[LedgerEntry],
    approved_txn_keys: Iterable[str],
    problems_max: int = PROBLEMS_MAX,
) -> list[LedgerProblem]:
    """(c) Each approved purchase (sale or completion identity that stands, i.e. approved
    and not reversed) has exactly one capturing entry not cancelled by a reversal; a
    capture under any other identity is reported as unapproved.

    Voids, refunds and completion voids are transactions of their own and leave the
    original's capture counted: the money went and came back under two identities.
    """
    log = ProblemLog(problems_max)
    _run(entries, [CaptureCheck(log, _approved_set(approved_txn_keys))], log)
    return log.result()


def check_card_floors(
    entries: Iterable[LedgerEntry],
    floor_fen: Callable[[str], int],
    problems_max: int = PROBLEMS_MAX,
) -> list[LedgerProblem]:
    """(d) No debit leaves a card below ``floor_fen(card_ref)`` (0 debit, -limit credit)."""
    log = ProblemLog(problems_max)
    _run(entries, [FloorCheck(log, floor_fen)], log)
    return log.result()


def check_holds(
    entries: Iterable[LedgerEntry], problems_max: int = PROBLEMS_MAX
) -> list[LedgerProblem]:
    """(e) No hold account ever goes below zero."""
    log = ProblemLog(problems_max)
    _run(entries, [HoldCheck(log)], log)
    return log.result()


def check_all(
    entries: Iterable[LedgerEntry],
    approved_txn_keys: Iterable[str],
    floor_fen: Callable[[str], int],
    over_capture_max_percent: int = OVER_CAPTURE_MAX_PERCENT,
    problems_max: int = PROBLEMS_MAX,
) -> list[LedgerProblem]:
    """Passes (a) to (e) in one streaming pass over ``entries`` (a generator will do)."""
    log = ProblemLog(problems_max)
    checks: list[_Check] = [
        BalanceCheck(log),
        LinkCheck(log, over_capture_max_percent),
        CaptureCheck(log, _approved_set(approved_txn_keys)),
        FloorCheck(log, floor_fen),
        HoldCheck(log),
    ]
    _run(entries, checks, log)
    return log.result()
