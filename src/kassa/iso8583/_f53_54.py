"""Field 53 (安全控制信息) and field 54 (附加金额, balances).

Reference: UNIONPAY-8583.md §2 (rows 53, 54), §4.3, §4.4.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Self

from kassa import limits
from kassa.iso8583._fieldcheck import (
    decoding,
    require_code,
    require_count,
    require_digits,
    require_field_digits,
)

_F53_PADDING = "0" * 13


class PinFormat(StrEnum):
    """53.1 PIN block format."""

    NO_PIN = "0"
    WITHOUT_PAN = "1"  # ANSI X9.8 without the PAN
    WITH_PAN = "2"  # ANSI X9.8 / ISO 9564 format 0


class PinAlgorithm(StrEnum):
    """53.2 encryption algorithm of the PIN block (and the track data)."""

    SINGLE_DES = "0"
    TRIPLE_DES = "6"  # double-length key


@dataclass(frozen=True, slots=True)
class Field53:
    """Field 53: 53.1 PIN format + 53.2 algorithm + 53.3 track encryption + 13 zeros.

    E.g. `2610000000000000`: PIN with PAN, 3DES, track data encrypted under the TDK.
    """

    pin_format: str
    algorithm: str
    track_encrypted: bool

    def __post_init__(self) -> None:
        require_code(self.pin_format, frozenset(PinFormat), "53.1 PIN format")
        require_code(self.algorithm, frozenset(PinAlgorithm), "53.2 algorithm")
        if not isinstance(self.track_encrypted, bool):
            raise ValueError(f"53.3 track_encrypted must be a bool, got {self.track_encrypted!r}")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Sixteen digits -> Field53; DecodeError(field=53) if malformed."""
        with decoding(53):
            require_field_digits(value, {16}, "the value")
            if value[3:] != _F53_PADDING:
                raise ValueError("the value must end with 13 zeros after 53.1-53.3")
            require_code(value[2], {"0", "1"}, "53.3 track encryption")
            return cls(value[0], value[1], value[2] == "1")

    def to_field(self) -> str:
        """The 16 digits of field 53."""
        return f"{self.pin_format}{self.algorithm}{int(self.track_encrypted)}{_F53_PADDING}"


class AmountType(StrEnum):
    """54.2 amount type (ISO 8583 additional amounts, deposit accounts).

    For a credit-card account some issuers use 01 for the open-to-buy and 02 for the
    credit limit; the UnionPay slip shows 02 as 可用余额 either way.
    """

    LEDGER = "01"  # 账户余额, posted balance
    AVAILABLE = "02"  # 可用余额, ledger minus holds


_SIGNS = {"C": 1, "D": -1}
_ITEM_SIZE = 20
items_max = 6  # LLL 120 characters


@dataclass(frozen=True, slots=True)
class BalanceAmount:
    """One 20-character balance: account type n2 + amount type n2 + currency n3 +
    sign `C` (credit, positive) / `D` (debit, negative) + amount n12.

    A zero amount is written with `C`; `D000000000000` is accepted on parse and comes
    back as `C000000000000` (the only input `to_field` does not reproduce).
    """

    account_type: str
    amount_type: str
    currency: str
    amount_fen: int

    def __post_init__(self) -> None:
        require_digits(self.account_type, 2, "54.1 account type")
        require_digits(self.amount_type, 2, "54.2 amount type")
        require_digits(self.currency, 3, "54.3 currency")
        if isinstance(self.amount_fen, bool) or not isinstance(self.amount_fen, int):
            raise ValueError(f"balance amount must be integer fen, got {self.amount_fen!r}")
        require_count(abs(self.amount_fen), limits.amount_max_fen, "balance amount (fen)")

    @classmethod
    def from_text(cls, value: str) -> Self:
        """Twenty characters -> BalanceAmount; ValueError if malformed."""
        if len(value) != _ITEM_SIZE:
            raise ValueError(f"a balance must be {_ITEM_SIZE} characters, got {len(value)}")
        sign = _SIGNS.get(value[7])
        if sign is None:
            raise ValueError(f"balance sign must be C or D, got {value[7]!r}")
        require_digits(value[8:], 12, "balance amount")
        return cls(value[0:2], value[2:4], value[4:7], sign * int(value[8:]))

    def to_text(self) -> str:
        """The 20 characters of this balance."""
        sign = "D" if self.amount_fen < 0 else "C"
        head = f"{self.account_type}{self.amount_type}{self.currency}"
        return f"{head}{sign}{abs(self.amount_fen):012d}"


@dataclass(frozen=True, slots=True)
class Field54:
    """Field 54: one to six 20-character balances (LLL at most 120)."""

    items: tuple[BalanceAmount, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        if not 1 <= len(self.items) <= items_max:
            raise ValueError(f"field 54 holds 1 to {items_max} balances, got {len(self.items)}")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Field 54 text -> Field54; DecodeError(field=54) if malformed."""
        with decoding(54):
            size = len(value)
            if size == 0 or size % _ITEM_SIZE or size > items_max * _ITEM_SIZE:
                raise ValueError(
                    f"the value must be 20, 40, ... {items_max * _ITEM_SIZE} characters, got {size}"
                )
            chunks = (value[i : i + _ITEM_SIZE] for i in range(0, size, _ITEM_SIZE))
            return cls(tuple(BalanceAmount.from_text(chunk) for chunk in chunks))

    def to_field(self) -> str:
        """The balances back to back."""
        return "".join(item.to_text() for item in self.items)

    def balance_fen(self, amount_type: str, currency: str = "156") -> int | None:
        """The first balance of `amount_type` in `currency`, signed fen; None if absent.

        Only one currency is taken: a balance in another currency is not fen of yuan.
        """
        for item in self.items:
            if item.amount_type == amount_type and item.currency == currency:
                return item.amount_fen
        return None

    @property
    def available_fen(self) -> int | None:
        """可用余额 in CNY (amount type 02), what the slip and screen show; None if absent."""
        return self.balance_fen(AmountType.AVAILABLE)

    @property
    def ledger_fen(self) -> int | None:
        """账户余额 in CNY (amount type 01); None if absent."""
        return self.balance_fen(AmountType.LEDGER)
