"""Postings and entries: immutable, balanced, checked at construction.

Sign convention: a posting's ``amount_fen`` is the change it makes to its account's
balance read from the account holder's side, so **positive = credit** (the ledger owes the
holder more) and **negative = debit**. A ¥100.00 sale is ``card:<ref> -10000`` and
``merchant:<mid> +10000``; a top-up is ``funding -N`` and ``card:<ref> +N``. Every entry's
postings sum to zero, so the sum over all accounts is always zero.

Construction raises ValueError for a malformed entry: that is a bug in the caller (the
builders in ``_builders`` never make one), not user input. ``entry_problem`` finds the
first fault without raising, for the validation passes over entries that reached us
around the constructor (a lax loader, a corrupted row).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kassa import limits
from kassa.ledger._accounts import AccountKind, account_kind

__all__ = [
    "CURRENCY_CNY",
    "MIRROR_KINDS",
    "REVERSIBLE",
    "EntryKind",
    "LedgerEntry",
    "Posting",
    "entry_problem",
]

CURRENCY_CNY = "156"  # ISO 4217 numeric, as in field 49
memo_length_max = 200


class EntryKind(StrEnum):
    """What an entry records; each kind has a fixed shape of postings."""

    fund = "fund"  # funding -> card (initial balance, top-up)
    sale = "sale"  # card -> merchant
    void = "void"  # exact opposite of a sale (消费撤销)
    reversal = "reversal"  # exact opposite of the reversed entry (冲正)
    refund = "refund"  # merchant -> card (退货)
    preauth_hold = "preauth_hold"  # card -> hold (预授权)
    preauth_release = "preauth_release"  # exact opposite of a hold (预授权撤销 / expiry)
    completion = "completion"  # hold released, card debited, merchant credited (预授权完成)
    completion_void = "completion_void"  # exact opposite of a completion (预授权完成撤销)
    fee = "fee"  # merchant -> fee_income
    correction = "correction"  # any account -> any account, with a reason (补登)
    settlement_payout = "settlement_payout"  # merchant -> funding (paid out to the bank)


#: For each kind that points at an earlier entry through ``reverses``: the kinds it may
#: point at. A completion "reverses" the hold it captures: it consumes it, and a hold is
#: consumed once, by a live release or a live completion. Refunds and advices are never
#: reversed (UNIONPAY-8583 §3.1); a fee is reversed when its transaction is cancelled.
REVERSIBLE: dict[EntryKind, frozenset[EntryKind]] = {
    EntryKind.void: frozenset({EntryKind.sale}),
    EntryKind.reversal: frozenset(
        {
            EntryKind.sale,
            EntryKind.void,
            EntryKind.preauth_hold,
            EntryKind.preauth_release,
            EntryKind.completion,
            EntryKind.completion_void,
            EntryKind.fund,
            EntryKind.fee,
        }
    ),
    EntryKind.preauth_release: frozenset({EntryKind.preauth_hold}),
    EntryKind.completion: frozenset({EntryKind.preauth_hold}),
    EntryKind.completion_void: frozenset({EntryKind.completion}),
}

#: Kinds whose postings are the exact negation of the entry they reverse.
MIRROR_KINDS = frozenset(
    {EntryKind.void, EntryKind.reversal, EntryKind.preauth_release, EntryKind.completion_void}
)

_card, _hold, _merchant = AccountKind.card, AccountKind.hold, AccountKind.merchant
_fee_income, _funding = AccountKind.fee_income, AccountKind.funding
# Shape per kind: the sets of (account kind, amount > 0) an entry of that kind may have,
# one posting per account kind. Reversal and correction have no fixed shape.
_Signature = frozenset[tuple[AccountKind, bool]]
_SHAPES: dict[EntryKind, frozenset[_Signature]] = {
    kind: frozenset(frozenset(signature) for signature in signatures)
    for kind, signatures in {
        EntryKind.fund: [{(_funding, False), (_card, True)}],
        EntryKind.sale: [{(_card, False), (_merchant, True)}],
        EntryKind.void: [{(_card, True), (_merchant, False)}],
        EntryKind.refund: [{(_merchant, False), (_card, True)}],
        EntryKind.preauth_hold: [{(_card, False), (_hold, True)}],
        EntryKind.preauth_release: [{(_hold, False), (_card, True)}],
        # The card line is absent when the capture equals the hold, and either sign else.
        EntryKind.completion: [
            {(_hold, False), (_merchant, True), *card}
            for card in ([], [(_card, True)], [(_card, False)])
        ],
        EntryKind.completion_void: [
            {(_hold, True), (_merchant, False), *card}
            for card in ([], [(_card, True)], [(_card, False)])
        ],
        EntryKind.fee: [{(_merchant, False), (_fee_income, True)}],
        EntryKind.settlement_payout: [{(_merchant, False), (_funding, True)}],
    }.items()
}


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of an entry: ``amount_fen`` added to ``account`` (positive = credit)."""

    account: str
    amount_fen: int


