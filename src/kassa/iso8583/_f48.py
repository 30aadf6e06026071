"""Field 48 (附加数据-私有) in its three UnionPay uses: settlement totals, batch-upload
details, batch-upload end count. Reference: UNIONPAY-8583.md §3.7, §3.8.

The field is `n` LLLVAR; the codec hands it over as digits. The caller knows from the
message (0500/0510, or 0320 with 60.3 = 201 / 202 / 207) which form it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Self

from kassa import limits
from kassa.card.pan import mask_pan
from kassa.iso8583._fieldcheck import (
    decoding,
    require_code,
    require_count,
    require_digits,
    require_field_digits,
)

settlement_count_max = 999  # n3 per domain and direction
batch_upload_records_max = 8  # NN in a 0320 detail message
batch_end_count_max = 9_999  # n4
_TOTALS_SIZE = 31
_RECORD_SIZE = 40
_PAN_SIZE = 20
_PAN_DIGITS_MIN = 8  # shorter strings are no card number; the n20 slot caps the top


class SettlementResult(StrEnum):
    """对账应答码 at 1-based positions 31 and 62 of the settlement F48."""

    REQUEST = "0"  # in the 0500 request (and "undefined" in a response)
    BALANCED = "1"  # 对账平
    UNBALANCED = "2"  # 对账不平
    ERROR = "3"  # 对账出错


@dataclass(frozen=True, slots=True)
class SettlementTotals:
    """One domain (domestic 内卡 or foreign 外卡) of the settlement totals.

    Debits are sales, pre-auth completions, ...; credits are refunds, ...; voided
    transactions count in neither. Wire form: amount n12 + count n3 + amount n12 +
    count n3 + result n1 (31 digits).
    """

    debit_amount_fen: int
    debit_count: int
    credit_amount_fen: int
    credit_count: int
    result: str = SettlementResult.REQUEST

    def __post_init__(self) -> None:
        require_count(self.debit_amount_fen, limits.amount_max_fen, "debit total (fen)")
        require_count(self.debit_count, settlement_count_max, "debit count")
        require_count(self.credit_amount_fen, limits.amount_max_fen, "credit total (fen)")
        require_count(self.credit_count, settlement_count_max, "credit count")
        require_code(self.result, frozenset(SettlementResult), "reconciliation result")

    @classmethod
    def from_digits(cls, value: str) -> Self:
        """31 digits -> SettlementTotals; ValueError if malformed."""
        require_digits(value, _TOTALS_SIZE, "settlement totals")
        amounts = int(value[0:12]), int(value[12:15]), int(value[15:27]), int(value[27:30])
        return cls(*amounts, value[30])

    def to_digits(self) -> str:
        """The 31 digits of this domain."""
        return (
            f"{self.debit_amount_fen:012d}{self.debit_count:03d}"
            f"{self.credit_amount_fen:012d}{self.credit_count:03d}{self.result}"
        )

    def same_totals(self, other: SettlementTotals) -> bool:
        """True when amounts and counts agree, whatever the two result codes say."""
        return _counts(self) == _counts(other)

    @property
    def balanced(self) -> bool:
        """True when the host answered 对账平 for this domain."""
        return self.result == SettlementResult.BALANCED


def _counts(totals: SettlementTotals) -> tuple[int, int, int, int]:
    return (
        totals.debit_amount_fen,
        totals.debit_count,
        totals.credit_amount_fen,
        totals.credit_count,
    )


@dataclass(frozen=True, slots=True)
class Field48Settlement:
    """F48 of 0500/0510: domestic totals then foreign totals, exactly 62 digits.

    The results sit at 1-based positions 31 and 62 (NEWPOS reads F48[30] and F48[61]);
    `0` in the request, `1`/`2`/`3` in the host's answer.
    """

    domestic: SettlementTotals
    foreign: SettlementTotals

    @classmethod
    def parse(cls, value: str) -> Self:
        """Settlement F48 digits -> Field48Settlement; DecodeError(field=48) if malformed."""
        with decoding(48):
            require_field_digits(value, {2 * _TOTALS_SIZE}, "a settlement F48")
            domestic = SettlementTotals.from_digits(value[:_TOTALS_SIZE])
            return cls(domestic, SettlementTotals.from_digits(value[_TOTALS_SIZE:]))

    def to_field(self) -> str:
        """The 62 digits, NEWPOS `"%s%03d%s%03d0%s%03d%s%03d0"` layout (results included)."""
        return self.domestic.to_digits() + self.foreign.to_digits()

    @property
    def balanced(self) -> bool:
        """True when both domains are 对账平: the terminal ends its batch upload with 207."""
        return self.domestic.balanced and self.foreign.balanced


class CardOrgDomain(StrEnum):
    """卡组织标识 of a batch-upload record."""

    DOMESTIC = "00"  # CUP
    FOREIGN = "01"


@dataclass(frozen=True, slots=True, repr=False)
class BatchUploadRecord:
    """One 40-digit detail record: card org n2 + original STAN n6 + PAN n20 + amount n12.

    The PAN goes right-aligned and zero-padded to 20 digits. Parsing strips the leading
    zeros back off: no issuer identification number starts with 0 (ISO/IEC 7812 major
    industry identifier 0 is reserved), so a PAN here must not start with 0 either, and
    must have 8 to 20 digits. The PAN never appears in repr or error messages.
    """

    card_org: str
    stan: str
    pan: str
    amount_fen: int

    def __post_init__(self) -> None:
        require_code(self.card_org, frozenset(CardOrgDomain), "batch-upload card org")
        require_digits(self.stan, 6, "batch-upload original STAN")
        pan = self.pan
        size_ok = isinstance(pan, str) and _PAN_DIGITS_MIN <= len(pan) <= _PAN_SIZE
        if not (size_ok and pan.isascii() and pan.isdigit() and pan[0] != "0"):
            raise ValueError(
                f"batch-upload PAN must be {_PAN_DIGITS_MIN}-{_PAN_SIZE} digits, not starting with 0"
            )
        require_count(self.amount_fen, limits.amount_max_fen, "batch-upload amount (fen)")

    @classmethod
    def from_digits(cls, value: str) -> Self:
        """40 digits -> BatchUploadRecord; ValueError if malformed."""
        if len(value) != _RECORD_SIZE or not (value.isascii() and value.isdigit()):
            raise ValueError(f"a batch-upload record must be {_RECORD_SIZE} digits")
        return cls(value[0:2], value[2:8], value[8:28].lstrip("0"), int(value[28:40]))

    def to_digits(self) -> str:
        """The 40 digits of this record."""
        return f"{self.card_org}{self.stan}{self.pan:0>20}{self.amount_fen:012d}"

    def __repr__(self) -> str:
        masked = mask_pan(self.pan)
        return (
            f"BatchUploadRecord(card_org={self.card_org!r}, stan={self.stan!r}, "
            f"pan={masked!r}, amount_fen={self.amount_fen!r})"
        )


@dataclass(frozen=True, slots=True)
class Field48BatchUpload:
    """F48 of a 0320 magstripe detail upload (60.3 = 201): NN (01-08) + NN records."""

    records: tuple[BatchUploadRecord, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "records", tuple(self.records))
        if not 1 <= len(self.records) <= batch_upload_records_max:
            raise ValueError(
                f"a batch-upload message carries 1 to {batch_upload_records_max} records, "
                f"got {len(self.records)}; split the upload"
            )

    @classmethod
    def parse(cls, value: str) -> Self:
        """Batch-upload F48 digits -> Field48BatchUpload; DecodeError(field=48) if malformed."""
        with decoding(48):
            sizes = {2 + n * _RECORD_SIZE for n in range(1, batch_upload_records_max + 1)}
            require_field_digits(value, sizes, "a batch-upload F48")
            count = int(value[:2])
            if len(value) != 2 + count * _RECORD_SIZE:
                held = (len(value) - 2) // _RECORD_SIZE
                raise ValueError(f"the batch-upload F48 announces {count} records, holds {held}")
            chunks = (value[i : i + _RECORD_SIZE] for i in range(2, len(value), _RECORD_SIZE))
            return cls(tuple(BatchUploadRecord.from_digits(chunk) for chunk in chunks))

    def to_field(self) -> str:
        """NN + the records' digits."""
        return f"{len(self.records):02d}" + "".join(r.to_digits() for r in self.records)


@dataclass(frozen=True, slots=True)
class Field48BatchEnd:
    """F48 of the 0320 batch-upload end (60.3 = 202 / 207): records uploaded, n4."""

    count: int

    def __post_init__(self) -> None:
        require_count(self.count, batch_end_count_max, "batch-upload end count")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Four digits -> Field48BatchEnd; DecodeError(field=48) if malformed."""
        with decoding(48):
            require_field_digits(value, {4}, "a batch-upload end F48")
            return cls(int(value))

    def to_field(self) -> str:
        """The count as four digits (`%04d`)."""
        return f"{self.count:04d}"
