"""BER-TLV (EMV Book 3 Annex B) for field 55, on top of `pyemv.tlv`.

`pyemv.tlv` is the field's library; reading its source shows it is too lenient for data
we forward and MAC:

* a repeated tag silently replaces the earlier one, at any depth (issuer scripts 71/72
  legitimately repeat 86 commands, and a forged second 9F26 must not win quietly);
* the indefinite length byte ``80`` is read as length 0, and non-minimal lengths
  (``81 05``) pass, so one value would have several encodings;
* nesting depth is unbounded (RecursionError on crafted input), ``00`` padding is read as
  a tag, and ``encode`` reads a str value as hex without a word.

So a strict walk here reads the elements first, with exact messages and offsets: lengths
definite and minimal, no ``00`` padding, tags of at most 3 bytes, nesting at most 8 deep,
no tag twice at the top level in `decode_tlv`. Then `pyemv.tlv.decode` parses the same
bytes as an independent second opinion; its `DecodeError` (a ValueError with ``offset``)
becomes CardError, so only CardError ever escapes. Constructed tags (71, 72, 70, E0, ...)
are kept whole: their value is their raw content, checked to be well-formed but not split,
so repeated inner tags survive and ``encode_tlv(decode_tlv(x)) == x``. Encoding is done
here rather than with ``pyemv.tlv.encode`` because its dict-of-dicts model cannot hold
those repeated inner tags (for primitive tags the two agree byte for byte; a test checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pyemv import tlv as _pyemv_tlv

from kassa.errors import CardError

__all__ = [
    "REVERSAL_TAGS",
    "TAG_NAMES",
    "decode_tlv",
    "decode_tlv_items",
    "encode_tlv",
    "field55_size_max_bytes",
    "find_tlv",
    "icc_data_size_max_bytes",
    "reversal_subset",
]

field55_size_max_bytes = 255  # F55 is b...255 (reference §2)
icc_data_size_max_bytes = 1024  # what a kernel hands over: records, templates
_depth_max = 8  # EMV templates nest 2-3 deep
_tag_size_max_bytes = 3
_length_size_max_bytes = 2  # up to 65535; far beyond any field

# Tags in field 55 (reference §2 F55 row) and the card data the terminal reads from them.
TAG_NAMES: dict[str, str] = {
    "57": "Track 2 Equivalent Data",
    "5A": "Application Primary Account Number (PAN)",
    "5F24": "Application Expiration Date",
    "5F2A": "Transaction Currency Code",
    "5F34": "Application PAN Sequence Number",
    "71": "Issuer Script Template 1",
    "72": "Issuer Script Template 2",
    "82": "Application Interchange Profile",
    "84": "Dedicated File (DF) Name",
    "8A": "Authorisation Response Code",
    "91": "Issuer Authentication Data",
    "95": "Terminal Verification Results",
    "9A": "Transaction Date",
    "9C": "Transaction Type",
    "9F02": "Amount, Authorised (Numeric)",
    "9F03": "Amount, Other (Numeric)",
    "9F09": "Application Version Number (terminal)",
    "9F10": "Issuer Application Data",
    "9F1A": "Terminal Country Code",
    "9F1E": "Interface Device (IFD) Serial Number",
    "9F26": "Application Cryptogram",
    "9F27": "Cryptogram Information Data",
    "9F33": "Terminal Capabilities",
    "9F34": "Cardholder Verification Method (CVM) Results",
    "9F35": "Terminal Type",
    "9F36": "Application Transaction Counter (ATC)",
    "9F37": "Unpredictable Number",
    "9F41": "Transaction Sequence Counter",
    "9F63": "Card Product Identification Information (PBOC)",
    "9F74": "Electronic Cash Issuer Authorisation Code (PBOC)",
    "DF31": "Issuer Script Results (PBOC)",
}

# What a reversal's F55 keeps (reference §3.6).
REVERSAL_TAGS = ("95", "9F10", "9F1E", "9F36", "DF31")


def _error(offset: int, reason: str) -> CardError:
    return CardError(f"IC card data (BER-TLV), byte {offset}: {reason}")


def _tag_end(data: bytes, offset: int, limit: int) -> int:
    """Offset just past the tag that starts at `offset` (which is below `limit`)."""
    if data[offset] == 0x00:
        raise _error(offset, "padding byte 00 is not allowed; send the data objects only")
    end = offset + 1
    if data[offset] & 0x1F == 0x1F:  # more tag bytes follow, each with b8 set but the last
        while end < limit and data[end] & 0x80:
            end += 1
        end += 1
    if end > limit:
        raise _error(offset, "tag is cut off")
    if end - offset > _tag_size_max_bytes:
        raise _error(offset, f"tag is longer than {_tag_size_max_bytes} bytes")
    return end


def _length(data: bytes, offset: int, limit: int) -> tuple[int, int]:
    """(value length, value offset) for the length field at `offset`, definite and minimal."""
    if offset >= limit:
        raise _error(offset, "length is missing")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    size = first & 0x7F
    if size == 0:
        raise _error(offset, "indefinite length (80) is not allowed in EMV data")
    if size > _length_size_max_bytes or offset + 1 + size > limit:
        raise _error(offset, f"length field of {size} bytes is too long or cut off")
    length = int.from_bytes(data[offset + 1 : offset + 1 + size], "big")
    if length < 0x80 or data[offset + 1] == 0:
        raise _error(offset, "length is not in its shortest form")
    return length, offset + 1 + size


def _walk(data: bytes, start: int, end: int, depth: int) -> list[tuple[str, int, int]]:
    """(tag, value start, value end) of each element in data[start:end]; constructed values
    are walked too, to check them, but only this level is returned."""
    if depth > _depth_max:
        raise _error(start, f"templates nested more than {_depth_max} deep")
    elements = []
    offset = start
    while offset < end:
        tag_end = _tag_end(data, offset, end)
        length, value_start = _length(data, tag_end, end)
        value_end = value_start + length
        if value_end > end:
            raise _error(tag_end, f"value of {length} bytes runs past the end")
        if data[offset] & 0x20:  # b6: constructed
            _walk(data, value_start, value_end, depth + 1)
        elements.append((data[offset:tag_end].hex().upper(), value_start, value_end))
        offset = value_end
    return elements


def _check_size(data: bytes, size_max_bytes: int) -> None:
    if not isinstance(data, bytes | bytearray):
        raise CardError(f"IC card data must be bytes, got {type(data).__name__}")
    if len(data) > size_max_bytes:
        raise CardError(f"IC card data is {len(data)} bytes; at most {size_max_bytes} fit")


def decode_tlv_items(
    data: bytes, *, size_max_bytes: int = field55_size_max_bytes
) -> list[tuple[str, bytes]]:
    """The top-level data objects of `data` in order, repeats kept: (tag hex upper, value).

    A constructed tag's value is its raw content. Only CardError escapes, with the offset.
    """
    _check_size(data, size_max_bytes)
    raw = bytes(data)
    elements = _walk(raw, 0, len(raw), 0)
    try:  # a second, independent parser: if the two disagree, the data is refused
        _pyemv_tlv.decode(raw)
    except _pyemv_tlv.DecodeError as error:
        raise _error(error.offset, f"{error.msg} (tag {error.tag or '?'})") from None
    except RecursionError:  # unreachable after the depth check above; belt and braces
        raise _error(0, f"templates nested more than {_depth_max} deep") from None
    return [(tag, raw[start:end]) for tag, start, end in elements]


def decode_tlv(data: bytes, *, size_max_bytes: int = field55_size_max_bytes) -> dict[str, bytes]:
    """The top-level data objects of `data` as tag hex (upper) -> value, in order.

    A tag that appears twice is a CardError (use `decode_tlv_items` for repeated templates,
    such as two issuer scripts 71 in a response).
    """
    decoded: dict[str, bytes] = {}
    for tag, value in decode_tlv_items(data, size_max_bytes=size_max_bytes):
        if tag in decoded:
            raise CardError(f"IC card data (BER-TLV): tag {tag} appears twice")
        decoded[tag] = value
    return decoded


def _tag_bytes(tag: str) -> bytes:
    """The bytes of one well-formed tag written as hex, or CardError."""
    try:
        encoded = bytes.fromhex(tag) if tag.isascii() and tag.isalnum() else b""
    except ValueError:
        encoded = b""
    if not encoded:
        raise CardError(f"TLV tag {tag!r} must be hex digits, e.g. 9F26")
    try:
        whole = encoded[0] != 0 and _tag_end(encoded, 0, len(encoded)) == len(encoded)
    except CardError:
        whole = False
    if not whole:
        raise CardError(f"TLV tag {tag!r} is not one BER-TLV tag, e.g. 9F26")
    return encoded


def _length_bytes(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode_tlv(items: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    """Encode data objects in the order given (a mapping, or pairs when a tag repeats).

    Lengths use the shortest form. A constructed tag's value must be well-formed TLV
    content. CardError for a bad tag, a non-bytes value or a value over 65535 bytes;
    the size of the whole field is the codec's to check.
    """
    pairs = items.items() if isinstance(items, Mapping) else items
    out = bytearray()
    for tag, value in pairs:
        tag_bytes = _tag_bytes(tag)
        if not isinstance(value, bytes | bytearray):
            raise CardError(f"TLV value of tag {tag} must be bytes, got {type(value).__name__}")
        if len(value) >= 1 << (8 * _length_size_max_bytes):
            raise CardError(f"TLV value of tag {tag} is {len(value)} bytes; too long")
        if tag_bytes[0] & 0x20:
            _walk(bytes(value), 0, len(value), 1)
        out += tag_bytes + _length_bytes(len(value)) + value
    return bytes(out)


def find_tlv(
    data: bytes, tag: str, *, size_max_bytes: int = icc_data_size_max_bytes
) -> bytes | None:
    """The value of the first `tag` in `data`, looking inside templates too, or None."""
    wanted = tag.upper()
    for found, value in decode_tlv_items(data, size_max_bytes=size_max_bytes):
        if found == wanted:
            return value
        if int(found[:2], 16) & 0x20:
            inner = find_tlv(value, wanted, size_max_bytes=size_max_bytes)
            if inner is not None:
                return inner
    return None


def reversal_subset(data: bytes) -> bytes:
    """Field 55 of a reversal: only 95, 9F10, 9F1E, 9F36 and DF31, in their original order."""
    kept = [(tag, value) for tag, value in decode_tlv_items(data) if tag in REVERSAL_TAGS]
    return encode_tlv(kept)
