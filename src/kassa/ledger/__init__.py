"""The money ledger: append-only double entry, pure (ARCHITECTURE rule 4).

The acquirer host is also the issuer of a closed-loop card program, so it keeps card
accounts as well as merchant payables. Every movement of money is a ``LedgerEntry`` of
balanced ``Posting`` lines; nothing is ever updated in place: a void, a reversal, a
release or a correction (补登) is a new entry that points at, or offsets, the old one.

Sign convention: a posting's ``amount_fen`` is the change to its account's balance read
from the holder's side, **positive = credit, negative = debit**; every entry sums to 0.
So a card account reads as the cardholder's available funds (a credit card may go down to
``-limit``), a merchant account as what is owed to the merchant, and ``funding`` as minus
the money that entered the loop.

- accounts: ``card_account``, ``hold_account``, ``merchant_account``, ``FEE_INCOME``,
  ``FUNDING``, ``SUSPENSE``, ``account_kind``, ``account_ref``
- entries: ``Posting``, ``LedgerEntry``, ``EntryKind`` (constructors raise ValueError on a
  malformed entry: a bug, not user input)
- builders: ``fund``, ``sale``, ``void_of``, ``reversal_of``, ``refund``, ``preauth_hold``,
  ``preauth_release``, ``completion``, ``completion_void_of``, ``fee``, ``correction``,
  ``settlement_payout`` (entry ids and times are passed in)
- balances: ``balances`` (streaming), ``available``
- validation (problems as data): ``check_balanced`` (a), ``check_links`` (b),
  ``check_captures`` (c), ``check_card_floors`` (d), ``check_holds`` (e), ``check_all``

The store persists one row per posting line; it should rebuild entries through
``LedgerEntry`` (which checks them) and may run ``check_all`` after a restore.
"""

from __future__ import annotations

from kassa.ledger._accounts import (
    FEE_INCOME,
    FUNDING,
    SUSPENSE,
    AccountKind,
    account_kind,
    account_ref,
    card_account,
    hold_account,
    merchant_account,
)
from kassa.ledger._balances import available, balances
from kassa.ledger._builders import (
    correction,
    fee,
    fund,
    refund,
    reversal_of,
    sale,
    settlement_payout,
    void_of,
)
from kassa.ledger._check import (
    PROBLEMS_MAX,
    check_all,
    check_balanced,
    check_captures,
    check_card_floors,
    check_holds,
    check_links,
)
from kassa.ledger._entries import CURRENCY_CNY, REVERSIBLE, EntryKind, LedgerEntry, Posting
from kassa.ledger._preauth import (
    OVER_CAPTURE_MAX_PERCENT,
    completion,
    completion_max_fen,
    completion_void_of,
    preauth_hold,
    preauth_release,
)
from kassa.ledger._problems import LedgerProblem, ProblemCode

__all__ = [
    "CURRENCY_CNY",
    "FEE_INCOME",
    "FUNDING",
    "OVER_CAPTURE_MAX_PERCENT",
    "PROBLEMS_MAX",
    "REVERSIBLE",
    "SUSPENSE",
    "AccountKind",
    "EntryKind",
    "LedgerEntry",
    "LedgerProblem",
    "Posting",
    "ProblemCode",
    "account_kind",
    "account_ref",
    "available",
    "balances",
    "card_account",
    "check_all",
    "check_balanced",
    "check_captures",
    "check_card_floors",
    "check_holds",
    "check_links",
    "completion",
    "completion_max_fen",
    "completion_void_of",
    "correction",
    "fee",
    "fund",
    "hold_account",
    "merchant_account",
    "preauth_hold",
    "preauth_release",
    "refund",
    "reversal_of",
    "sale",
    "settlement_payout",
    "void_of",
]
