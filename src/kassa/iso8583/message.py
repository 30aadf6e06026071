"""The message value type: an MTI and its fields, immutable and valid by construction.

Field values are strings in one canonical form, the same one `kassa iso decode` prints:
- n fields: their digits, pad nibble removed;
- z fields (35, 36): the nibble string, upper case, with the separator as `D`;
- an/ans fields: the text;
- b fields: upper-case hex.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from kassa.errors import EncodeError
from kassa.iso8583.dialect import FIELDS, MTI_NAMES, TEXT_ENCODING, FieldDef, Kind, Length

_HEX = frozenset("0123456789ABCDEF")
_Z_DIGITS = _HEX  # clear tracks use 0-9 and D; encrypted ones any nibble


def _check_text(d: FieldDef, value: str) -> str:
    codec = TEXT_ENCODING if d.kind is Kind.ANS else "ascii"
    try:
        size = len(value.encode(codec))
    except UnicodeEncodeError:
        raise EncodeError(f"text is not {codec.upper()}-encodable", d.number) from None
    _check_size(d, size, "bytes")
    return value


def _check_size(d: FieldDef, size: int, unit: str) -> None:
    if d.length is Length.FIXED and size != d.size:
        raise EncodeError(f"{d.describe()} needs exactly {d.size} {unit}, got {size}", d.number)
    if size > d.size:
        raise EncodeError(f"{d.describe()} allows at most {d.size} {unit}, got {size}", d.number)


def check_value(number: int, value: object) -> str:
    """Return `value` in canonical form for field `number`, or raise EncodeError."""
    d = FIELDS.get(number)
    if d is None:
        raise EncodeError("not a field of the UnionPay POS dialect (2-64)", number)
    if not isinstance(value, str):
        raise EncodeError(f"value must be a string, got {type(value).__name__}", number)
    if d.kind is Kind.N:
        if value and not (value.isascii() and value.isdigit()):
            raise EncodeError(f"{d.describe()} takes digits only, got {value!r}", number)
        _check_size(d, len(value), "digits")
        return value
    if d.kind is Kind.Z:
        value = value.upper().replace("=", "D")
        if not _Z_DIGITS.issuperset(value):
            raise EncodeError(f"{d.describe()} takes digits, '=' (D) and hex nibbles only", number)
        _check_size(d, len(value), "digits")
        return value
    if d.kind is Kind.B:
        value = value.upper()
        if len(value) % 2 or not _HEX.issuperset(value):
            raise EncodeError(f"{d.describe()} takes an even number of hex digits", number)
        _check_size(d, len(value) // 2, "bytes")
        return value
    return _check_text(d, value)


class Message:
    """An ISO 8583 message of the UnionPay POS dialect. Immutable; valid by construction."""

    __slots__ = ("_fields", "mti")

    mti: str
    _fields: Mapping[int, str]

    def __init__(self, mti: str, fields: Mapping[int, str] | None = None) -> None:
        if mti not in MTI_NAMES:
            raise EncodeError(f"MTI {mti!r} is not one the UnionPay POS dialect uses", "mti")
        checked = {int(n): check_value(int(n), v) for n, v in (fields or {}).items()}
        object.__setattr__(self, "mti", mti)
        object.__setattr__(self, "_fields", MappingProxyType(dict(sorted(checked.items()))))

    @classmethod
    def _trusted(cls, mti: str, fields: dict[int, str]) -> Message:
        """Build from values the decoder has already checked (the fast path)."""
        msg = object.__new__(cls)
        object.__setattr__(msg, "mti", mti)
        object.__setattr__(msg, "_fields", MappingProxyType(fields))
        return msg

    @classmethod
    def from_checked(cls, mti: str, fields: Mapping[int, str]) -> Message:
        """Build from values already in canonical form: each one either decoded from the
        wire or passed through `check_value` by the caller. Only the MTI is checked.

        For a sender's hot path (the host's responses); anything else uses `Message(...)`.
        The encoder still rejects a value of the wrong size or alphabet.
        """
        if mti not in MTI_NAMES:
            raise EncodeError(f"MTI {mti!r} is not one the UnionPay POS dialect uses", "mti")
        return cls._trusted(mti, dict(sorted(fields.items())))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Message is immutable; use .with_fields()")

    @property
    def fields(self) -> Mapping[int, str]:
        return self._fields

    def __getitem__(self, number: int) -> str:
        return self._fields[number]

    def __contains__(self, number: object) -> bool:
        return number in self._fields

    def __iter__(self) -> Iterator[int]:
        return iter(self._fields)

    def get(self, number: int, default: str | None = None) -> str | None:
        return self._fields.get(number, default)

    def with_fields(self, mti: str | None = None, **changes: str | None) -> Message:
        """A copy with fields set (`f39="00"`) or removed (`f52=None`), and maybe a new MTI."""
        fields = dict(self._fields)
        for key, value in changes.items():
            number = int(key.removeprefix("f"))
            if value is None:
                fields.pop(number, None)
            else:
                fields[number] = value
        return Message(mti or self.mti, fields)

    def without(self, *numbers: int) -> Message:
        """A copy without the given fields."""
        return Message(self.mti, {n: v for n, v in self._fields.items() if n not in numbers})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.mti == other.mti and dict(self._fields) == dict(other._fields)

    def __hash__(self) -> int:
        return hash((self.mti, tuple(self._fields.items())))

    def __repr__(self) -> str:
        # Never show card data: a repr can end up in a log.
        return f"Message(mti={self.mti!r}, fields={sorted(self._fields)})"
