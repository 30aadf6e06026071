"""Inspection: whole frames as hex <-> the JSON shape of `kassa iso decode/encode`.

The JSON shape::

    {"length": int | null, "tpdu": "HEX", "header": "HEX" | null, "mti": "0200",
     "fields": {"2": "...", "3": "000000", ...}, "mac_ok": bool | null,
     "keys": null | {"pik": "HEX", "mak": "HEX", "tdk": "HEX" | null, "kcv_ok": bool}}

Pure: takes text and keys, returns data. Only DecodeError/EncodeError/CryptoError escape.
"""

from __future__ import annotations

import string
from typing import Any

from kassa.errors import DecodeError, EncodeError
from kassa.iso8583 import codec
from kassa.iso8583.framing import Frame, HeaderMode, split_body
from kassa.iso8583.framing import Header as MsgHeader
from kassa.iso8583.keys import KeyMode, unwrap_working_keys
from kassa.iso8583.mac import MacAlgorithm, compute_mac, verify_mac
from kassa.iso8583.message import Message

DEFAULT_TPDU = "6000030000"
_HEXDIGITS = frozenset(string.hexdigits)
_KEY_MODE_BY_F62_SIZE = {24: KeyMode.SINGLE, 40: KeyMode.DOUBLE, 60: KeyMode.DOUBLE_TDK}


def parse_hex(text: str) -> bytes:
    """Bytes from hex text; spaces, newlines and colons are allowed between digits."""
    digits = "".join(ch for ch in text if ch not in " \t\r\n:")
    for index, ch in enumerate(digits):
        if ch not in _HEXDIGITS:
            raise DecodeError(f"{ch!r} is not a hex digit", "input", index // 2)
    if len(digits) % 2:
        raise DecodeError("odd number of hex digits", "input", len(digits) // 2)
    return bytes.fromhex(digits)


def split_input(data: bytes, mode: HeaderMode) -> tuple[int | None, Frame]:
    """Whole input -> (length prefix or None, frame). The prefix is taken as present
    when its value equals the number of bytes after it."""
    length: int | None = None
    body = data
    if len(data) >= 2 and int.from_bytes(data[:2], "big") == len(data) - 2:
        length, body = len(data) - 2, data[2:]
    frame = split_body(body, mode)
    return length, frame


def decode_frame(
    data: bytes,
    mode: HeaderMode = HeaderMode.AUTO,
    mak: bytes | None = None,
    tmk: bytes | None = None,
    mac_algorithm: MacAlgorithm = MacAlgorithm.ECB,
) -> dict[str, Any]:
    """Decode a whole input into the JSON shape above."""
    length, frame = split_input(data, mode)
    base = (2 if length is not None else 0) + 5 + (6 if frame.header else 0)
    msg = codec.decode(frame.message, base)
    return {
        "length": length,
        "tpdu": frame.tpdu.hex().upper(),
        "header": frame.header.hex() if frame.header else None,
        "mti": msg.mti,
        "fields": {str(n): v for n, v in msg.fields.items()},
        "mac_ok": _mac_ok(frame.message, msg, mak, mac_algorithm),
        "keys": _keys(msg, tmk),
    }


def _mac_ok(raw: bytes, msg: Message, mak: bytes | None, algorithm: MacAlgorithm) -> bool | None:
    if mak is None or codec.MAC_FIELD not in msg:
        return None
    return verify_mac(mak, codec.mac_input(raw), raw[-codec.MAC_SIZE :], algorithm)


def _keys(msg: Message, tmk: bytes | None) -> dict[str, Any] | None:
    f62 = msg.get(62)
    if tmk is None or msg.mti != "0810" or not f62:
        return None
    f60 = msg.get(60) or ""
    raw = bytes.fromhex(f62)
    mode = KeyMode(f60[8:11]) if f60[8:11] in {m.value for m in KeyMode} else None
    mode = mode or _KEY_MODE_BY_F62_SIZE.get(len(raw))
    if mode is None:
        raise DecodeError(f"F62 of {len(raw)} bytes is not a working-key block", 62)
    keys, ok = unwrap_working_keys(tmk, raw, mode)
    return {
        "pik": keys.pik.hex().upper(),
        "mak": keys.mak.hex().upper(),
        "tdk": keys.tdk.hex().upper() if keys.tdk else None,
        "kcv_ok": ok,
    }


def encode_document(
    doc: dict[str, Any], mak: bytes | None = None, mac_algorithm: MacAlgorithm = MacAlgorithm.ECB
) -> bytes:
    """The JSON shape (length, mac_ok and keys ignored) back to a prefixed frame.

    With a MAK, F64 is computed (and added if absent)."""
    if not isinstance(doc, dict):
        raise EncodeError("the document must be a JSON object", "input")
    fields = doc.get("fields", {})
    if not isinstance(fields, dict):
        raise EncodeError('"fields" must be an object of field number to value', "fields")
    try:
        numbered = {int(k): v for k, v in fields.items()}
    except ValueError:
        raise EncodeError("field keys must be numbers 2-64", "fields") from None
    msg = Message(str(doc.get("mti", "")), numbered)
    encoded = codec.encode(codec.with_mac_placeholder(msg) if mak else msg)
    if mak:
        encoded = encoded[:-8] + compute_mac(mak, codec.mac_input(encoded), mac_algorithm)
    return Frame(_tpdu(doc), _header(doc), encoded).to_bytes()


def _tpdu(doc: dict[str, Any]) -> bytes:
    text = doc.get("tpdu") or DEFAULT_TPDU
    raw = parse_hex(str(text))
    if len(raw) != 5:
        raise EncodeError(f"tpdu must be 5 bytes (10 hex digits), got {len(raw)}", "tpdu")
    return raw


def _header(doc: dict[str, Any]) -> MsgHeader | None:
    text = doc.get("header")
    return None if text is None else MsgHeader.parse_hex(str(text))
