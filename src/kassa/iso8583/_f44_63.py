"""Field 44 (附加响应数据) and field 63 (自定义域63, operator / card org + slip text).

Reference: UNIONPAY-8583.md §2 (rows 44, 63). Both are text fields; the codec hands
them over as str, F63 already decoded from GBK.

Text subfields are fixed-width and space-padded on the wire. The value types hold them
without their trailing spaces (construction strips them), and `to_field` writes the
canonical padded form. Parsing is lenient about missing trailing padding, so for
those short inputs `parse(x).to_field()` is the padded form of `x`, not `x` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Self

from kassa.iso8583._fieldcheck import decoding, gbk_size, require_text, require_token
from kassa.iso8583.dialect import TEXT_ENCODING

_ID_SIZE = 11
f44_size_max = 25
operator_size = 3


def _strip_fields(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, str):
            object.__setattr__(obj, name, value.rstrip(" "))


@dataclass(frozen=True, slots=True)
class Field44:
    """Field 44: 44.1 issuer ID an11 + 44.2 acquirer ID an11, each left-justified,
    space-padded (`'03080000   48520000   '`). Either may be blank ("").

    Parse accepts 0 to 25 characters: missing trailing spaces are tolerated, and
    characters past 22 must be spaces.
    """

    issuer_id: str
    acquirer_id: str

    def __post_init__(self) -> None:
        _strip_fields(self, ("issuer_id", "acquirer_id"))
        require_token(self.issuer_id, _ID_SIZE, "44.1 issuer ID")
        require_token(self.acquirer_id, _ID_SIZE, "44.2 acquirer ID")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Field 44 text -> Field44; DecodeError(field=44) if malformed."""
        with decoding(44):
            if len(value) > f44_size_max:
                raise ValueError(
                    f"the value allows at most {f44_size_max} characters, got {len(value)}"
                )
            if value[2 * _ID_SIZE :].strip(" "):
                raise ValueError("only spaces may follow the two 11-character IDs")
            return cls(value[:_ID_SIZE], value[_ID_SIZE : 2 * _ID_SIZE])

    def to_field(self) -> str:
        """The canonical 22 characters, both IDs padded to 11."""
        return self.issuer_id.ljust(_ID_SIZE) + self.acquirer_id.ljust(_ID_SIZE)


@dataclass(frozen=True, slots=True)
class Field63Request:
    """Field 63 of a request: 63.1 operator code an3, right space-padded (`01 `, `001`)."""

    operator: str

    def __post_init__(self) -> None:
        _strip_fields(self, ("operator",))
        require_token(self.operator, operator_size, "63.1 operator code")
        if not self.operator:
            raise ValueError("63.1 operator code must not be blank")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Field 63 text of a request -> Field63Request; DecodeError(field=63) if malformed."""
        with decoding(63):
            if len(value) > operator_size:
                raise ValueError(
                    f"a request F63 holds a {operator_size}-character operator, got {len(value)}"
                )
            return cls(value)

    def to_field(self) -> str:
        """The operator padded to 3 characters."""
        return self.operator.ljust(operator_size)


class CardOrg(StrEnum):
    """63.1 国际信用卡公司代码 in responses (other codes are kept as they come)."""

    CUP = "CUP"
    VISA = "VIS"
    MASTERCARD = "MCC"
    JCB = "JCB"
    AMEX = "AMX"
    DINERS = "DCC"


_ORG_SIZE = 3
_RESERVED_SIZE = 20
_RESERVED = ("issuer_reserved", "cup_reserved", "acquirer_reserved")
terminal_text_chars_max = 60
f63_bytes_max = 163


@dataclass(frozen=True, slots=True)
class Field63Response:
    """Field 63 of a response: 63.1 card org an3, then optional 发卡方保留 an20,
    中国银联保留 an20, 受理机构保留 an20 and POS终端保留 (slip text, GBK, at most 60
    characters); the whole at most 163 GBK bytes.

    Every part after the card org is optional: a short value (e.g. just `CUP`) parses
    with the missing parts as "". The three reserved parts are cut at byte offsets of
    the GBK encoding, as on the wire. `to_field` pads the reserved parts to 20 bytes up
    to the last non-blank part and writes the slip text without trailing spaces.
    """

    card_org: str
    issuer_reserved: str = ""
    cup_reserved: str = ""
    acquirer_reserved: str = ""
    terminal_text: str = ""

    def __post_init__(self) -> None:
        _strip_fields(self, ("card_org", *_RESERVED, "terminal_text"))
        require_token(self.card_org, _ORG_SIZE, "63.1 card organisation code")
        for name in _RESERVED:
            require_text(getattr(self, name), _RESERVED_SIZE, f"F63 {name}")
        require_text(self.terminal_text, f63_bytes_max, "F63 terminal_text")
        if len(self.terminal_text) > terminal_text_chars_max:
            raise ValueError(
                f"F63 terminal_text allows {terminal_text_chars_max} characters, "
                f"got {len(self.terminal_text)}"
            )
        size = gbk_size(self.to_field(), "F63")
        if size > f63_bytes_max:
            raise ValueError(f"F63 allows at most {f63_bytes_max} GBK bytes, got {size}")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Field 63 text of a response -> Field63Response; DecodeError(field=63) if malformed."""
        with decoding(63):
            if not value:
                raise ValueError("a response F63 is empty; it starts with a card organisation code")
            gbk_size(value, "the value")
            raw = value.encode(TEXT_ENCODING)
            bounds = [0, _ORG_SIZE]
            bounds += [_ORG_SIZE + _RESERVED_SIZE * k for k in (1, 2, 3)]
            parts = [raw[a:b] for a, b in pairwise(bounds)]
            parts.append(raw[bounds[-1] :])
            return cls(*(_decode_part(part) for part in parts))

    def to_field(self) -> str:
        """The canonical text of field 63."""
        parts = [getattr(self, name) for name in _RESERVED]
        while parts and not parts[-1] and not self.terminal_text:
            parts.pop()
        padded = "".join(_pad_bytes(part, _RESERVED_SIZE) for part in parts)
        return self.card_org.ljust(_ORG_SIZE) + padded + self.terminal_text


def _decode_part(part: bytes) -> str:
    try:
        return part.decode(TEXT_ENCODING)
    except UnicodeDecodeError:
        raise ValueError(
            "a GBK character is split across a subfield boundary, or the bytes are not GBK"
        ) from None


def _pad_bytes(text: str, size: int) -> str:
    """Pad `text` with spaces to `size` bytes once GBK-encoded."""
    return text + " " * (size - len(text.encode(TEXT_ENCODING)))
