"""Tests for kassa.card.entry: swipe, keyed and chip input as one value, and F22."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyemv import tlv as pyemv_tlv

from kassa.card.entry import CardInput
from kassa.card.track import Track2
from kassa.errors import CardError

PAN = "6212264000001899463"  # 19 digits, Luhn-valid
PAN16 = "6200000000000005"  # Stripe's UnionPay test card


def chip_data(**tags: bytes) -> bytes:
    """Card data objects as a kernel hands them over, built with pyemv (independent)."""
    return pyemv_tlv.encode(tags)


# 19-digit PAN as BCD needs a trailing F pad nibble; expiry 5F24 is YYMMDD.
PAN_5A = bytes.fromhex(PAN + "F")
TRACK2_57 = bytes.fromhex(PAN + "D2612201" + "1234F")


def test_from_swipe() -> None:
    card = CardInput.from_swipe(";6212264000001899463=26121010000012345?\n")
    assert card.pan == PAN
    assert card.expiry == "2612"
    assert card.track2 == Track2(PAN, "2612", "101", "0000012345")
    assert (card.track3, card.cvn, card.icc_data, card.pan_seq) == (None, None, None, None)
    assert card.pos_entry_mode(pin_entered=True) == "021"
    assert card.pos_entry_mode(pin_entered=False) == "022"


def test_from_swipe_with_track3() -> None:
    card = CardInput.from_swipe(";6212264000001899463=2612101?;99001=12?")
    assert card.track3 == "99001D12"


def test_from_manual() -> None:
    card = CardInput.from_manual("6200 0000 0000 0005", "12/26", "123")
    assert (card.pan, card.expiry, card.cvn, card.track2) == (PAN16, "2612", "123", None)
    assert card.pos_entry_mode(True) == "011"
    assert card.pos_entry_mode(False) == "012"
    assert CardInput.from_manual(PAN16, "2612").cvn is None


@pytest.mark.parametrize(
    ("pan", "expiry", "cvn", "says"),
    [
        (PAN16, "12/26", "12", "CVN"),
        (PAN16, "12/26", "1234", "CVN"),
        (PAN16, "12/26", "12a", "CVN"),
        ("6200000000000006", "12/26", "123", "Luhn"),
        (PAN16, "13/26", "123", "month"),
    ],
)
def test_from_manual_rejects(pan: str, expiry: str, cvn: str, says: str) -> None:
    with pytest.raises(CardError, match=says):
        CardInput.from_manual(pan, expiry, cvn)


def test_from_icc() -> None:
    data = chip_data(
        **{"5A": PAN_5A, "5F24": bytes.fromhex("261231"), "5F34": b"\x01", "57": TRACK2_57}
    )
    card = CardInput.from_icc(data)
    assert card.pan == PAN
    assert card.expiry == "2612"
    assert card.pan_seq == "001"
    assert card.track2 == Track2(PAN, "2612", "201", "1234")
    assert card.icc_data == data
    assert card.pos_entry_mode(True) == "051"
    assert card.pos_entry_mode(False) == "052"
    assert CardInput.from_icc(data, contactless=True).pos_entry_mode(False) == "072"


def test_from_icc_inside_a_record_template_and_without_5a() -> None:
    record = pyemv_tlv.encode({"70": {"57": TRACK2_57, "5F34": b"\x12"}})
    card = CardInput.from_icc(record)
    assert card.pan == PAN
    assert card.expiry == "2612", "from track 2 equivalent when 5F24 is absent"
    assert card.pan_seq == "012"


def test_from_icc_16_digit_pan_without_pad() -> None:
    card = CardInput.from_icc(chip_data(**{"5A": bytes.fromhex(PAN16)}))
    assert (card.pan, card.expiry, card.track2, card.pan_seq) == (PAN16, None, None, None)


@pytest.mark.parametrize(
    ("tags", "says"),
    [
        ({"5F34": b"\x01"}, "no PAN"),
        ({"5A": bytes.fromhex("6200000000000006")}, "Luhn"),
        ({"5A": bytes.fromhex("62000000000000A5")}, "BCD"),
        ({"5A": bytes.fromhex(PAN16), "57": TRACK2_57}, "differ"),
        ({"5A": PAN_5A, "5F24": bytes.fromhex("2612")}, "YYMMDD"),
        ({"5A": PAN_5A, "5F24": bytes.fromhex("261331")}, "month"),
        ({"5A": PAN_5A, "5F34": b"\x1a"}, "5F34"),
        ({"5A": PAN_5A, "5F34": b"\x00\x01"}, "5F34"),
        ({"57": bytes.fromhex(PAN + "26122010F")}, "57"),
    ],
)
def test_from_icc_rejects(tags: dict[str, bytes], says: str) -> None:
    with pytest.raises(CardError, match=says):
        CardInput.from_icc(chip_data(**tags))


@given(st.binary(max_size=200))
def test_from_icc_junk_only_raises_card_error(data: bytes) -> None:
    try:
        card = CardInput.from_icc(data)
    except CardError:
        return
    assert 13 <= len(card.pan) <= 19
    assert card.icc_data == data


def test_repr_masks_everything_sensitive() -> None:
    cards = [
        CardInput.from_swipe(";6212264000001899463=26121010000012345?;99001=12?"),
        CardInput.from_manual(PAN16, "12/26", "987"),
        CardInput.from_icc(chip_data(**{"5A": PAN_5A, "57": TRACK2_57})),
    ]
    for card in cards:
        for shown in (repr(card), str(card), f"{[card]}"):
            assert card.pan not in shown
            assert "0000000000" not in shown
            assert "2612" not in shown
            assert "987" not in shown
            assert "12345" not in shown
            assert "99001" not in shown
            assert "621226" in shown or "620000" in shown


def test_card_input_is_immutable_and_checked() -> None:
    card = CardInput.from_manual(PAN16, "12/26")
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.pan = PAN  # type: ignore[misc]
    with pytest.raises(ValueError, match="entry_mode"):
        dataclasses.replace(card, entry_mode="9")
    with pytest.raises(CardError):
        dataclasses.replace(card, pan="6200000000000006")
