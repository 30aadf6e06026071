"""The issuer's and acquirer's checks on a card transaction (pure).

Each check returns a response code (reference §5) when the transaction must be declined,
or None. The order is the order a real issuer applies them: the card exists and may be
used, it has not expired, the PIN is right, the merchant may take it, the limits hold,
the money is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kassa.card import is_expired
from kassa.errors import CryptoError
from kassa.host.records import Card, CardKind, Merchant, Status
from kassa.iso8583.pinblock import recover_pin
from kassa.vault import verify_pin

WRONG_PIN_TRIES_MAX = 3

_STATUS_CODES = {Status.LOST: "41", Status.STOLEN: "43", Status.FROZEN: "62"}


@dataclass(frozen=True, slots=True)
class PinResult:
    """The outcome of a PIN check: a decline code or None, and the new wrong-try count."""

    code: str | None
    wrong_count: int


def check_card(card: Card | None, presented_expiry: str | None, today: date) -> str | None:
    """14 no such card; 41/43/62 lost, stolen, frozen; 54 expired or wrong expiry."""
    if card is None:
        return "14"
    if card.status in _STATUS_CODES:
        return _STATUS_CODES[card.status]
    if presented_expiry is not None and presented_expiry != card.expiry:
        return "54"
    return "54" if is_expired(card.expiry, today) else None


def check_pin(
    card: Card, pan: str, pin_block: bytes | None, pik: bytes, pvk: bytes, pin_required: bool
) -> PinResult:
    """55 wrong PIN (or none when required), 75 too many tries, 99 unreadable PIN block."""
    if card.wrong_pin_count >= WRONG_PIN_TRIES_MAX:
        return PinResult("75", card.wrong_pin_count)
    if pin_block is None:
        return PinResult("55" if pin_required else None, card.wrong_pin_count)
    try:
        pin = recover_pin(pik, pin_block, pan)
    except CryptoError:
        return PinResult("99", card.wrong_pin_count)
    if verify_pin(pvk, pan, pin, card.pvv):
        return PinResult(None, 0)
    wrong = card.wrong_pin_count + 1
    return PinResult("75" if wrong >= WRONG_PIN_TRIES_MAX else "55", wrong)


def check_merchant(merchant: Merchant, card: Card, amount_fen: int) -> str | None:
    """58 credit card where credit is not allowed; 61 over the merchant's per-txn limit."""
    if card.kind is CardKind.CREDIT and not merchant.credit_allowed:
        return "58"
    if amount_fen > merchant.txn_limit_fen:
        return "61"
    return None


def check_merchant_day(merchant: Merchant, day_fen: int, amount_fen: int) -> str | None:
    """61 when the merchant's approved debits of the day plus this one exceed its daily
    limit (none set: no limit)."""
    if merchant.daily_limit_fen is not None and day_fen + amount_fen > merchant.daily_limit_fen:
        return "61"
    return None


def check_card_limits(card: Card, day_count: int, day_fen: int, amount_fen: int) -> str | None:
    """65 too many debits today; 61 over the card's daily amount."""
    if card.daily_count_max is not None and day_count + 1 > card.daily_count_max:
        return "65"
    if card.daily_limit_fen is not None and day_fen + amount_fen > card.daily_limit_fen:
        return "61"
    return None


def check_funds(card: Card, balance_fen: int, amount_fen: int) -> str | None:
    """51 when the card's available funds (credit limit included) do not cover the amount."""
    available = balance_fen + (card.credit_limit_fen if card.kind is CardKind.CREDIT else 0)
    return "51" if amount_fen > available else None
