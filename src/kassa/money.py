"""Money as integer minor units (fen), with one parser for what people type.

`Amount` holds whole fen and an ISO 4217 numeric currency code (``"156"`` = CNY). There is
no float anywhere in this module: yuan text is split at the decimal point and each side is
read as an integer.

`str(amount)` is ``"CNY 12.50"``: the alphabetic code, a space, the yuan. Chosen over
``"¥12.50"`` because it is plain ASCII (``¥`` U+00A5 has no GBK code, so it would break a
GBK receipt printer) and because ``¥`` also means Japanese yen.

Amounts of one currency add and subtract; mixing currencies is a bug (ValueError). The
ordering from ``order=True`` compares fen first and is only meaningful within one currency.
An `Amount` may be negative or above the n12 maximum as the result of arithmetic (a net
total); `parse` and `from_n12` never produce such a value and `n12` refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kassa import limits
from kassa.card.pan import mask_in_text
from kassa.errors import AmountError

__all__ = ["CNY", "Amount", "sum_amounts"]

CNY = "156"
_ALPHA_CODES = {"156": "CNY", "344": "HKD", "446": "MOP", "840": "USD", "978": "EUR"}
_CURRENCY = re.compile(r"[0-9]{3}")
_YUAN = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_N12 = re.compile(r"[0-9]{12}")
_EXAMPLE = "e.g. 12.50"
_TEXT_LENGTH_MAX = 32  # far above "9999999999.99"; keeps int() away from huge strings
_SHOWN_LENGTH_MAX = 24


def _yuan_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


_MAX_YUAN = _yuan_text(limits.amount_max_fen)


def _shown(text: str) -> str:
    """`text` fit for an error message: PANs masked (a card swiped into the amount field
    must not reach a log) and cut short."""
    masked = mask_in_text(text)
    if len(masked) > _SHOWN_LENGTH_MAX:
        masked = masked[: _SHOWN_LENGTH_MAX - 3] + "..."
    return repr(masked)


def _shape_error(text: str, raw: str) -> AmountError:
    """The most helpful AmountError for `text` that is not digits[.digits]."""
    if not text:
        return AmountError(f"amount is empty; give yuan, {_EXAMPLE}")
    if "," in text or "，" in text:
        return AmountError(
            f"amount {_shown(raw)} has a thousands separator; write it without, e.g. 1234.50"
        )
    if text.startswith("-"):
        return AmountError(f"amount {_shown(raw)} is negative; give a positive amount, {_EXAMPLE}")
    if any(char.isdigit() and not "0" <= char <= "9" for char in text):
        return AmountError(f"amount {_shown(raw)} has non-ASCII digits; type 0-9, {_EXAMPLE}")
    return AmountError(
        f"amount {_shown(raw)} is not yuan with at most 2 decimal places; {_EXAMPLE}"
    )


@dataclass(frozen=True, slots=True, order=True)
class Amount:
    """A sum of money in fen (1/100 yuan) of one ISO 4217 numeric currency."""

    fen: int
    currency: str = CNY

    def __post_init__(self) -> None:
        # Programmer errors, not input errors: the parsers below never build these.
        if type(self.fen) is not int:
            raise TypeError(f"Amount.fen must be an int, got {type(self.fen).__name__}")
        if not isinstance(self.currency, str) or _CURRENCY.fullmatch(self.currency) is None:
            raise ValueError(f"Amount.currency must be 3 digits (ISO 4217), got {self.currency!r}")

    @classmethod
    def parse(cls, text: str, currency: str = CNY, *, positive: bool = True) -> Amount:
        """Read yuan as people type them: "12.50", "12.5", "12", "0.01", spaces around ok.

        Refuses (AmountError, one line with an example) anything else: thousands separators,
        signs, exponents, more than 2 decimals, non-ASCII digits, more than the n12 maximum,
        and zero unless `positive` is False.
        """
        stripped = text.strip()
        if len(stripped) > _TEXT_LENGTH_MAX:
            raise AmountError(f"amount {_shown(text)} is too long; the most is {_MAX_YUAN}")
        match = _YUAN.fullmatch(stripped)
        if match is None:
            raise _shape_error(stripped, text)
        whole, part = match.group(1), match.group(2)
        if part is not None and len(part) > 2:
            raise AmountError(f"amount {_shown(text)} has more than 2 decimal places; {_EXAMPLE}")
        fen = int(whole) * 100 + int((part or "").ljust(2, "0"))
        if fen > limits.amount_max_fen:
            raise AmountError(f"amount {_shown(text)} is over the maximum {_MAX_YUAN}")
        if positive and fen == 0:
            raise AmountError(f"amount must be more than 0.00; {_EXAMPLE}")
        return cls(fen, currency)

    @classmethod
    def from_n12(cls, digits: str, currency: str = CNY) -> Amount:
        """Read an ISO 8583 n12 amount (12 ASCII digits, fen): "000000001250" is 12.50."""
        if _N12.fullmatch(digits) is None:
            raise AmountError("n12 amount must be exactly 12 digits 0-9, e.g. 000000001250")
        return cls(int(digits), currency)

    @classmethod
    def zero(cls, currency: str = CNY) -> Amount:
        """Nothing, in `currency`."""
        return cls(0, currency)

    def n12(self) -> str:
        """The 12-digit fen string for F4 and the like; a negative or too large amount is a
        bug at the caller (ValueError)."""
        if not 0 <= self.fen <= limits.amount_max_fen:
            raise ValueError(f"amount {self.yuan()} does not fit n12 (0 to {_MAX_YUAN})")
        return f"{self.fen:012d}"

    def yuan(self) -> str:
        """Yuan with exactly 2 decimals, no grouping: "12.50", "-0.05"."""
        return _yuan_text(self.fen)

    def __str__(self) -> str:
        return f"{_ALPHA_CODES.get(self.currency, self.currency)} {self.yuan()}"

    def _same_currency(self, other: Amount) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix currencies {self.currency} and {other.currency}")

    def __add__(self, other: object) -> Amount:
        if not isinstance(other, Amount):
            return NotImplemented
        self._same_currency(other)
        return Amount(self.fen + other.fen, self.currency)

    def __sub__(self, other: object) -> Amount:
        if not isinstance(other, Amount):
            return NotImplemented
        self._same_currency(other)
        return Amount(self.fen - other.fen, self.currency)


def sum_amounts(amounts: Iterable[Amount], currency: str = CNY) -> Amount:
    """The total of `amounts`, all in `currency` (zero when empty); mixing is a ValueError."""
    total = Amount.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
