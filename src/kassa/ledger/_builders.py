"""Builders: the only way the host should make entries. Pure; the caller mints entry ids.

Every builder takes a positive ``amount_fen`` and returns one balanced ``LedgerEntry``;
a non-positive amount or the wrong kind of original entry raises ValueError (a bug: the
host decides approvals and validates amounts before it books anything).
"""

from __future__ import annotations

from kassa import limits
from kassa.ledger._accounts import FEE_INCOME, FUNDING, account_kind, card_account, merchant_account
from kassa.ledger._entries import REVERSIBLE, EntryKind, LedgerEntry, Posting

__all__ = [
    "correction",
    "fee",
    "fund",
    "refund",
    "reversal_of",
    "sale",
    "settlement_payout",
    "void_of",
]


def positive(amount_fen: int) -> int:
    """``amount_fen`` if it is an int in 1..amount_max_fen; ValueError otherwise."""
    if type(amount_fen) is not int or not 0 < amount_fen <= limits.amount_max_fen:
        raise ValueError(
            f"amount_fen must be an int in 1..{limits.amount_max_fen}, got {amount_fen!r}"
        )
    return amount_fen


def transfer(
    kind: EntryKind,
    debit: str,
    credit: str,
    amount_fen: int,
    *,
    txn_key: str,
    at_ms: int,
    entry_id: str,
    memo: str,
) -> LedgerEntry:
    """A two-line entry moving ``amount_fen`` (checked positive) from debit to credit."""
    amount = positive(amount_fen)
    postings = (Posting(debit, -amount), Posting(credit, amount))
    return LedgerEntry(entry_id, txn_key, kind, postings, at_ms, memo)


def fund(
    card_ref: str, amount_fen: int, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """Money into a card from the outside world: initial balance or top-up."""
    return transfer(
        EntryKind.fund,
        FUNDING,
        card_account(card_ref),
        amount_fen,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def sale(
    txn_key: str,
    card_ref: str,
    mid: str,
    amount_fen: int,
    *,
    at_ms: int,
    entry_id: str,
    memo: str = "",
) -> LedgerEntry:
    """A captured sale (消费): the card pays the merchant."""
    return transfer(
        EntryKind.sale,
        card_account(card_ref),
        merchant_account(mid),
        amount_fen,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def refund(
    txn_key: str,
    card_ref: str,
    mid: str,
    amount_fen: int,
    *,
    at_ms: int,
    entry_id: str,
    memo: str = "",
) -> LedgerEntry:
    """A refund (退货): the merchant pays the card back. Never reversed (it is an advice).

    That the refunds of a sale stay within its amount is the host's rule to apply: the
    ledger does not link a refund to its sale.
    """
    return transfer(
        EntryKind.refund,
        merchant_account(mid),
        card_account(card_ref),
        amount_fen,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def fee(
    mid: str, fee_fen: int, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """The acquirer's fee, charged to the merchant; posted apart from the sale it is for."""
    return transfer(
        EntryKind.fee,
        merchant_account(mid),
        FEE_INCOME,
        fee_fen,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def settlement_payout(
    mid: str, amount_fen: int, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """Money paid out to the merchant's bank account: it leaves the loop to ``funding``."""
    return transfer(
        EntryKind.settlement_payout,
        merchant_account(mid),
        FUNDING,
        amount_fen,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )


def correction(
    account_from: str,
    account_to: str,
    amount_fen: int,
    reason: str,
    *,
    txn_key: str,
    at_ms: int,
    entry_id: str,
) -> LedgerEntry:
    """A supplementary entry (补登) moving ``amount_fen`` between any two accounts.

    ``reason`` (who approved it and why) is required and kept as the memo. A correction is
    never reversed: a wrong correction is corrected by another one, so both stay on record.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a correction needs a reason: who approved it and why")
    account_kind(account_from)
    account_kind(account_to)
    return transfer(
        EntryKind.correction,
        account_from,
        account_to,
        amount_fen,
        txn_key=txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=reason,
    )


def mirror(
    kind: EntryKind, original: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str
) -> LedgerEntry:
    """The exact opposite of ``original`` as a ``kind`` entry pointing back at it."""
    if original.kind not in REVERSIBLE[kind]:
        raise ValueError(f"a {kind.value} cannot undo a {original.kind.value} entry")
    postings = tuple(Posting(p.account, -p.amount_fen) for p in original.postings)
    return LedgerEntry(
        entry_id,
        txn_key,
        kind,
        postings,
        at_ms,
        memo,
        reverses=original.entry_id,
        currency=original.currency,
    )


def void_of(
    original: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """A void (消费撤销) of a sale: its exact opposite, a transaction of its own."""
    return mirror(
        EntryKind.void, original, txn_key=txn_key, at_ms=at_ms, entry_id=entry_id, memo=memo
    )


def reversal_of(original: LedgerEntry, *, at_ms: int, entry_id: str, memo: str = "") -> LedgerEntry:
    """A reversal (冲正): the exact opposite of ``original``, under the original's identity."""
    return mirror(
        EntryKind.reversal,
        original,
        txn_key=original.txn_key,
        at_ms=at_ms,
        entry_id=entry_id,
        memo=memo,
    )
