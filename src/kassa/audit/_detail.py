"""What may go into an audit record's detail (pure).

The detail is a small JSON object saying what an action changed (old and new values, a
batch number, a reason). It must never carry card secrets (PCI DSS v4 3.3, 3.4.1):
- keys that name a PIN, a password, track data or a CVN are refused outright, because
  the value behind such a key is a secret whatever it looks like;
- every PAN anywhere in it (in a key, a string or a number) is masked with
  `kassa.card.mask_in_text`, so a card number pasted into a comment is still safe.

Floats are refused: money is integer fen, and a float has no single canonical JSON form.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Mapping
from typing import Any

from kassa.card import mask_in_text
from kassa.errors import InputError

detail_size_max_bytes = 8_192
detail_depth_max = 8

# Compared after lower-casing and dropping everything but letters and digits, so
# "PIN", "pin_block", "New-Password" and "track2Data" are all caught.
_REFUSED_NAMES = frozenset({"pin", "pinblock", "password", "passwd", "passphrase", "track",
                            "track1", "track2", "track3", "trackdata", "cvn", "cvn2", "cvv",
                            "cvv2", "cvc", "cvc2", "icvv"})  # fmt: skip
_REFUSED_ENDINGS = ("pin", "pinblock", "password", "passwd", "passphrase", "trackdata",
                    "track2", "track3", "cvn", "cvn2", "cvv", "cvv2")  # fmt: skip
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def canonical_json(value: object) -> str:
    """The one JSON text of `value`: sorted keys, no spaces, UTF-8 characters as they are."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def is_refused_key(name: str) -> bool:
    """True when a detail key names a PIN, password, track data or CVN."""
    folded = _NOT_ALNUM.sub("", name.lower())
    return folded in _REFUSED_NAMES or folded.endswith(_REFUSED_ENDINGS)


def clean_detail(detail: Mapping[str, object]) -> dict[str, Any]:
    """A copy of `detail` that is safe to keep: PANs masked, plain JSON values only.

    Raises `InputError` for a refused key, a value that is not a JSON string, integer,
    boolean, null, list or object, a float, deeper nesting than `detail_depth_max`, or a
    serialised size over `detail_size_max_bytes`.
    """
    if not isinstance(detail, Mapping):
        raise InputError(f"audit detail must be a mapping, not {type(detail).__name__}")
    cleaned = _clean_mapping(detail, "detail", 0)
    text = canonical_json(cleaned)
    masked = mask_in_text(text)
    if masked != text:  # cannot happen after the walk; kept as the last line of defence
        raise InputError("audit detail holds a card number that could not be masked")
    size = len(text.encode("utf-8"))
    if size > detail_size_max_bytes:
        raise InputError(
            f"audit detail is {size} bytes, at most {detail_size_max_bytes}: keep it a summary"
        )
    return cleaned


def _clean(value: object, path: str, depth: int) -> Any:
    if depth > detail_depth_max:
        raise InputError(f"audit {path} is nested deeper than {detail_depth_max} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        text = str(value)
        masked = mask_in_text(text)
        return value if masked == text else masked
    if isinstance(value, str):
        return _clean_text(value, path)
    if isinstance(value, Mapping):
        return _clean_mapping(value, path, depth)
    if isinstance(value, list | tuple):
        return [_clean(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, numbers.Real):  # a float (or Fraction) after int was handled
        raise InputError(
            f"audit {path} is a float: give money as integer fen, other values as text"
        )
    raise InputError(f"audit {path} is a {type(value).__name__}, not a JSON value")


def _clean_mapping(value: Mapping[Any, object], path: str, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InputError(f"audit {path} has a key {key!r} that is not text")
        if is_refused_key(key):
            raise InputError(
                f"audit {path} key {key!r} refused: PINs, passwords, track data and CVNs "
                "never go into the audit log"
            )
        name = _clean_text(key, path)
        out[name] = _clean(item, f"{path}.{name}", depth + 1)
    return out


def _clean_text(text: str, path: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"audit {path} holds text that is not valid Unicode") from None
    return mask_in_text(text)
