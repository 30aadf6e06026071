"""Card data: PAN (Luhn, masking, leak finding), tracks 2 and 3, expiry, EMV TLV, and the
`CardInput` value that says how a card reached the terminal."""

from __future__ import annotations

from kassa.card.entry import (
    ENTRY_CONTACTLESS,
    ENTRY_ICC,
    ENTRY_MANUAL,
    ENTRY_SWIPE,
    CardInput,
)
from kassa.card.expiry import card_face, is_expired, parse_expiry
from kassa.card.pan import find_pans, luhn_digit, luhn_ok, mask_in_text, mask_pan, validate_pan
from kassa.card.tlv import (
    REVERSAL_TAGS,
    TAG_NAMES,
    decode_tlv,
    decode_tlv_items,
    encode_tlv,
    find_tlv,
    reversal_subset,
)
from kassa.card.track import Track2, parse_swipe, parse_track2, parse_track3

__all__ = [
    "ENTRY_CONTACTLESS",
    "ENTRY_ICC",
    "ENTRY_MANUAL",
    "ENTRY_SWIPE",
    "REVERSAL_TAGS",
    "TAG_NAMES",
    "CardInput",
    "Track2",
    "card_face",
    "decode_tlv",
    "decode_tlv_items",
    "encode_tlv",
    "find_pans",
    "find_tlv",
    "is_expired",
    "luhn_digit",
    "luhn_ok",
    "mask_in_text",
    "mask_pan",
    "parse_expiry",
    "parse_swipe",
    "parse_track2",
    "parse_track3",
    "reversal_subset",
    "validate_pan",
]
