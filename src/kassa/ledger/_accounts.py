"""Account ids of the ledger: a small closed set of kinds, each a plain string.

An account id is ``<kind>:<ref>`` for the kinds that exist once per card or merchant
(``card:<card_ref>``, ``hold:<card_ref>``, ``merchant:<mid>``) and the bare kind for the
three singletons (``fee_income``, ``funding``, ``suspense``). Ids are strings so that the
store can keep one posting per SQL row without a join, and so that ``balances`` is a plain
``dict[str, int]``.

Balances are read from the account holder's side (see ``_entries`` for the sign rule):

- ``card:<ref>``: the cardholder's available funds. A debit card starts at 0 and is
  funded from ``funding``; a credit card is the same account allowed to go negative down
  to ``-limit`` (one account per card, no separate credit line: a refund to a credit card
  simply raises the balance, and ``available`` is ``balance + limit`` for both).
- ``hold:<ref>``: funds moved out of the card by pre-authorisations not yet captured or
  released; never negative.
- ``merchant:<mid>``: what the acquirer owes the merchant (sales less refunds and fees,
  less payouts).
- ``fee_income``: the acquirer's fee revenue.
- ``funding``: the outside world; money entering the closed loop (top-ups) makes it
  negative, payouts to merchants bring it back.
- ``suspense``: corrections (补登) parked until someone resolves them.

``card_ref`` is the card's token or keyed hash, never a PAN: a ref that looks like a PAN
(12 to 19 digits) is refused, because account ids end up in logs and SQL rows.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

__all__ = [
    "FEE_INCOME",
    "FUNDING",
    "SUSPENSE",
    "AccountKind",
    "account_kind",
    "account_ref",
    "card_account",
    "hold_account",
    "merchant_account",
]

ref_length_max = 64
# Printable ASCII without spaces: refs and MIDs go into logs, SQL rows and receipts as is.
_REF = re.compile(rf"[!-~]{{1,{ref_length_max}}}")
_PAN_LIKE = re.compile(r"[0-9]{12,19}")


class AccountKind(StrEnum):
    """The closed set of account kinds."""

    card = "card"
    hold = "hold"
    merchant = "merchant"
    fee_income = "fee_income"
    funding = "funding"
    suspense = "suspense"


FEE_INCOME = AccountKind.fee_income.value
FUNDING = AccountKind.funding.value
SUSPENSE = AccountKind.suspense.value

_WITH_REF = frozenset({AccountKind.card, AccountKind.hold, AccountKind.merchant})
_SINGLETONS = {k: AccountKind(k) for k in (FEE_INCOME, FUNDING, SUSPENSE)}


def _checked_ref(ref: str, what: str) -> str:
    if type(ref) is not str:
        raise ValueError(f"{what} must be a string, got {ref!r}")
    return _checked_str_ref(ref, what)


@lru_cache(maxsize=65_536)  # a ledger has far fewer cards and merchants than postings
def _checked_str_ref(ref: str, what: str) -> str:
    if _REF.fullmatch(ref) is None:
        raise ValueError(
            f"{what} must be 1 to {ref_length_max} printable ASCII characters without spaces,"
            f" got {ref!r}"
        )
    if what == "card_ref" and _PAN_LIKE.fullmatch(ref) is not None:
        # Account ids are logged and stored in clear: a PAN must never become one.
        raise ValueError("card_ref looks like a PAN; pass the card's token or keyed hash")
    return ref


def card_account(card_ref: str) -> str:
    """The cardholder's available-funds account ``card:<card_ref>``."""
    return "card:" + _checked_ref(card_ref, "card_ref")


def hold_account(card_ref: str) -> str:
    """The account of the card's open pre-authorisation holds ``hold:<card_ref>``."""
    return "hold:" + _checked_ref(card_ref, "card_ref")


def merchant_account(mid: str) -> str:
    """The account payable to merchant ``mid`` (ISO 8583 field 42), ``merchant:<mid>``."""
    return "merchant:" + _checked_ref(mid, "mid")


def account_kind(account: str) -> AccountKind:
    """The kind of a well-formed account id; ValueError for anything else."""
    if type(account) is not str:
        raise ValueError(f"account id must be a string, got {account!r}")
    return _kind_of(account)


@lru_cache(maxsize=65_536)  # runs for every posting built; accounts are far fewer
def _kind_of(account: str) -> AccountKind:
    single = _SINGLETONS.get(account)
    if single is not None:
        return single
    prefix, sep, ref = account.partition(":")
    if not sep or prefix not in AccountKind.__members__:
        raise ValueError(f"unknown account id {account!r}; build it with card_account() etc.")
    kind = AccountKind(prefix)
    if kind not in _WITH_REF:
        raise ValueError(f"account {kind.value!r} takes no reference, got {account!r}")
    _checked_str_ref(ref, "mid" if kind is AccountKind.merchant else "card_ref")
    return kind


def account_ref(account: str) -> str:
    """The card ref or MID inside an account id; ``""`` for the singleton accounts."""
    account_kind(account)
    return account.partition(":")[2]