def _header_problem(entry: LedgerEntry) -> str | None:
    for name in ("entry_id", "txn_key"):
        value = getattr(entry, name)
        if type(value) is not str or not value or not value.isprintable():
            return f"{name} must be a non-empty printable string, got {value!r}"
    kind = entry.kind
    if not isinstance(kind, EntryKind):
        return f"kind must be an EntryKind, got {kind!r}"
    reverses = entry.reverses
    if (kind in REVERSIBLE) != (reverses is not None):
        return f"a {kind.value} entry {'needs' if kind in REVERSIBLE else 'takes no'} `reverses`"
    if reverses is not None and (type(reverses) is not str or not reverses):
        return f"reverses must be an entry id, got {reverses!r}"
    if type(entry.at_ms) is not int or entry.at_ms < 0:
        return f"at_ms must be a non-negative int, got {entry.at_ms!r}"
    if type(entry.memo) is not str or len(entry.memo) > memo_length_max:
        return f"memo must be a string of at most {memo_length_max} characters"
    currency = entry.currency
    if not (type(currency) is str and len(currency) == 3 and currency.isdigit()):
        return f"currency must be 3 ISO 4217 digits, got {currency!r}"
    return None


def _postings_problem(kind: EntryKind, postings: object) -> tuple[str, str] | None:
    if type(postings) is not tuple or len(postings) < 2:
        return "malformed", "postings must be a tuple of at least 2 Posting"
    signature = set()
    refs = set()
    total = 0
    for posting in postings:
        if type(posting) is not Posting or type(posting.amount_fen) is not int:
            return "malformed", f"not a Posting with an int amount: {posting!r}"
        amount = posting.amount_fen
        if amount == 0 or not -limits.amount_max_fen <= amount <= limits.amount_max_fen:
            return "malformed", f"amount {amount} for {posting.account} is zero or out of range"
        try:
            account_type = account_kind(posting.account)
        except ValueError as error:
            return "malformed", str(error)
        signature.add((account_type, amount > 0))
        if account_type is _card or account_type is _hold:
            refs.add(posting.account[5:])  # "card:" and "hold:" are both 5 characters
        total += amount
    if len({p.account for p in postings}) != len(postings):
        return "malformed", "an account appears twice in one entry"
    if total:
        return "unbalanced", f"postings sum to {total}, not 0"
    shapes = _SHAPES.get(kind)
    if shapes is None:
        return None
    # One posting per account kind (the set would hide a second merchant) and one card.
    if len(signature) != len(postings) or frozenset(signature) not in shapes or len(refs) > 1:
        lines = ", ".join(f"{p.account} {p.amount_fen:+d}" for p in postings)
        return "malformed", f"a {kind.value} entry cannot post {lines}"
    return None


def entry_problem(entry: LedgerEntry) -> tuple[str, str] | None:
    """The first thing wrong with one entry on its own, or None.

    Returns ``("unbalanced", message)`` when the postings are readable but do not sum to
    zero, ``("malformed", message)`` for anything else: fewer than 2 postings, a zero or
    out-of-range amount, an unknown account, one account twice, postings of the wrong
    shape for the kind (a sale is card -> merchant, one card per entry...), a missing or
    unexpected ``reverses``, a bad id, time, memo or currency.
    """
    header = _header_problem(entry)
    if header is not None:
        return "malformed", header
    return _postings_problem(entry.kind, entry.postings)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One balanced, immutable entry. ``reverses`` names the earlier entry it undoes.

    ``txn_key`` is the transaction's identity (for example ``"TID:BATCH:STAN"``), opaque
    here; a reversal carries the identity of the transaction it reverses. Raises
    ValueError when malformed (see the module docstring).
    """

    entry_id: str
    txn_key: str
    kind: EntryKind
    postings: tuple[Posting, ...]
    at_ms: int
    memo: str = ""
    reverses: str | None = None
    currency: str = CURRENCY_CNY

    def __post_init__(self) -> None:
        problem = entry_problem(self)
        if problem is not None:
            raise ValueError(f"malformed ledger entry {self.entry_id!r}: {problem[1]}")

    def amount_on(self, account: str) -> int:
        """The signed amount this entry posts to ``account`` (0 if it does not touch it)."""
        for posting in self.postings:
            if posting.account == account:
                return posting.amount_fen
        return 0
