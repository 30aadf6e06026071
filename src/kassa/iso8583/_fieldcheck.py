"""Checks shared by the composite-field value types (private to `kassa.iso8583.fields`).

Every check raises a plain `ValueError` with a one-line reason: building a field value
from bad parts is a bug in the caller. `decoding(field)` turns the same reasons into
`DecodeError` while a wire value is parsed, so both paths share one set of rules.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

from kassa.errors import DecodeError
from kassa.iso8583.dialect import TEXT_ENCODING


def is_digits(value: str) -> bool:
    """True when `value` is non-empty and only ASCII 0-9 (str.isdigit alone admits '²')."""
    return value.isascii() and value.isdigit()


def require_digits(value: str, size: int, what: str) -> None:
    """Raise ValueError unless `value` is exactly `size` ASCII digits."""
    if not isinstance(value, str) or len(value) != size or not is_digits(value):
        raise ValueError(f"{what} must be {size} digits, got {value!r}")


def require_code(value: str, allowed: Collection[str], what: str) -> None:
    """Raise ValueError unless `value` is one of the `allowed` codes."""
    if value not in allowed:
        choices = ", ".join(sorted(allowed))
        raise ValueError(f"{what} must be one of {choices}, got {value!r}")


def require_count(value: int, maximum: int, what: str) -> None:
    """Raise ValueError unless `value` is an int (not a bool) in 0..maximum."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"{what} must be an integer from 0 to {maximum}, got {value!r}")


def require_text(value: str, max_bytes: int, what: str) -> None:
    """Raise ValueError unless `value` is GBK text of at most `max_bytes` bytes, no controls.

    Control characters are refused because this text ends up on a slip printer, where
    ESC and friends are printer commands.
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise ValueError(f"{what} must not contain control characters")
    size = gbk_size(value, what)
    if size > max_bytes:
        raise ValueError(f"{what} allows at most {max_bytes} GBK bytes, got {size}")


def require_token(value: str, max_chars: int, what: str) -> None:
    """Raise ValueError unless `value` is at most `max_chars` printable ASCII, no spaces.

    Spaces are the padding of fixed `an` subfields, so they cannot be part of a value.
    """
    if not isinstance(value, str) or len(value) > max_chars:
        raise ValueError(f"{what} must be at most {max_chars} characters, got {value!r}")
    if not all(c.isascii() and c.isprintable() and c != " " for c in value):
        raise ValueError(f"{what} must be printable ASCII without spaces, got {value!r}")


def gbk_size(value: str, what: str) -> int:
    """Length of `value` in bytes once encoded for the wire."""
    try:
        return len(value.encode(TEXT_ENCODING))
    except UnicodeEncodeError:
        raise ValueError(f"{what} has characters GBK cannot encode") from None


def split_digits(value: str, widths: Sequence[int]) -> list[str]:
    """Cut `value` into consecutive pieces of `widths`; the caller has checked the length."""
    pieces = []
    start = 0
    for width in widths:
        pieces.append(value[start : start + width])
        start += width
    return pieces


def require_field_digits(value: str, sizes: Collection[int], what: str) -> None:
    """Raise ValueError unless the wire value is ASCII digits of one of `sizes`.

    The message names the length only: some of these fields carry PANs.
    """
    if not isinstance(value, str) or not is_digits(value):
        raise ValueError(f"{what} must be digits only")
    if len(value) not in sizes:
        *most, last = (str(s) for s in sorted(sizes))
        allowed = f"{', '.join(most)} or {last}" if most else last
        raise ValueError(f"{what} must be {allowed} digits long, got {len(value)}")


@contextmanager
def decoding(field: int) -> Iterator[None]:
    """Re-raise a ValueError from the checks above as DecodeError for `field`."""
    try:
        yield
    except DecodeError:
        raise
    except ValueError as exc:
        raise DecodeError(str(exc), field=field) from exc
