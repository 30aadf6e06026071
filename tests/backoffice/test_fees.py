"""Merchant fees: rounding, bounds, refunds; properties checked against a Decimal oracle."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.backoffice.fees import FeeSchedule, fee_fen, refund_fee_return, round_half_up
from kassa.errors import ConfigError

AMOUNT_MAX = 999_999_999_999


def oracle(amount: int, rate_ppm: int, fixed: int, low: int, cap: int | None) -> int:
    """The documented formula, computed another way: Decimal's ROUND_HALF_UP."""
    percent = (Decimal(amount) * Decimal(rate_ppm) / Decimal(1_000_000)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    fee = max(int(percent) + fixed, low)
    return fee if cap is None else min(fee, cap)


@pytest.mark.parametrize(
    ("amount", "rate", "fixed", "low", "cap", "expected"),
    [
        (250, 6000, 0, 0, None, 2),  # 1.5 fen rounds half up to 2
        (249, 6000, 0, 0, None, 1),  # 1.494 fen rounds down
        (2500, 3800, 0, 0, None, 10),  # 9.5 fen -> 10
        (2499, 3800, 0, 0, None, 9),  # 9.4962 fen -> 9
        (10_000, 6000, 10, 50, 2000, 70),  # 0.60% of 100.00 plus 0.10 fixed
        (100, 6000, 10, 50, 2000, 50),  # 0.01 + 0.10 is under the 0.50 minimum
        (500_000, 6000, 10, 50, 2000, 2000),  # 30.10 capped at 20.00
        (0, 3800, 0, 0, None, 0),
        (AMOUNT_MAX, 1_000_000, 0, 0, None, AMOUNT_MAX),  # 100% of the largest amount
    ],
)
def test_fee_examples(
    amount: int, rate: int, fixed: int, low: int, cap: int | None, expected: int
) -> None:
    assert fee_fen(amount, rate, fixed, low, cap) == expected


@pytest.mark.parametrize(
    ("rate", "fixed", "low", "cap", "words"),
    [
        (-1, 0, 0, None, "rate_ppm"),
        (1_000_001, 0, 0, None, "above 100%"),
        (3800, -5, 0, None, "fixed_fen"),
        (3800, 0, -1, None, "min_fen"),
        (3800, 0, 100, 99, "below the minimum"),
    ],
)
def test_impossible_terms_are_config_errors(
    rate: int, fixed: int, low: int, cap: int | None, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        FeeSchedule(rate, fixed, low, cap)


@pytest.mark.parametrize("amount", [-1, AMOUNT_MAX + 1, 10.0, True])
def test_bad_amounts_are_bugs(amount: object) -> None:
    with pytest.raises(ValueError, match="amount_fen"):
        FeeSchedule(3800).fee(amount)  # type: ignore[arg-type]


rates = st.integers(0, 1_000_000)
money = st.integers(0, 100_000)


@st.composite
def schedules(draw: st.DrawFn) -> FeeSchedule:
    low = draw(money)
    cap = draw(st.none() | st.integers(low, low + 1_000_000))
    return FeeSchedule(draw(rates), draw(money), low, cap)


@settings(max_examples=1000, derandomize=True)
@given(schedules(), st.integers(0, AMOUNT_MAX), st.integers(0, AMOUNT_MAX))
def test_fee_is_bounded_monotone_integer_and_matches_the_oracle(
    schedule: FeeSchedule, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    fee_low, fee_high = schedule.fee(low), schedule.fee(high)
    assert type(fee_low) is int and type(fee_high) is int
    assert 0 <= fee_low <= fee_high  # never negative, never smaller for a larger amount
    for fee in (fee_low, fee_high):
        assert fee >= schedule.min_fen
        assert schedule.max_fen is None or fee <= schedule.max_fen
    args = (schedule.rate_ppm, schedule.fixed_fen, schedule.min_fen, schedule.max_fen)
    assert fee_low == oracle(low, *args)
    assert fee_high == oracle(high, *args)


@settings(max_examples=500, derandomize=True)
@given(st.integers(0, 10**15), st.integers(1, 10**9))
def test_round_half_up_against_decimal(numerator: int, denominator: int) -> None:
    expected = (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    assert round_half_up(numerator, denominator) == int(expected)


def test_refund_returns_the_refunded_share_of_the_fee() -> None:
    # Sale 100.00 charged 0.70: refunding 40.00 returns 0.28, the other 60.00 returns 0.42.
    assert refund_fee_return(10_000, 70, 0, 4_000) == 28
    assert refund_fee_return(10_000, 70, 4_000, 6_000) == 42
    # 2 fen over 3 fen refunded 1 fen at a time: shares 1, 1, 2 -> returns 1, 0, 1.
    assert [refund_fee_return(3, 2, before, 1) for before in (0, 1, 2)] == [1, 0, 1]


def test_refunds_above_the_original_are_refused() -> None:
    with pytest.raises(ValueError, match="exceed"):
        refund_fee_return(10_000, 70, 6_000, 4_001)


@st.composite
def refund_plans(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    original = draw(st.integers(1, 10**9))
    fee = draw(st.integers(0, 10**6))
    parts = draw(st.lists(st.integers(1, original), max_size=12))
    refunds, left = [], original
    for part in parts:
        if left == 0:
            break
        refunds.append(min(part, left))
        left -= refunds[-1]
    return original, fee, refunds


@settings(max_examples=1000, derandomize=True)
@given(refund_plans())
def test_partial_refunds_never_return_more_than_the_fee(plan: tuple[int, int, list[int]]) -> None:
    original, fee, refunds = plan
    returned, before = [], 0
    for refund in refunds:
        returned.append(refund_fee_return(original, fee, before, refund))
        before += refund
    assert all(r >= 0 for r in returned)
    assert sum(returned) <= fee
    if before == original:
        assert sum(returned) == fee  # a full refund, in any steps, returns the whole fee
