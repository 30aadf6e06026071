"""Passes (a), (d), (e): entries balance, the grand total is zero, floors and holds hold.

Each pass is a small streaming checker fed one readable entry at a time (see ``_check``);
it keeps only per-account or per-currency running totals.
"""

from __future__ import annotations

from collections.abc import Callable

from kassa.ledger._entries import LedgerEntry, entry_problem
from kassa.ledger._problems import ProblemCode, ProblemLog

__all__ = ["BalanceCheck", "FloorCheck", "HoldCheck"]

_CARD = "card:"
_HOLD = "hold:"


class BalanceCheck:
    """(a) every entry is well formed and balanced; the grand total per currency is zero."""

    __slots__ = ("log", "totals")

    def __init__(self, log: ProblemLog) -> None:
        self.log = log
        self.totals: dict[str, int] = {}

    def feed(self, entry: LedgerEntry) -> None:
        problem = entry_problem(entry)
        if problem is not None:
            code = (
                ProblemCode.entry_unbalanced
                if problem[0] == "unbalanced"
                else ProblemCode.entry_malformed
            )
            self.log.add(code, (entry.entry_id,), problem[1])
        currency = entry.currency
        self.totals[currency] = self.totals.get(currency, 0) + sum(
            p.amount_fen for p in entry.postings
        )

    def finish(self) -> None:
        for currency, total in sorted(self.totals.items()):
            if total:
                self.log.add(
                    ProblemCode.total_nonzero,
                    (),
                    f"all accounts in currency {currency} sum to {total} fen, not 0",
                )


class _RunningFloor:
    """Running balances of one account family, flagging every debit that ends below a floor."""

    __slots__ = ("balances", "code", "floor_of", "floors", "log", "prefix")

    def __init__(
        self, log: ProblemLog, prefix: str, code: ProblemCode, floor_of: Callable[[str], int]
    ) -> None:
        self.log = log
        self.prefix = prefix
        self.code = code
        self.floor_of = floor_of
        self.balances: dict[str, int] = {}
        self.floors: dict[str, int] = {}  # one floor lookup per account, not per posting

    def feed(self, entry: LedgerEntry) -> None:
        for posting in entry.postings:
            account = posting.account
            if not account.startswith(self.prefix):
                continue
            balance = self.balances.get(account, 0) + posting.amount_fen
            self.balances[account] = balance
            if posting.amount_fen >= 0:
                continue
            floor = self.floors.get(account)
            if floor is None:
                floor = self.floors[account] = self.floor_of(account[len(self.prefix) :])
            if balance < floor:
                self.log.add(
                    self.code,
                    (entry.entry_id,),
                    f"{account} at {balance} fen after this entry, below its floor {floor}",
                )

    def finish(self) -> None:
        """Nothing to add at the end: every crossing was reported when it happened."""


class FloorCheck(_RunningFloor):
    """(d) no debit leaves a card below its floor: 0 for debit cards, -limit for credit.

    ``floor_fen(card_ref)`` is asked once per card; floors are taken as fixed over the run.
    """

    __slots__ = ()

    def __init__(self, log: ProblemLog, floor_fen: Callable[[str], int]) -> None:
        super().__init__(log, _CARD, ProblemCode.card_below_floor, floor_fen)


class HoldCheck(_RunningFloor):
    """(e) no hold account ever goes below zero."""

    __slots__ = ()

    def __init__(self, log: ProblemLog) -> None:
        super().__init__(log, _HOLD, ProblemCode.hold_negative, lambda _ref: 0)
