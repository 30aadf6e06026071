"""Tests for kassa.money: the one amount parser, n12, arithmetic, and no floats."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa import limits, money
from kassa.errors import AmountError
from kassa.money import Amount, sum_amounts

valid_fen = st.integers(min_value=1, max_value=limits.amount_max_fen)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12.50", 1250),
        ("12.5", 1250),
        ("12", 1200),
        ("0.01", 1),
        ("  7.05 ", 705),
        ("\t100\n", 10000),
        ("007.10", 710),
        ("9999999999.99", 999_999_999_999),
    ],
)
def test_parse_accepts_yuan(text: str, fen: int) -> None:
    assert Amount.parse(text) == Amount(fen, "156")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("12.505", "more than 2 decimal places"),
        ("1,234.50", "thousands separator"),
        ("-5", "negative"),
        ("-0.01", "negative"),
        ("0", "more than 0.00"),
        ("0.00", "more than 0.00"),
        ("abc", "not yuan"),
        ("", "empty"),
        ("   ", "empty"),
        ("1e3", "not yuan"),
        ("NaN", "not yuan"),
        ("∞", "not yuan"),
        ("Infinity", "not yuan"),
        ("+12", "not yuan"),
        ("12.", "not yuan"),
        (".5", "not yuan"),
        ("1 000", "not yuan"),
        ("１２.５０", "non-ASCII digits"),
        ("١٢", "non-ASCII digits"),
        ("10000000000.00", "over the maximum 9999999999.99"),
        ("9" * 40, "too long"),
    ],
)
def test_parse_rejects_with_one_line_saying_what_and_how(text: str, says: str) -> None:
    with pytest.raises(AmountError) as caught:
        Amount.parse(text)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    assert re.search(r"[0-9]\.[0-9]{2}\b", message), "the message shows a right amount"


def test_parse_allows_zero_when_not_positive() -> None:
    assert Amount.parse("0.00", positive=False) == Amount.zero()
    with pytest.raises(AmountError):
        Amount.parse("-1", positive=False)


def test_parse_keeps_the_currency() -> None:
    assert Amount.parse("1.00", "840") == Amount(100, "840")


def test_error_message_masks_a_card_number_typed_into_the_amount() -> None:
    with pytest.raises(AmountError) as caught:
        Amount.parse("6212264000001899463")
    assert "6212264000001899463" not in str(caught.value)
    assert "2640000018" not in str(caught.value)


@given(valid_fen)
def test_parse_of_yuan_round_trips(fen: int) -> None:
    amount = Amount(fen)
    assert Amount.parse(amount.yuan()) == amount


@given(st.integers(min_value=0, max_value=limits.amount_max_fen))
def test_n12_round_trips(fen: int) -> None:
    digits = Amount(fen).n12()
    assert len(digits) == 12
    assert digits.isdigit()
    assert int(digits) == fen
    assert Amount.from_n12(digits) == Amount(fen)


def _decimal_fen(text: str) -> int | None:
    """An independent reading of `text` as yuan, through Decimal (tests only)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return int(value * 100) if value.is_finite() else None


@given(st.text(max_size=40))
def test_junk_only_ever_raises_amount_error(text: str) -> None:
    try:
        amount = Amount.parse(text)
    except AmountError as error:
        assert "\n" not in str(error)
        return
    assert 0 < amount.fen <= limits.amount_max_fen
    assert _decimal_fen(text) == amount.fen


@given(st.from_regex(r"\s*[0-9]{1,12}(\.[0-9]{0,4})?\s*", fullmatch=True))
def test_numeric_text_agrees_with_decimal_or_is_refused(text: str) -> None:
    _, dot, decimals = text.strip().partition(".")
    expected = _decimal_fen(text)
    refused = (dot and not 1 <= len(decimals) <= 2) or expected is None
    refused = refused or (expected or 0) > limits.amount_max_fen
    if refused:
        with pytest.raises(AmountError):
            Amount.parse(text, positive=False)
    else:
        assert Amount.parse(text, positive=False) == Amount(expected or 0)


@pytest.mark.parametrize(
    "digits", ["", "1250", "0000000012500", "00000000125a", "０００００００００１２５"]
)
def test_from_n12_rejects_anything_but_12_ascii_digits(digits: str) -> None:
    with pytest.raises(AmountError, match="12 digits"):
        Amount.from_n12(digits)


def test_n12_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="n12"):
        Amount(-1).n12()
    with pytest.raises(ValueError, match="n12"):
        Amount(limits.amount_max_fen + 1).n12()


@pytest.mark.parametrize(
    ("fen", "yuan"), [(0, "0.00"), (1, "0.01"), (1250, "12.50"), (100000, "1000.00"), (-5, "-0.05")]
)
def test_yuan_and_str(fen: int, yuan: str) -> None:
    assert Amount(fen).yuan() == yuan
    assert str(Amount(fen)) == f"CNY {yuan}"


def test_str_of_other_currencies() -> None:
    assert str(Amount(1250, "840")) == "USD 12.50"
    assert str(Amount(1250, "999")) == "999 12.50"


def test_arithmetic_within_one_currency() -> None:
    assert Amount(1250) + Amount(50) == Amount(1300)
    assert Amount(1250) - Amount(1300) == Amount(-50)
    assert Amount(100) < Amount(200)
    assert sum_amounts([Amount(1), Amount(2), Amount(3)]) == Amount(6)
    assert sum_amounts([]) == Amount.zero()
    assert sum_amounts([], "840") == Amount.zero("840")


def test_mixing_currencies_is_a_bug() -> None:
    with pytest.raises(ValueError, match="currencies"):
        Amount(1, "156") + Amount(1, "840")
    with pytest.raises(ValueError, match="currencies"):
        Amount(1, "156") - Amount(1, "840")
    with pytest.raises(ValueError, match="currencies"):
        sum_amounts([Amount(1, "840")])


def test_adding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Amount(1) + 1


def test_construction_checks_types() -> None:
    with pytest.raises(TypeError):
        Amount(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Amount(True)
    with pytest.raises(ValueError, match="3 digits"):
        Amount(1, "CNY")


def test_amount_is_immutable() -> None:
    amount = Amount(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        amount.fen = 2  # type: ignore[misc]


def test_module_has_no_float() -> None:
    tree = ast.parse(inspect.getsource(money))
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Name) and node.id == "float"), "float() used"
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float))
