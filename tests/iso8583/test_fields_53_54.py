"""Field 53 (security control) and field 54 (balances)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import DecodeError
from kassa.iso8583 import fields as f

AMOUNT_MAX = 999_999_999_999


def n_digits(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=size, max_size=size)


# ---------------------------------------------------------------- field 53


@pytest.mark.parametrize(
    ("wire", "pin_format", "algorithm", "track"),
    [
        # the three examples of §2, row 53
        ("2610000000000000", "2", "6", True),
        ("2600000000000000", "2", "6", False),
        ("0610000000000000", "0", "6", True),
    ],
)
def test_f53_reference_examples(wire: str, pin_format: str, algorithm: str, track: bool) -> None:
    parsed = f.Field53.parse(wire)
    assert parsed == f.Field53(pin_format, algorithm, track)
    assert parsed.to_field() == wire


def test_f53_enum_names() -> None:
    value = f.Field53(f.PinFormat.WITH_PAN, f.PinAlgorithm.TRIPLE_DES, track_encrypted=False)
    assert value.to_field() == "2600000000000000"


def test_f53_every_valid_value_round_trips() -> None:
    seen = set()
    for pin_format, algorithm, track in itertools.product("012", "06", "01"):
        wire = pin_format + algorithm + track + "0" * 13
        assert f.Field53.parse(wire).to_field() == wire
        seen.add(wire)
    assert len(seen) == 12


@pytest.mark.parametrize(
    "wire",
    [
        "3610000000000000",  # no PIN format 3
        "2110000000000000",  # algorithm 1
        "2620000000000000",  # track flag 2
        "2610000000000001",  # padding not zero
        "261000000000000",  # 15 digits
        "26100000000000000",
        "261000000000000 ",
    ],
)
def test_f53_bad_values(wire: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field53.parse(wire)
    assert err.value.field == "53"


def test_f53_construction_checks() -> None:
    with pytest.raises(ValueError):
        f.Field53("2", "1", track_encrypted=False)
    with pytest.raises(ValueError):
        f.Field53("2", "6", 1)  # type: ignore[arg-type]


@given(n_digits(16))
def test_f53_random_digits_parse_or_decode_error(wire: str) -> None:
    try:
        parsed = f.Field53.parse(wire)
    except DecodeError:
        assert wire[0] not in "012" or wire[1] not in "06" or wire[2] not in "01" or int(wire[3:])
        return
    assert parsed.to_field() == wire


# ---------------------------------------------------------------- field 54


def test_f54_single_balance() -> None:
    # 账户类型 10 + 余额类型 02 + 156 + C + 金额 n12
    parsed = f.Field54.parse("1002156C000000012345")
    assert parsed.items == (f.BalanceAmount("10", "02", "156", 12345),)
    assert parsed.available_fen == 12345
    assert parsed.ledger_fen is None


def test_f54_ledger_and_available_and_negative() -> None:
    wire = "3001156D000000050000" + "3002156C000000150000" + "3002840C000000000777"
    parsed = f.Field54.parse(wire)
    assert parsed.ledger_fen == -50000
    assert parsed.available_fen == 150000
    assert parsed.balance_fen("02", currency="840") == 777
    assert parsed.to_field() == wire


def test_f54_debit_zero_is_accepted_and_written_as_credit() -> None:
    parsed = f.Field54.parse("1002156D000000000000")
    assert parsed.available_fen == 0
    assert parsed.to_field() == "1002156C000000000000"


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "1002156C00000001234",  # 19
        "1002156X000000012345",  # sign
        "1002156C00000001234A",
        "10021 6C000000012345",
        "1002156C000000012345" * 7,  # 140 > 120
        "1002156+000000012345",
    ],
)
def test_f54_bad_values(wire: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field54.parse(wire)
    assert err.value.field == "54"


def test_f54_construction_limits() -> None:
    item = f.BalanceAmount("10", "02", "156", 1)
    with pytest.raises(ValueError):
        f.Field54((item,) * 7)
    with pytest.raises(ValueError):
        f.Field54(())
    with pytest.raises(ValueError):
        f.BalanceAmount("10", "02", "156", -(AMOUNT_MAX + 1))
    with pytest.raises(ValueError):
        f.BalanceAmount("10", "2", "156", 1)


balances = st.builds(
    f.BalanceAmount,
    n_digits(2),
    n_digits(2),
    n_digits(3),
    st.integers(-AMOUNT_MAX, AMOUNT_MAX),
)


@given(st.lists(balances, min_size=1, max_size=6))
def test_f54_round_trip(items: list[f.BalanceAmount]) -> None:
    value = f.Field54(tuple(items))
    wire = value.to_field()
    assert len(wire) == 20 * len(items)
    assert f.Field54.parse(wire) == value


@given(
    st.lists(
        st.tuples(n_digits(7), st.sampled_from("CD"), n_digits(12)).filter(
            lambda t: not (t[1] == "D" and int(t[2]) == 0)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_f54_parse_is_inverse(items: list[tuple[str, str, str]]) -> None:
    wire = "".join(head + sign + amount for head, sign, amount in items)
    assert f.Field54.parse(wire).to_field() == wire
