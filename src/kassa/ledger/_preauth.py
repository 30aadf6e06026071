"""Builders for the pre-authorisation family: hold, release, completion, completion void.

A hold moves funds from ``card:<ref>`` to ``hold:<ref>``; it ends exactly once, by a
release (预授权撤销 or expiry) or by a completion (预授权完成), unless that end is itself
undone (a reversal of the release, a completion void), which reopens the hold.
"""

from __future__ import annotations

from kassa.ledger._accounts import card_account, hold_account, merchant_account
from kassa.ledger._builders import mirror, positive, transfer
from kassa.ledger._entries import EntryKind, LedgerEntry, Posting

__all__ = [
    "OVER_CAPTURE_MAX_PERCENT",
    "completion",
    "completion_max_fen",
    "completion_void_of",
    "preauth_hold",
    "preauth_release",
]

#: UnionPay lets a pre-authorisation completion exceed the held amount by up to 15%
#: (issuers freeze 115% of the pre-auth amount for that reason).
OVER_CAPTURE_MAX_PERCENT = 15


def preauth_hold(
    txn_key: str, card_ref: str, amount_fen: int, *, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """A pre-authorisation (预授权): funds move from the card to its hold account."""
    return transfer(
        EntryKind.preauth_hold,
        card_account(card_ref),
        hold_account(card_ref),
        amount_fen,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def preauth_release(
    hold_entry: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """The end of a hold without capture (预授权撤销, or expiry): the hold goes back."""
    return mirror(
        EntryKind.preauth_release,
        hold_entry,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def completion_void_of(
    completion_entry: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """A completion void (预授权完成撤销): undoes the capture and reopens the hold."""
    return mirror(
        EntryKind.completion_void,
        completion_entry,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def completion_max_fen(
    hold_fen: int, over_capture_max_percent: int = OVER_CAPTURE_MAX_PERCENT
) -> int:
    """The largest completion a hold of ``hold_fen`` allows (rounded down to the fen)."""
    return hold_fen + hold_fen * over_capture_max_percent // 100


def completion(
    hold_entry: LedgerEntry,
    amount_fen: int,
    *,
    mid: str,
    txn_key: str,
    at_ms: int,
    entry_id: str,
    memo: str = "",
    over_capture_max_percent: int = OVER_CAPTURE_MAX_PERCENT,
) -> LedgerEntry:
    """A pre-authorisation completion (预授权完成) capturing ``amount_fen`` from a hold.

    The whole hold is released and the card is debited the difference, so the card ends
    at ``-amount_fen`` relative to before the hold, whether the capture is below, equal to
    or above the held amount (at most ``completion_max_fen``). That ``mid`` is the
    merchant that took the hold is the host's match (TID/MID/auth code) to make.
    """
    if hold_entry.kind is not EntryKind.preauth_hold:
        raise ValueError(f"a completion captures a preauth_hold, not a {hold_entry.kind.value}")
    hold_posting = next(p for p in hold_entry.postings if p.amount_fen > 0)
    card = next(p.account for p in hold_entry.postings if p.amount_fen < 0)
    held = hold_posting.amount_fen
    amount = positive(amount_fen)
    if amount > completion_max_fen(held, over_capture_max_percent):
        raise ValueError(f"completion of {amount} fen exceeds the limit for a {held} fen hold")
    postings = [Posting(hold_posting.account, -held), Posting(merchant_account(mid), amount)]
    if held != amount:
        postings.append(Posting(card, held - amount))
    return LedgerEntry(
        entry_id,
        txn_key,
        EntryKind.completion,
        tuple(postings),
        at_ms,
        memo,
        reverses=hold_entry.entry_id,
        currency=hold_entry.currency,
    )
