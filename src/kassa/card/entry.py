"""How a card reached the terminal (swipe, keyed, chip), as one value.

`CardInput` carries what the request fields need: F2 PAN, F14 expiry, F22 entry mode,
F23 PAN sequence, F35/F36 tracks, F55 chip data, and the CVN for keyed entry. Its repr
masks the PAN and shows only whether the secret parts are present, so a CardInput that
ends up in a log or a traceback leaks nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kassa.card.expiry import parse_expiry
from kassa.card.pan import mask_pan, validate_pan
from kassa.card.tlv import decode_tlv_items, find_tlv, icc_data_size_max_bytes
from kassa.card.track import Track2, parse_swipe, parse_track2
from kassa.errors import CardError

__all__ = [
    "ENTRY_CONTACTLESS",
    "ENTRY_ICC",
    "ENTRY_MANUAL",
    "ENTRY_SWIPE",
    "CardInput",
]

# F22 digits 1-2 (reference §2 F22 row); digit 3 says whether a PIN was entered.
ENTRY_MANUAL = "01"
ENTRY_SWIPE = "02"
ENTRY_ICC = "05"
ENTRY_CONTACTLESS = "07"
_ENTRY_MODES = (ENTRY_MANUAL, ENTRY_SWIPE, ENTRY_ICC, ENTRY_CONTACTLESS)
_CVN = re.compile(r"[0-9]{3}")
_BCD = re.compile(r"[0-9]+")


def _present(value: object) -> str:
    return "None" if value is None else "<present>"


def _bcd_digits(value: bytes, what: str) -> str:
    """Packed BCD from a card record as digits, trailing F pad nibbles dropped."""
    digits = value.hex().upper().rstrip("F")
    if _BCD.fullmatch(digits) is None:
        raise CardError(f"IC card {what} is not packed BCD digits; insert the card again")
    return digits


@dataclass(frozen=True, slots=True, repr=False)
class CardInput:
    """The card data of one transaction; build it with `from_swipe`, `from_manual` or
    `from_icc`, which validate everything."""

    pan: str
    expiry: str | None
    track2: Track2 | None
    track3: str | None
    cvn: str | None
    icc_data: bytes | None
    entry_mode: str
    pan_seq: str | None

    def __post_init__(self) -> None:
        if validate_pan(self.pan) != self.pan:
            raise CardError("card number must be bare digits")
        if self.entry_mode not in _ENTRY_MODES:
            raise ValueError(f"entry_mode must be one of {_ENTRY_MODES}, got {self.entry_mode!r}")

    @classmethod
    def from_swipe(cls, track2_text: str) -> CardInput:
        """A swiped card, from what the reader typed (track 2, optionally track 1/3 around
        it, see `parse_swipe`)."""
        track2, track3 = parse_swipe(track2_text)
        return cls(track2.pan, track2.expiry, track2, track3, None, None, ENTRY_SWIPE, None)

    @classmethod
    def from_manual(cls, pan: str, expiry: str, cvn: str | None = None) -> CardInput:
        """A keyed card: PAN, expiry (MM/YY or YYMM) and the 3-digit CVN2 if the acquirer
        asks for it."""
        if cvn is not None and _CVN.fullmatch(cvn.strip()) is None:
            raise CardError("CVN must be the 3 digits on the back of the card, e.g. 123")
        return cls(
            validate_pan(pan),
            parse_expiry(expiry),
            None,
            None,
            None if cvn is None else cvn.strip(),
            None,
            ENTRY_MANUAL,
            None,
        )

    @classmethod
    def from_icc(cls, tlv_bytes: bytes, *, contactless: bool = False) -> CardInput:
        """A chip card, from the data objects the EMV kernel read (templates are searched).

        PAN from 5A (else from 57), expiry from 5F24 (YYMMDD, kept as YYMM), PAN sequence
        from 5F34, track 2 equivalent from 57 when present; 5A and 57 must agree.
        """
        decode_tlv_items(tlv_bytes, size_max_bytes=icc_data_size_max_bytes)
        track2 = cls._icc_track2(tlv_bytes)
        pan_value = find_tlv(tlv_bytes, "5A")
        if pan_value is not None:
            pan = validate_pan(_bcd_digits(pan_value, "PAN (5A)"))
        elif track2 is not None:
            pan = track2.pan
        else:
            raise CardError("IC card data has no PAN (5A or 57); insert the card again")
        if track2 is not None and track2.pan != pan:
            raise CardError("IC card PAN (5A) and track 2 equivalent (57) differ; use another card")
        return cls(
            pan,
            cls._icc_expiry(tlv_bytes, track2),
            track2,
            None,
            None,
            bytes(tlv_bytes),
            ENTRY_CONTACTLESS if contactless else ENTRY_ICC,
            cls._icc_pan_seq(tlv_bytes),
        )

    @staticmethod
    def _icc_track2(tlv_bytes: bytes) -> Track2 | None:
        value = find_tlv(tlv_bytes, "57")
        if value is None:
            return None
        nibbles = value.hex().upper().rstrip("F")
        if nibbles.count("D") != 1 or _BCD.fullmatch(nibbles.replace("D", "")) is None:
            raise CardError("IC card track 2 equivalent (57) is malformed; insert the card again")
        return parse_track2(nibbles)

    @staticmethod
    def _icc_expiry(tlv_bytes: bytes, track2: Track2 | None) -> str | None:
        value = find_tlv(tlv_bytes, "5F24")
        if value is None:
            return None if track2 is None else track2.expiry
        digits = _bcd_digits(value, "expiry (5F24)")
        if len(digits) != 6:
            raise CardError("IC card expiry (5F24) must be YYMMDD; insert the card again")
        return parse_expiry(digits[:4])

    @staticmethod
    def _icc_pan_seq(tlv_bytes: bytes) -> str | None:
        value = find_tlv(tlv_bytes, "5F34")
        if value is None:
            return None
        digits = value.hex().upper()
        if len(value) != 1 or _BCD.fullmatch(digits) is None:
            raise CardError("IC card PAN sequence number (5F34) must be one BCD byte")
        return digits.rjust(3, "0")  # F23 is n3, right-aligned: 01 -> 001

    def pos_entry_mode(self, pin_entered: bool) -> str:
        """Field 22: entry mode and ``1`` (PIN entered) or ``2`` (no PIN): 021, 012, 051..."""
        return self.entry_mode + ("1" if pin_entered else "2")

    def __repr__(self) -> str:
        icc = "None" if self.icc_data is None else f"<{len(self.icc_data)} bytes>"
        return (
            f"CardInput(pan={mask_pan(self.pan)!r}, expiry={_present(self.expiry)}, "
            f"track2={_present(self.track2)}, track3={_present(self.track3)}, "
            f"cvn={_present(self.cvn)}, icc_data={icc}, entry_mode={self.entry_mode!r}, "
            f"pan_seq={self.pan_seq!r})"
        )

    __str__ = __repr__
