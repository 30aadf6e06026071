"""Magnetic stripe tracks 2 and 3, as a USB reader types them and as field 35/36 nibbles.

Track 2 (ISO/IEC 7813): PAN, separator, expiry YYMM, service code (3 digits), discretionary
data; at most 37 characters between the sentinels. A keyboard-wedge reader types
``;6212264000001899463=26121010000012345678?`` and usually a newline; field 35 carries the
same digits with the separator as nibble ``D``. Track data is never shown: `Track2`'s repr
masks the PAN and hides everything after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kassa.card.expiry import parse_expiry
from kassa.card.pan import mask_pan, validate_pan
from kassa.errors import CardError

__all__ = ["Track2", "parse_swipe", "parse_track2", "parse_track3"]

track2_length_max = 37
track3_length_max = 104
_SEPARATORS = "=Dd"
_DIGITS = re.compile(r"[0-9]*")
_SERVICE_CODE = re.compile(r"[0-9]{3}")
_TRACK3 = re.compile(r"[0-9=Dd]+")
# Service code first digit 2 or 6: the card has a chip and should be inserted, not swiped.
_CHIP_SERVICE_DIGITS = "26"


@dataclass(frozen=True, slots=True, repr=False)
class Track2:
    """Track 2, validated: a Luhn-valid PAN, expiry YYMM, 3-digit service code, and the
    discretionary data (PVKI/PVV/CVV and issuer data, digits only)."""

    pan: str
    expiry: str
    service_code: str
    discretionary: str

    def __post_init__(self) -> None:
        if validate_pan(self.pan) != self.pan:
            raise CardError("track 2 card number must be bare digits")
        if parse_expiry(self.expiry) != self.expiry:
            raise CardError("track 2 expiry must be YYMM, e.g. 2612")
        if _SERVICE_CODE.fullmatch(self.service_code) is None:
            raise CardError("track 2 service code must be 3 digits, e.g. 101")
        if _DIGITS.fullmatch(self.discretionary) is None:
            raise CardError("track 2 discretionary data must be digits only")
        if len(self.text()) > track2_length_max:
            raise CardError(f"track 2 is longer than {track2_length_max} characters; swipe again")

    def text(self) -> str:
        """Track 2 with ``=`` as separator, without sentinels (as the stripe holds it)."""
        return f"{self.pan}={self.expiry}{self.service_code}{self.discretionary}"

    def nibbles(self) -> str:
        """Track 2 with ``D`` as separator, the digit string field 35 packs into BCD."""
        return f"{self.pan}D{self.expiry}{self.service_code}{self.discretionary}"

    @property
    def has_chip(self) -> bool:
        """True when the service code says the card has a chip (insert it instead)."""
        return self.service_code[0] in _CHIP_SERVICE_DIGITS

    def __repr__(self) -> str:
        return (
            f"Track2(pan={mask_pan(self.pan)!r}, expiry='****', "
            f"service_code={self.service_code!r}, discretionary=<hidden>)"
        )

    __str__ = __repr__


def _strip_sentinels(text: str, starts: str, what: str) -> str:
    """`text` without its start sentinel (one of `starts`) and end sentinel ``?``, which
    must come as a pair; no sentinel may appear inside."""
    body = text
    has_start = bool(body) and body[0] in starts
    has_end = body.endswith("?")
    if has_start != has_end:
        raise CardError(f"{what} has a start or end sentinel without the other; swipe again")
    if has_start:
        body = body[1:-1]
    if any(char in body for char in starts + "?%"):
        raise CardError(f"{what} holds a sentinel inside the data; swipe again")
    return body


def parse_track2(text: str) -> Track2:
    """Parse track 2 typed by a reader (``;...=...?``, newline ok) or as nibbles (``...D...``).

    CardError (never echoing the data) for a missing separator, a bad PAN, more than 37
    characters, a non-digit, or sentinels that do not pair up.
    """
    body = _strip_sentinels(text.strip(), ";", "track 2")
    if not body:
        raise CardError("track 2 is empty; swipe the card again")
    if len(body) > track2_length_max:
        raise CardError(f"track 2 is longer than {track2_length_max} characters; swipe again")
    positions = [index for index, char in enumerate(body) if char in _SEPARATORS]
    if not positions:
        raise CardError("track 2 has no separator between card number and expiry; swipe again")
    split = positions[0]
    pan, rest = body[:split], body[split + 1 :]
    if _DIGITS.fullmatch(pan) is None or _DIGITS.fullmatch(rest) is None:
        raise CardError("track 2 must be digits with one separator; swipe again")
    if len(rest) < 7:
        raise CardError("track 2 is too short for expiry and service code; swipe again")
    return Track2(validate_pan(pan), rest[:4], rest[4:7], rest[7:])


def parse_track3(text: str) -> str:
    """Track 3 (digits and separators, at most 104) in nibble form, ``=`` written as ``D``.

    Accepts the reader form with ``;`` or ``+`` start sentinel and ``?`` end sentinel. Only
    the character set and length are checked; the content is the issuer's.
    """
    body = _strip_sentinels(text.strip(), ";+", "track 3")
    if not body:
        raise CardError("track 3 is empty; swipe the card again")
    if len(body) > track3_length_max:
        raise CardError(f"track 3 is longer than {track3_length_max} characters; swipe again")
    if _TRACK3.fullmatch(body) is None:
        raise CardError("track 3 must be digits and separators only; swipe again")
    return body.replace("=", "D").replace("d", "D")


def parse_swipe(text: str) -> tuple[Track2, str | None]:
    """Split what a keyboard-wedge reader typed for one swipe into track 2 and track 3.

    Readers set to send several tracks type them back to back: ``%...?`` (track 1, ignored:
    it holds the cardholder name and nothing the dialect sends), ``;...?`` (track 2) and
    ``;...?`` or ``+...?`` (track 3). A bare track 2 without sentinels is accepted too.
    """
    stripped = text.strip()
    if stripped.startswith("%"):
        end = stripped.find("?")
        if end < 0:
            raise CardError("track 1 has no end sentinel; swipe the card again")
        stripped = stripped[end + 1 :].lstrip()
    if not stripped.startswith(";"):
        return parse_track2(stripped), None
    end = stripped.find("?")
    if end < 0:
        raise CardError("track 2 has no end sentinel; swipe the card again")
    track2 = parse_track2(stripped[: end + 1])
    rest = stripped[end + 1 :].strip()
    return track2, (parse_track3(rest) if rest else None)
