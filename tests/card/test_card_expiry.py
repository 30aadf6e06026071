"""Tests for kassa.card.expiry: YYMM and MM/YY, and the last-day-of-month rule."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.card.expiry import card_face, is_expired, parse_expiry
from kassa.errors import CardError


@pytest.mark.parametrize(
    ("text", "yymm"),
    [
        ("2612", "2612"),
        ("12/26", "2612"),
        (" 01/30 ", "3001"),
        ("07 / 29", "2907"),
        ("0001", "0001"),
    ],
)
def test_parse_expiry(text: str, yymm: str) -> None:
    assert parse_expiry(text) == yymm


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2613",
        "2600",
        "13/26",
        "00/26",
        "1/26",
        "12/2026",
        "12-26",
        "26121",
        "１２/２６",
        "ab/cd",
    ],
)
def test_parse_expiry_rejects(text: str) -> None:
    with pytest.raises(CardError) as caught:
        parse_expiry(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("yymm", "today", "expired"),
    [
        ("2612", datetime.date(2026, 12, 31), False),  # valid through the last day
        ("2612", datetime.date(2027, 1, 1), True),
        ("2602", datetime.date(2026, 2, 28), False),
        ("2602", datetime.date(2026, 3, 1), True),
        ("2412", datetime.date(2026, 6, 15), True),
        ("3001", datetime.date(2026, 6, 15), False),
        ("9912", datetime.date(2026, 6, 15), True),  # 1999, not 2099
        ("0105", datetime.date(2099, 6, 15), False),  # 2101 seen from 2099
    ],
)
def test_is_expired(yymm: str, today: datetime.date, expired: bool) -> None:
    assert is_expired(yymm, today) is expired


@given(st.dates(datetime.date(2000, 1, 1), datetime.date(2098, 12, 31)), st.integers(0, 48))
def test_expiry_is_a_month_boundary(today: datetime.date, months_ahead: int) -> None:
    index = today.year * 12 + today.month - 1 + months_ahead
    yymm = f"{index // 12 % 100:02d}{index % 12 + 1:02d}"
    assert not is_expired(yymm, today)
    index = today.year * 12 + today.month - 2 - months_ahead
    earlier = f"{index // 12 % 100:02d}{index % 12 + 1:02d}"
    assert is_expired(earlier, today)


@given(st.integers(0, 99), st.integers(1, 12))
def test_card_face_round_trips(year: int, month: int) -> None:
    yymm = f"{year:02d}{month:02d}"
    assert card_face(yymm) == f"{month:02d}/{year:02d}"
    assert parse_expiry(card_face(yymm)) == yymm


@pytest.mark.parametrize("bad", ["261", "26x2", "2613"])
def test_is_expired_and_card_face_reject_bad_yymm(bad: str) -> None:
    with pytest.raises(CardError):
        is_expired(bad, datetime.date(2026, 1, 1))
    if bad != "2613":
        with pytest.raises(CardError):
            card_face(bad)
