"""A host transaction's stored messages, decoded for people, card data masked.

The host keeps each request as scrubbed JSON (no track, PIN block or ICC data; PAN
masked) and each response as the encoded message without F2 and the MAC. Both are shown
through `kassa.iso8583.render.field_rows`, which masks PANs again wherever they could hide.
"""

from __future__ import annotations

import json

from kassa.errors import DecodeError
from kassa.iso8583 import MTI_NAMES, decode
from kassa.iso8583.render import field_rows

Rows = list[tuple[str, str, str, str]]


def _mti_name(mti: str) -> str:
    name = MTI_NAMES.get(mti)
    return f"{mti} {name[0]} / {name[1]}" if name else mti


def decoded_request(stored: bytes) -> tuple[str, Rows]:
    """(MTI and name, field rows) of a stored request; a note instead when unreadable."""
    try:
        doc = json.loads(stored)
        fields = {str(k): str(v) for k, v in doc["fields"].items()}
        return _mti_name(str(doc["mti"])), field_rows(fields)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return f"(unreadable: {type(exc).__name__})", []


def decoded_response(stored: bytes) -> tuple[str, Rows]:
    """(MTI and name, field rows) of a stored response; a note instead when undecodable."""
    if not stored:
        return "(none)", []
    try:
        msg = decode(stored)
    except DecodeError as exc:
        return f"(undecodable: {exc})", []
    return _mti_name(msg.mti), field_rows({str(k): v for k, v in msg.fields.items()})
