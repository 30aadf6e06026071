"""Field 48: settlement totals, batch-upload details, batch-upload end."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import DecodeError
from kassa.iso8583 import fields as f

AMOUNT_MAX = 999_999_999_999  # n12 in fen


def n_digits(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=size, max_size=size)


# ---------------------------------------------------------------- settlement


def newpos_f48(*totals: str | int) -> str:
    """The 0500 request layout exactly as NEWPOS sprintf's it (§3.7): rmbDebitAmt, n,
    rmbCreditAmt, n, frnDebitAmt, n, frnCreditAmt, n (amounts already as 12 digits)."""
    layout = "%s%03d%s%03d0%s%03d%s%03d0"
    return layout % totals


def test_settlement_request_matches_newpos_layout() -> None:
    value = f.Field48Settlement(
        f.SettlementTotals(1234567, 12, 5000, 1),
        f.SettlementTotals(99, 1, 0, 0),
    )
    expected = newpos_f48(
        "000001234567", 12, "000000005000", 1, "000000000099", 1, "000000000000", 0
    )
    assert value.to_field() == expected
    assert len(expected) == 62
    assert f.Field48Settlement.parse(expected) == value
    assert not value.balanced


def test_settlement_response_results_at_positions_31_and_62() -> None:
    request = newpos_f48("000000010000", 2, "000000000000", 0, "000000000000", 0, "000000000000", 0)
    answer = request[:30] + "1" + request[31:61] + "1"
    parsed = f.Field48Settlement.parse(answer)
    assert parsed.domestic.result == f.SettlementResult.BALANCED
    assert parsed.foreign.result == "1"
    assert parsed.balanced
    assert parsed.domestic.debit_amount_fen == 10000
    assert parsed.domestic.debit_count == 2
    unbalanced = f.Field48Settlement.parse(request[:30] + "2" + request[31:61] + "1")
    assert not unbalanced.balanced
    assert unbalanced.foreign.balanced


def test_settlement_same_totals_ignores_results() -> None:
    mine = f.SettlementTotals(100, 1, 0, 0)
    host = f.SettlementTotals(100, 1, 0, 0, f.SettlementResult.BALANCED)
    assert mine.same_totals(host)
    assert not mine.same_totals(f.SettlementTotals(100, 1, 1, 1))


@pytest.mark.parametrize(
    "value",
    [
        "0" * 61,
        "0" * 63,
        "0" * 30 + "4" + "0" * 31,  # result 4 does not exist
        "0" * 61 + "9",
        "0" * 30 + "0" + "0" * 30 + "x",
    ],
)
def test_settlement_bad_values(value: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field48Settlement.parse(value)
    assert err.value.field == "48"


@pytest.mark.parametrize(
    "args",
    [
        (AMOUNT_MAX + 1, 0, 0, 0),
        (0, 1000, 0, 0),
        (0, 0, -1, 0),
        (0, 0, 0, True),
        (0, 0, 0, 0, "4"),
    ],
)
def test_settlement_totals_refuse_overflow(args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        f.SettlementTotals(*args)  # type: ignore[arg-type]


totals = st.builds(
    f.SettlementTotals,
    st.integers(0, AMOUNT_MAX),
    st.integers(0, 999),
    st.integers(0, AMOUNT_MAX),
    st.integers(0, 999),
    st.sampled_from("0123"),
)


@given(totals, totals)
def test_settlement_round_trip(domestic: f.SettlementTotals, foreign: f.SettlementTotals) -> None:
    value = f.Field48Settlement(domestic, foreign)
    assert f.Field48Settlement.parse(value.to_field()) == value


@given(n_digits(30), st.sampled_from("0123"), n_digits(30), st.sampled_from("0123"))
def test_settlement_parse_is_inverse(a: str, ra: str, b: str, rb: str) -> None:
    wire = a + ra + b + rb
    assert f.Field48Settlement.parse(wire).to_field() == wire


# ---------------------------------------------------------------- batch upload

PAN = "6212345678901234567"


def test_batch_upload_record_layout() -> None:
    # §3.8: 卡组织 n2 + 原流水号 n6 + 卡号 n20 right-aligned zero-padded + 金额 n12
    record = f.BatchUploadRecord("00", "000045", PAN, 12345)
    wire = "01" + "00" + "000045" + "0" + PAN + "000000012345"
    value = f.Field48BatchUpload((record,))
    assert value.to_field() == wire
    assert len(wire) == 2 + 40
    assert f.Field48BatchUpload.parse(wire) == value
    short = f.BatchUploadRecord("01", "000046", "4111111111111111", 1)
    both = f.Field48BatchUpload((record, short)).to_field()
    assert both[:2] == "02"
    assert both[42:] == "01" + "000046" + "0000" + "4111111111111111" + "000000000001"


def test_batch_upload_record_never_shows_the_pan() -> None:
    record = f.BatchUploadRecord("00", "000045", PAN, 100)
    assert PAN not in repr(record)
    assert PAN not in repr(f.Field48BatchUpload((record,)))
    assert "4567" in repr(record)
    bad = "01" + "02" + "000045" + "0" + PAN + "000000000100"  # card org 02 is unknown
    with pytest.raises(DecodeError) as err:
        f.Field48BatchUpload.parse(bad)
    assert PAN not in str(err.value)
    assert PAN[:10] not in str(err.value.__cause__)


@pytest.mark.parametrize(
    "value",
    [
        "00",  # no records
        "01" + "0" * 39,  # record too short
        "02" + "00000045" + "0" + PAN + "000000000100",  # says 2, holds 1
        "09" + ("00000045" + "0" + PAN + "000000000100") * 9,  # more than 8
        "01" + "00000045" + "0" * 20 + "000000000100",  # no PAN
        "01" + "00000045" + "0" * 14 + "123456" + "000000000100",  # 6 digits is no PAN
    ],
)
def test_batch_upload_bad_values(value: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field48BatchUpload.parse(value)
    assert err.value.field == "48"


def test_batch_upload_construction_limits() -> None:
    record = f.BatchUploadRecord("00", "000001", PAN, 1)
    with pytest.raises(ValueError, match="1 to 8"):
        f.Field48BatchUpload((record,) * 9)
    with pytest.raises(ValueError, match="1 to 8"):
        f.Field48BatchUpload(())
    with pytest.raises(ValueError, match="PAN"):
        f.BatchUploadRecord("00", "000001", "0" + PAN, 1)
    with pytest.raises(ValueError, match="PAN"):
        f.BatchUploadRecord("00", "000001", "1" * 21, 1)
    with pytest.raises(ValueError):
        f.BatchUploadRecord("00", "000001", PAN, AMOUNT_MAX + 1)


records = st.builds(
    f.BatchUploadRecord,
    st.sampled_from(["00", "01"]),
    n_digits(6),
    st.from_regex(r"[1-9][0-9]{7,19}", fullmatch=True),
    st.integers(0, AMOUNT_MAX),
)


@given(st.lists(records, min_size=1, max_size=8))
def test_batch_upload_round_trip(items: list[f.BatchUploadRecord]) -> None:
    value = f.Field48BatchUpload(tuple(items))
    wire = value.to_field()
    assert len(wire) == 2 + 40 * len(items)
    assert f.Field48BatchUpload.parse(wire) == value


# ---------------------------------------------------------------- batch end


def test_batch_end() -> None:
    assert f.Field48BatchEnd(37).to_field() == "0037"
    assert f.Field48BatchEnd.parse("0000").count == 0
    for bad in ("123", "12345", "12a4"):
        with pytest.raises(DecodeError):
            f.Field48BatchEnd.parse(bad)
    with pytest.raises(ValueError):
        f.Field48BatchEnd(10_000)


@given(st.integers(0, 9999))
def test_batch_end_round_trip(count: int) -> None:
    assert f.Field48BatchEnd.parse(f.Field48BatchEnd(count).to_field()).count == count
