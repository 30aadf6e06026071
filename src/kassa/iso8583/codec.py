"""The strict codec: Message <-> bytes (from the MTI to the last field), on pyiso8583.

pyiso8583 is the engine; this module closes its known gaps so that they cannot reach us:
- it does not validate BCD digits: every n field is checked for 0-9 after decoding, and
  every z field for hex nibbles (D is the separator; an encrypted track has A-F too);
- it mutates the dict passed to `encode`: we always hand it a fresh dict;
- hostile input can raise KeyError (a bitmap bit with no spec) or other errors: we check
  the MTI and bitmap ourselves first, and turn anything pyiso8583 raises into our
  `DecodeError`, carrying the field number and the byte offset.
"""

from __future__ import annotations

from typing import Final

from iso8583.decoder import DecodeError as PyIsoDecodeError
from iso8583.encoder import EncodeError as PyIsoEncodeError

import iso8583
from kassa.errors import DecodeError, EncodeError
from kassa.iso8583.dialect import FIELDS, MTI_NAMES, PYISO_SPEC, Kind
from kassa.iso8583.message import Message

_SPEC: Final = PYISO_SPEC
_MTI_BYTES: Final = frozenset(bytes.fromhex(mti) for mti in MTI_NAMES)
# z fields: digits and separator D in the clear, but a TDK-encrypted track (53.3 = 1)
# carries 16 ciphertext nibbles, so every hex nibble is legal there.
_Z_DIGITS: Final = frozenset("0123456789ABCDEF")
_NUMERIC: Final = frozenset(n for n, d in FIELDS.items() if d.kind is Kind.N)
_TRACKS: Final = frozenset(n for n, d in FIELDS.items() if d.kind is Kind.Z)
_BITMAP_OFFSET: Final = 2  # MTI is two BCD bytes
_FIELDS_OFFSET: Final = 10  # MTI + 8-byte primary bitmap
_KEY: Final = {n: str(n) for n in FIELDS}
_NUMBER: Final = {str(n): n for n in FIELDS}
MAC_FIELD: Final = 64
MAC_SIZE: Final = 8
_MAC_PLACEHOLDER: Final = "00" * MAC_SIZE
_BIT2: Final = 0x40  # of the bitmap's first byte
_BIT64: Final = 0x01  # of its last byte


def encode(msg: Message) -> bytes:
    """The wire bytes of `msg`, from the MTI to the last field."""
    doc: dict[str, str] = {"t": msg.mti}
    for number, value in msg.fields.items():
        doc[_KEY[number]] = value
    try:
        data, _ = iso8583.encode(doc, _SPEC)
    except PyIsoEncodeError as exc:  # values are pre-checked; this is a safety net
        raise EncodeError(exc.msg, exc.field) from None
    return bytes(data)


def decode(data: bytes, base_offset: int = 0) -> Message:
    """Decode one message (MTI onwards). Raises only DecodeError.

    `base_offset` is added to every byte offset reported, so that errors point into
    the caller's whole input (length prefix, TPDU and header included).
    """
    _check_mti_and_bitmap(data, base_offset)
    try:
        doc_dec, doc_enc = iso8583.decode(data, _SPEC)
    except PyIsoDecodeError as exc:
        raise DecodeError(_reason(exc.msg), _part(exc.field), base_offset + exc.pos) from None
    except Exception as exc:  # pyiso8583 on hostile input: never let it escape
        raise DecodeError(
            f"undecodable message ({type(exc).__name__})", None, base_offset
        ) from None
    fields: dict[int, str] = {}
    for key, value in doc_dec.items():
        number = _NUMBER.get(key)
        if number is None:  # "t", "p": MTI and bitmap, checked above
            continue
        # pyiso8583 gives b-encoded data as upper-case hex, so isdigit() is a BCD check.
        if (number in _NUMERIC and value and not value.isdigit()) or (
            number in _TRACKS and not _Z_DIGITS.issuperset(value)
        ):
            offset = base_offset + _field_offset(doc_enc, number)
            raise DecodeError(f"invalid BCD digit in {value!r}", number, offset)
        fields[number] = value
    return Message._trusted(doc_dec["t"], fields)


def mac_input(encoded: bytes) -> bytes:
    """The MAC block (MAB) of an encoded message that carries F64: all but the MAC."""
    return encoded[:-MAC_SIZE]


def encode_with_mac_slot(msg: Message) -> bytes:
    """The wire bytes of `msg` with F64 present as 8 zero bytes (bit 64 set in the bitmap),
    ready for `mac_input`; replace the last `MAC_SIZE` bytes with the MAC."""
    doc: dict[str, str] = {"t": msg.mti}
    for number, value in msg.fields.items():
        if number != MAC_FIELD:
            doc[_KEY[number]] = value
    doc[_KEY[MAC_FIELD]] = _MAC_PLACEHOLDER
    try:
        data, _ = iso8583.encode(doc, _SPEC)
    except PyIsoEncodeError as exc:  # values are pre-checked; this is a safety net
        raise EncodeError(exc.msg, exc.field) from None
    return bytes(data)


def without_pan_and_mac(encoded: bytes) -> bytes:
    """The encoding of the same message without F2 and F64, cut from `encoded` (a valid
    encoding from the MTI on): equal to `encode(msg.without(2, 64))`, without encoding.

    F2 is the first field after the bitmap (1-byte BCD digit count, then the digits
    packed two per byte); F64 the last 8 bytes.
    """
    bitmap = bytearray(encoded[_BITMAP_OFFSET:_FIELDS_OFFSET])
    start, end = _FIELDS_OFFSET, len(encoded)
    if bitmap[0] & _BIT2:
        digits = int(encoded[start : start + 1].hex())
        start += 1 + (digits + 1) // 2
        bitmap[0] &= ~_BIT2 & 0xFF
    if bitmap[7] & _BIT64:
        end -= MAC_SIZE
        bitmap[7] &= ~_BIT64 & 0xFF
    return encoded[:_BITMAP_OFFSET] + bytes(bitmap) + encoded[start:end]


def with_mac_placeholder(msg: Message) -> Message:
    """`msg` with F64 present (zeros), so that the bitmap used for the MAC has bit 64."""
    if MAC_FIELD in msg:
        return msg
    return msg.with_fields(f64="00" * MAC_SIZE)


def _check_mti_and_bitmap(data: bytes, base: int) -> None:
    if len(data) < _FIELDS_OFFSET:
        raise DecodeError(f"message is {len(data)} bytes; MTI and bitmap need 10", "mti", base)
    if data[:2] not in _MTI_BYTES:
        mti = data[:2].hex().upper()
        raise DecodeError(f"MTI {mti} is not one the UnionPay POS dialect uses", "mti", base)
    if data[_BITMAP_OFFSET] & 0x80:
        raise DecodeError(
            "bitmap bit 1 (secondary bitmap) is set; this dialect uses fields 2-64 only",
            "bitmap",
            base + _BITMAP_OFFSET,
        )


def _field_offset(doc_enc: dict[str, dict[str, bytes]], number: int) -> int:
    offset = _FIELDS_OFFSET
    for key in sorted((k for k in doc_enc if k not in ("h", "t", "p")), key=int):
        if int(key) == number:
            return offset
        offset += len(doc_enc[key]["len"]) + len(doc_enc[key]["data"])
    return offset


def _part(field: str) -> str:
    return {"t": "mti", "p": "bitmap", "h": "header"}.get(field, field)


def _reason(msg: str) -> str:
    return msg[:1].lower() + msg[1:]
