"""Tests for kassa.card.track: track 2 as readers type it and as F35 nibbles, track 3."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kassa.card.track import Track2, parse_swipe, parse_track2, parse_track3
from kassa.errors import CardError

PAN = "6212264000001899463"  # Luhn-valid 19-digit UnionPay number (team brief)
READER_TEXT = ";6212264000001899463=26121010000012345?\n"


def test_parse_reader_form() -> None:
    track = parse_track2(READER_TEXT)
    assert track == Track2(PAN, "2612", "101", "0000012345")
    assert track.text() == "6212264000001899463=26121010000012345"
    assert track.nibbles() == "6212264000001899463D26121010000012345"
    assert not track.has_chip


def test_parse_nibble_form_and_bare_form() -> None:
    assert parse_track2("6212264000001899463D26121010000012345") == parse_track2(READER_TEXT)
    assert parse_track2("6212264000001899463=2612101") == Track2(PAN, "2612", "101", "")
    assert parse_track2("6212264000001899463d2612201\r\n").has_chip


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        (";?", "empty"),
        ("62122640000018994632612101", "no separator"),
        (";6212264000001899463=26121010000012345", "sentinel"),
        ("6212264000001899463=26121010000012345?", "sentinel"),
        (";62122640000?01899463=2612101?", "sentinel"),
        ("6212264000001899464=2612101", "Luhn"),
        ("621226400000=2612101", "12 digits"),
        ("6212264000001899463=261210100000123459", "longer than 37"),
        ("6212264000001899463=2612", "too short"),
        ("6212264000001899463=26A2101", "digits"),
        ("6212264000001899463=2612101=12", "digits"),
        ("6212264000001899463=2613101", "month"),
        ("６２１２２６４０００００１８９９４６３=2612101", "digits"),
    ],
)
def test_parse_track2_rejects(text: str, says: str) -> None:
    with pytest.raises(CardError, match=says) as caught:
        parse_track2(text)
    assert "2640000018" not in str(caught.value), "track data must not reach the message"


def reference_luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(digits[::-1]):
        total += sum(int(c) for c in str(int(char) * (2 if index % 2 else 1)))
    return total % 10 == 0


pans = st.text(alphabet="0123456789", min_size=12, max_size=18).map(
    lambda body: next(body + d for d in "0123456789" if reference_luhn(body + d))
)
tracks = st.builds(
    Track2,
    pan=pans,
    expiry=st.builds(lambda y, m: f"{y:02d}{m:02d}", st.integers(0, 99), st.integers(1, 12)),
    service_code=st.from_regex(r"[0-9]{3}", fullmatch=True),
    discretionary=st.text(alphabet="0123456789", max_size=10),
)


@given(tracks)
def test_round_trip_through_both_forms(track: Track2) -> None:
    assert parse_track2(f";{track.text()}?\n") == track
    assert parse_track2(track.nibbles()) == track
    assert len(track.text()) <= 37


@given(tracks)
def test_repr_hides_track_data(track: Track2) -> None:
    for shown in (repr(track), str(track), f"{track}", f"{[track]}"):
        match = re.fullmatch(
            r"Track2\(pan='([0-9*]+)', expiry='\*\*\*\*', service_code='[0-9]{3}', "
            r"discretionary=<hidden>\)",
            shown.strip("[]"),
        )
        assert match is not None, shown
        masked = match.group(1)
        assert len(masked) == len(track.pan)
        assert sum(char.isdigit() for char in masked) <= min(10, len(track.pan) - 6)


@given(st.text(max_size=50))
def test_junk_only_ever_raises_card_error(text: str) -> None:
    try:
        track = parse_track2(text)
    except CardError:
        return
    assert reference_luhn(track.pan)


@given(st.text(alphabet="0123456789=D;?%\n", max_size=45))
def test_near_track_junk_only_ever_raises_card_error(text: str) -> None:
    try:
        track = parse_track2(text)
    except CardError:
        return
    assert parse_track2(track.nibbles()) == track


def test_track2_construction_validates() -> None:
    with pytest.raises(CardError):
        Track2("6212264000001899464", "2612", "101", "")
    with pytest.raises(CardError):
        Track2(PAN, "2612", "10", "")
    with pytest.raises(CardError):
        Track2(PAN, "2612", "101", "12x")
    with pytest.raises(CardError):
        Track2(" " + PAN, "2612", "101", "")
    with pytest.raises(CardError, match="37"):
        Track2(PAN, "2612", "101", "0" * 11)


@pytest.mark.parametrize(
    ("text", "nibbles"),
    [
        (
            ";996212264000001899463=1561560000000000000003000000114000049120=000000000=000000000=0000000000000?",
            None,
        ),
        ("+0012345=6789?", "0012345D6789"),
        ("0012345D6789", "0012345D6789"),
        ("99=12", "99D12"),
    ],
)
def test_parse_track3(text: str, nibbles: str | None) -> None:
    expected = nibbles or text[1:-1].replace("=", "D")
    assert parse_track3(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [("", "empty"), ("12a4", "digits"), ("9" * 105, "104"), (";1234", "sentinel"), ("+?", "empty")],
)
def test_parse_track3_rejects(text: str, says: str) -> None:
    with pytest.raises(CardError, match=says):
        parse_track3(text)


def test_parse_swipe_with_all_three_tracks() -> None:
    typed = "%B6212264000001899463^ZHANG/SAN^2612101?;6212264000001899463=2612101123?;99001=12?\n"
    track2, track3 = parse_swipe(typed)
    assert track2 == Track2(PAN, "2612", "101", "123")
    assert track3 == "99001D12"


def test_parse_swipe_with_track2_only() -> None:
    assert parse_swipe(READER_TEXT) == (parse_track2(READER_TEXT), None)
    assert parse_swipe("6212264000001899463D2612101") == (Track2(PAN, "2612", "101", ""), None)


@pytest.mark.parametrize(
    "typed", ["%B6212264000001899463^ZHANG", ";6212264000001899463=2612101", "%B1^A^1?"]
)
def test_parse_swipe_rejects_broken_swipes(typed: str) -> None:
    with pytest.raises(CardError):
        parse_swipe(typed)


@given(st.text(alphabet="0123456789=D;?%+^AB \n", max_size=60))
def test_parse_swipe_junk_only_raises_card_error(text: str) -> None:
    assume(text.strip())
    try:
        track2, track3 = parse_swipe(text)
    except CardError:
        return
    assert parse_track2(track2.text()) == track2
    assert track3 is None or parse_track3(track3) == track3
