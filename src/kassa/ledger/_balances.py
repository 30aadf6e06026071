"""Balances computed from entries: a streaming fold, nothing stored but the totals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kassa.ledger._accounts import card_account
from kassa.ledger._entries import CURRENCY_CNY, LedgerEntry

__all__ = ["available", "balances"]


def balances(
    entries: Iterable[LedgerEntry],
    start: Mapping[str, int] | None = None,
    currency: str = CURRENCY_CNY,
) -> dict[str, int]:
    """Every touched account's balance after ``entries``, on top of ``start`` if given.

    Streams: ``entries`` may be a generator of millions; only the per-account totals are
    kept. Accounts whose postings cancel out stay in the result with 0. One ledger is one
    currency: an entry in another currency raises ValueError (the caller mixed ledgers).
    """
    totals: dict[str, int] = dict(start) if start is not None else {}
    get = totals.get
    for entry in entries:
        if entry.currency != currency:
            raise ValueError(
                f"entry {entry.entry_id!r} is in currency {entry.currency}, not {currency}"
            )
        # Plain attribute reads and int adds: no per-posting objects beyond the new ints.
        for posting in entry.postings:
            account = posting.account
            totals[account] = get(account, 0) + posting.amount_fen
    return totals


def available(card_ref: str, balances: Mapping[str, int], credit_limit_fen: int = 0) -> int:
    """What the card may still spend: its balance plus its credit limit (0 for debit).

    Holds are already out of the card account, so they are not subtracted again.
    """
    if type(credit_limit_fen) is not int or credit_limit_fen < 0:
        raise ValueError(f"credit_limit_fen must be a non-negative int, got {credit_limit_fen!r}")
    return balances.get(card_account(card_ref), 0) + credit_limit_fen
