"""Builders: the only way the host should make entries. Pure; the caller mints entry ids.

Every builder takes a positive ``amount_fen`` and returns one balanced ``LedgerEntry``;
a non-positive amount or the wrong kind of original entry raises ValueError (a bug: the
host decides approvals and validates amounts before it books anything).
"""

from __future__ import annotations

from kassa import limits
from kassa.ledger._accounts import (
    FEE_INCOME,
    FUNDING,
    account_kind,
    card_account,
    hold_account,
    merchant_account,
)
from kassa.ledger._entries import REVERSIBLE, EntryKind, LedgerEntry, Posting

__all__ = [
    "OVER_CAPTURE_MAX_PERCENT",
    "completion",
    "completion_max_fen",
    "completion_void_of",
    "correction",
    "fee",
    "fund",
    "preauth_hold",
    "preauth_release",
    "refund",
    "reversal_of",
    "sale",
    "settlement_payout",
    "void_of",
]

#: UnionPay lets a pre-authorisation completion exceed the held amount by up to 15%
#: (issuers freeze 115% of the pre-auth amount for that reason).
OVER_CAPTURE_MAX_PERCENT = 15


def _positive(amount_fen: int) -> int:
    if type(amount_fen) is not int or not 0 < amount_fen <= limits.amount_max_fen:
        raise ValueError(
            f"amount_fen must be an int in 1..{limits.amount_max_fen}, got {amount_fen!r}"
        )
    return amount_fen


def _transfer(
    kind: EntryKind, debit: str, credit: str, amount_fen: int, *,
    txn_key: str, at_ms: int, entry_id: str, memo: str,
) -> LedgerEntry:  # fmt: skip
    amount = _positive(amount_fen)
    postings = (Posting(debit, -amount), Posting(credit, amount))
    return LedgerEntry(entry_id, txn_key, kind, postings, at_ms, memo)


