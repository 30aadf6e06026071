"""Finding the original a void, refund or completion refers to, in the terminal journal.

The journal holds masked card numbers only, so a void checks the card swiped for it
against the first 6 and last 4 digits of the original's masked number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kassa.card import CardInput, mask_pan
from kassa.terminal.journal import Journal, TxnRecord
from kassa.terminal.requests import Original
from kassa.terminal.states import State

_TRACE = re.compile(r"[0-9]{1,6}")
_RRN = re.compile(r"[0-9A-Za-z]{12}")
_AUTH = re.compile(r"[0-9A-Za-z]{6}")
_VOIDABLE = (State.APPROVED, State.UPLOADED)


@dataclass(frozen=True, slots=True)
class Found:
    """What the request needs about the original, and what the screen shows of it."""

    original: Original
    orig_id: int | None = None
    amount_fen: int | None = None
    pan_masked: str | None = None


def mmdd_ok(text: str) -> bool:
    """An MMDD date that can exist (29 February included)."""
    if not re.fullmatch(r"[0-9]{4}", text):
        return False
    month, day = int(text[:2]), int(text[2:])
    days = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return 1 <= month <= 12 and 1 <= day <= days[month - 1]


def void_original(journal: Journal, trace: str, batch: str) -> Found | str:
    """The sale of the current batch with this trace number, or the key of an error text."""
    trace = trace.strip()
    if not _TRACE.fullmatch(trace):
        return "trace_bad"
    rows = journal.txns(
        "stan = ? AND batch = ? AND txn_type = 'sale'", (f"{int(trace):06d}", batch)
    )
    if not rows:
        return "trace_none"
    row = rows[-1]
    if row.state not in _VOIDABLE:
        return "trace_state"
    original = Original(row.batch, row.stan, row.host_date, row.rrn, row.auth_code)
    return Found(original, row.id, row.amount_fen, row.pan_masked)


def refund_original(journal: Journal, rrn: str, date: str) -> Found | str:
    """The original by reference number (+ MMDD date); linked when it is in this journal."""
    rrn, date = rrn.strip(), date.strip()
    if not _RRN.fullmatch(rrn):
        return "rrn_bad"
    if date and not mmdd_ok(date):
        return "date_bad"
    local = _last(journal.txns("rrn = ? AND txn_type <> 'refund'", (rrn,)))
    return Found(Original(rrn=rrn, date=date or None), local.id if local else None)


def completion_original(journal: Journal, auth: str, date: str) -> Found | str:
    """The pre-authorisation by its authorisation code (+ MMDD date); the host finds it by
    code and card, the journal row (when this terminal made it) fills batch and trace."""
    auth, date = auth.strip().upper(), date.strip()
    if not _AUTH.fullmatch(auth):
        return "auth_bad"
    if date and not mmdd_ok(date):
        return "date_bad"
    local = _last(journal.txns("auth_code = ? AND txn_type = 'preauth'", (auth,)))
    if local is None:
        return Found(Original(date=date or None, auth_code=auth))
    original = Original(local.batch, local.stan, date or local.host_date, local.rrn, auth)
    return Found(original, local.id, None, local.pan_masked)


def same_card(pan: str, pan_masked: str | None) -> bool:
    """True when `pan` can be the card behind `pan_masked` (the journal's masked form)."""
    return pan_masked is None or mask_pan(pan) == pan_masked


def card_check(pan_masked: str | None, refusal: str) -> Callable[[CardInput], str | None]:
    """For the card screen: `refusal` unless the card is the original's."""

    def check(card: CardInput) -> str | None:
        return None if same_card(card.pan, pan_masked) else refusal

    return check


def _last(rows: list[TxnRecord]) -> TxnRecord | None:
    return rows[-1] if rows else None
