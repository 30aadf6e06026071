"""Human rows for a decoded message: field name (zh/en), format, value with PANs masked.

Card data never appears in the clear: F2 and the tracks are masked, F52 (the PIN block)
is shown only as its presence, and any PAN-like digit run in text is masked too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kassa.card import mask_in_text, mask_pan
from kassa.errors import DecodeError
from kassa.iso8583 import fields as composite
from kassa.iso8583.dialect import FIELDS, Length


def _plain(value: str) -> str:
    return value


def _track(value: str) -> str:
    pan = value.split("D", 1)[0]
    return mask_pan(pan) + ("=****" if "D" in value else "")


def _subfields(parse: Callable[[str], object]) -> Callable[[str], str]:
    def show(value: str) -> str:
        try:
            parsed = parse(value)
        except DecodeError as exc:
            return f"{value}  (! {exc})"
        parts = [f"{k}={v}" for k, v in vars_of(parsed).items() if v is not None]
        return f"{value}  ({', '.join(parts)})"

    return show


def vars_of(obj: object) -> dict[str, object]:
    slots = getattr(type(obj), "__slots__", ())
    return {name: getattr(obj, name) for name in slots if not name.startswith("_")}


_SHOW: dict[int, Callable[[str], str]] = {
    2: mask_pan,
    35: _track,
    36: lambda v: "(track 3, hidden)",
    45: lambda v: "(track 1, hidden)",
    52: lambda v: "(encrypted PIN block, 8 bytes)",
    53: _subfields(composite.Field53.parse),
    60: _subfields(composite.Field60.parse),
    61: _subfields(composite.Field61.parse),
}


def field_rows(fields: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    """(number, "中文 / English", format, shown value) for each field, in order."""
    rows = []
    for key in sorted(fields, key=int):
        number = int(key)
        d = FIELDS[number]
        # Fixed fields (amounts, codes, TID, MID, MAC) cannot carry a card number; variable
        # ones can (F48 batch upload, F55 tag 5A, free text), so they are scanned and masked.
        default = _plain if d.length is Length.FIXED else mask_in_text
        show = _SHOW.get(number, default)
        rows.append((key, f"{d.name_zh} / {d.name_en}", d.describe(), show(fields[key])))
    return rows