def fund(
    card_ref: str, amount_fen: int, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """Money into a card from the outside world: initial balance or top-up."""
    return _transfer(EntryKind.fund, FUNDING, card_account(card_ref), amount_fen,
                     txn_key=txn_key, at_ms=at_ms, entry_id=entry_id, memo=memo)  # fmt: skip


def sale(
    txn_key: str, card_ref: str, mid: str, amount_fen: int, *,
    at_ms: int, entry_id: str, memo: str = "",
) -> LedgerEntry:  # fmt: skip
    """A captured sale (消费): the card pays the merchant."""
    return _transfer(EntryKind.sale, card_account(card_ref), merchant_account(mid), amount_fen,
                     txn_key=txn_key, at_ms=at_ms, entry_id=entry_id, memo=memo)  # fmt: skip


def refund(
    txn_key: str, card_ref: str, mid: str, amount_fen: int, *,
    at_ms: int, entry_id: str, memo: str = "",
) -> LedgerEntry:  # fmt: skip
    """A refund (退货): the merchant pays the card back. Never reversed (it is an advice).

    That the refunds of a sale stay within its amount is the host's rule to apply: the
    ledger does not link a refund to its sale.
    """
    return _transfer(EntryKind.refund, merchant_account(mid), card_account(card_ref), amount_fen,
                     txn_key=txn_key, at_ms=at_ms, entry_id=entry_id, memo=memo)  # fmt: skip


def preauth_hold(
    txn_key: str, card_ref: str, amount_fen: int, *, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """A pre-authorisation (预授权): funds move from the card to its hold account."""
    return _transfer(EntryKind.preauth_hold, card_account(card_ref), hold_account(card_ref),
                     amount_fen, txn_key=txn_key, at_ms=at_ms, entry_id=entry_id,
                     memo=memo)  # fmt: skip


def fee(
    mid: str, fee_fen: int, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """The acquirer's fee, charged to the merchant; posted apart from the sale it is for."""
    return _transfer(EntryKind.fee, merchant_account(mid), FEE_INCOME, fee_fen,
                     txn_key=txn_key, at_ms=at_ms, entry_id=entry_id, memo=memo)  # fmt: skip


def settlement_payout(
    mid: str, amount_fen: int, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """Money paid out to the merchant's bank account: it leaves the loop to ``funding``."""
    return _transfer(EntryKind.settlement_payout, merchant_account(mid), FUNDING, amount_fen,
                     txn_key=txn_key, at_ms=at_ms, entry_id=entry_id, memo=memo)  # fmt: skip


def correction(
    account_from: str, account_to: str, amount_fen: int, reason: str, *,
    txn_key: str, at_ms: int, entry_id: str,
) -> LedgerEntry:  # fmt: skip
    """A supplementary entry (补登) moving ``amount_fen`` between any two accounts.

    ``reason`` (who approved it and why) is required and kept as the memo. A correction is
    never reversed: a wrong correction is corrected by another one, so both stay on record.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a correction needs a reason: who approved it and why")
    account_kind(account_from)
    account_kind(account_to)
    return _transfer(EntryKind.correction, account_from, account_to, amount_fen,
                     txn_key=txn_key, at_ms=at_ms, entry_id=entry_id, memo=reason)  # fmt: skip


def _mirror(
    kind: EntryKind, original: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str
) -> LedgerEntry:
    if original.kind not in REVERSIBLE[kind]:
        raise ValueError(f"a {kind.value} cannot undo a {original.kind.value} entry")
    postings = tuple(Posting(p.account, -p.amount_fen) for p in original.postings)
    return LedgerEntry(entry_id, txn_key, kind, postings, at_ms, memo,
                       reverses=original.entry_id, currency=original.currency)  # fmt: skip


def void_of(
    original: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """A void (消费撤销) of a sale: its exact opposite, a transaction of its own."""
    return _mirror(EntryKind.void, original, txn_key=txn_key, at_ms=at_ms, entry_id=entry_id,
                   memo=memo)  # fmt: skip


def reversal_of(original: LedgerEntry, *, at_ms: int, entry_id: str, memo: str = "") -> LedgerEntry:
    """A reversal (冲正): the exact opposite of ``original``, under the original's identity."""
    return _mirror(EntryKind.reversal, original, txn_key=original.txn_key, at_ms=at_ms,
                   entry_id=entry_id, memo=memo)  # fmt: skip


def preauth_release(
    hold_entry: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """The end of a hold without capture (预授权撤销, or expiry): the hold goes back."""
    return _mirror(EntryKind.preauth_release, hold_entry, txn_key=txn_key, at_ms=at_ms,
                   entry_id=entry_id, memo=memo)  # fmt: skip


def completion_void_of(
    completion_entry: LedgerEntry, *, txn_key: str, at_ms: int, entry_id: str, memo: str = ""
) -> LedgerEntry:
    """A completion void (预授权完成撤销): undoes the capture and reopens the hold."""
    return _mirror(EntryKind.completion_void, completion_entry, txn_key=txn_key, at_ms=at_ms,
                   entry_id=entry_id, memo=memo)  # fmt: skip


def completion_max_fen(
    hold_fen: int, over_capture_max_percent: int = OVER_CAPTURE_MAX_PERCENT
) -> int:
    """The largest completion a hold of ``hold_fen`` allows (rounded down to the fen)."""
    return hold_fen + hold_fen * over_capture_max_percent // 100


def completion(
    hold_entry: LedgerEntry, amount_fen: int, *, mid: str, txn_key: str, at_ms: int,
    entry_id: str, memo: str = "", over_capture_max_percent: int = OVER_CAPTURE_MAX_PERCENT,
) -> LedgerEntry:  # fmt: skip
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
    amount = _positive(amount_fen)
    if amount > completion_max_fen(held, over_capture_max_percent):
        raise ValueError(f"completion of {amount} fen exceeds the limit for a {held} fen hold")
    postings = [Posting(hold_posting.account, -held), Posting(merchant_account(mid), amount)]
    if held != amount:
        postings.append(Posting(card, held - amount))
    return LedgerEntry(entry_id, txn_key, EntryKind.completion, tuple(postings), at_ms, memo,
                       reverses=hold_entry.entry_id, currency=hold_entry.currency)  # fmt: skip
