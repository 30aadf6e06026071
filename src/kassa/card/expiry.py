"""Card expiry dates: the YYMM of field 14 and track 2, and the MM/YY printed on a card."""

from __future__ import annotations

import datetime
import re

from kassa.errors import CardError

__all__ = ["card_face", "is_expired", "parse_expiry"]

_YYMM = re.compile(r"[0-9]{4}")
_FACE = re.compile(r"([0-9]{2})\s*/\s*([0-9]{2})")


def _check_month(month: str) -> None:
    if not 1 <= int(month) <= 12:
        raise CardError(
            f"expiry month {month} is not 01 to 12; give MM/YY as on the card, e.g. 12/26"
        )


def parse_expiry(text: str) -> str:
    """Return YYMM from "YYMM" (field 14 form) or "MM/YY" (as printed on the card).

    Four bare digits are always read as YYMM, never as MMYY, so that track and F14 data
    round-trip; people type the slash form.
    """
    stripped = text.strip()
    if _YYMM.fullmatch(stripped):
        _check_month(stripped[2:])
        return stripped
    face = _FACE.fullmatch(stripped)
    if face is None:
        raise CardError("expiry must be MM/YY as printed on the card (e.g. 12/26) or YYMM (2612)")
    month, year = face.groups()
    _check_month(month)
    return year + month


def _full_year(yy: int, today: datetime.date) -> int:
    """The year ending in `yy` closest to today: within 50 years before to 49 after."""
    year = today.year - today.year % 100 + yy
    if year > today.year + 49:
        year -= 100
    elif year < today.year - 50:
        year += 100
    return year


def is_expired(yymm: str, today: datetime.date) -> bool:
    """True when a card with expiry `yymm` can no longer be used on `today`.

    A card is valid through the last day of its expiry month. A two-digit year is placed in
    the century that brings it closest to `today` (so "99" is 1999, not 2099).
    """
    if _YYMM.fullmatch(yymm) is None:
        raise CardError("expiry must be YYMM, 4 digits, e.g. 2612")
    _check_month(yymm[2:])
    year = _full_year(int(yymm[:2]), today)
    return (year, int(yymm[2:])) < (today.year, today.month)


def card_face(yymm: str) -> str:
    """YYMM as printed on the card: "2612" -> "12/26"."""
    if _YYMM.fullmatch(yymm) is None:
        raise CardError("expiry must be YYMM, 4 digits, e.g. 2612")
    return f"{yymm[2:]}/{yymm[:2]}"
