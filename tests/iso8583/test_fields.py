"""Fields 60 and 61, the 60.3 codes, and the junk contract shared by every composite type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import DecodeError
from kassa.iso8583 import fields as f

digits = st.text("0123456789", min_size=0, max_size=40)


def n_digits(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=size, max_size=size)


# ---------------------------------------------------------------- field 60


def test_f60_sale_example_from_reference() -> None:
    # §3.5: 消费 60 = `22` + batch + `000` + 60.4 + 60.5; §2: "F60 11/13 digits".
    parsed = f.Field60.parse("22000001000" + "50")
    assert parsed == f.Field60("22", "000001", "000", "5", "0")
    assert parsed == f.Field60.financial("22", "000001")
    assert parsed.to_field() == "2200000100050"
    assert not parsed.is_management


def test_f60_management_and_offline_upload_examples() -> None:
    sign_on = f.Field60.parse("00000001003")  # §3.3 sign-on, double-length keys
    assert sign_on == f.Field60.management("000001", f.NetMgmt.SIGN_ON_DOUBLE)
    assert sign_on.reader_capability is None
    assert sign_on.is_management
    assert f.Field60.management("000123", f.NetMgmt.SETTLE).to_field() == "00000123201"
    offline = f.Field60.parse("3600000300060")  # §3.9 IC offline upload, contactless
    assert (offline.txn_type, offline.batch, offline.net_mgmt) == ("36", "000003", "000")
    assert (offline.reader_capability, offline.ic_condition) == ("6", "0")


def test_f60_every_valid_length() -> None:
    full = f.Field60.parse("65000009000" + "5" + "0" + "1" + "065")  # 积分 with 60.6/60.7
    assert (full.partial_flag, full.account_type) == ("1", "065")
    assert f.Field60.parse("220000010005").ic_condition is None
    assert f.Field60.parse("22000001000501").account_type is None


@pytest.mark.parametrize("size", [0, 1, 8, 10, 15, 16, 18])
def test_f60_wrong_lengths(size: int) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field60.parse("2" * size)
    assert err.value.field == "60"


@pytest.mark.parametrize(
    "value",
    [
        "2200000100030",  # 60.4 = 3 is no reader capability
        "2200000100053",  # 60.5 = 3
        "22000001000502",  # 60.6 = 2
        "220000010005 ",  # not digits
        "22000001000５0",  # full-width digit: str.isdigit() says yes, the wire says no
    ],
)
def test_f60_bad_codes(value: str) -> None:
    with pytest.raises(DecodeError):
        f.Field60.parse(value)


def test_f60_construction_refuses_gaps_and_bad_parts() -> None:
    with pytest.raises(ValueError, match=r"60\.5 needs 60\.4"):
        f.Field60("22", "000001", "000", None, "0")
    with pytest.raises(ValueError, match="batch"):
        f.Field60.management("1", f.NetMgmt.ECHO)
    with pytest.raises(ValueError, match=r"60\.4"):
        f.Field60.financial("22", "000001", reader="9")


@st.composite
def field60s(draw: st.DrawFn) -> f.Field60:
    present = draw(st.sampled_from([0, 1, 2, 3, 4]))
    tail: list[str | None] = [
        draw(st.sampled_from(sorted({"0", "2", "5", "6"}))),
        draw(st.sampled_from(["0", "1", "2"])),
        draw(st.sampled_from(["0", "1"])),
        draw(n_digits(3)),
    ]
    tail = tail[:present] + [None] * (4 - present)
    return f.Field60(draw(n_digits(2)), draw(n_digits(6)), draw(n_digits(3)), *tail)


@given(field60s())
def test_f60_round_trip(value: f.Field60) -> None:
    wire = value.to_field()
    assert len(wire) in {11, 12, 13, 14, 17}
    assert f.Field60.parse(wire) == value


@given(
    head=n_digits(11),
    reader=st.sampled_from("0256"),
    ic=st.sampled_from("012"),
    partial=st.sampled_from("01"),
    account=n_digits(3),
    present=st.integers(0, 4),
)
def test_f60_parse_is_inverse_of_to_field(
    *, head: str, reader: str, ic: str, partial: str, account: str, present: int
) -> None:
    # built digit by digit, not through to_field, so both directions are exercised
    wire = head + "".join([reader, ic, partial, account][:present])
    assert f.Field60.parse(wire).to_field() == wire


# ---------------------------------------------------------------- field 61


def test_f61_examples_from_reference() -> None:
    void = f.Field61.parse("000001000123")  # §3.5 撤销: NEWPOS "%06d%06d"
    assert void == f.Field61("000001", "000123")
    refund = f.Field61.parse("0000000001230315")  # 退货: batch unknown, date MMDD
    assert (refund.orig_batch, refund.orig_stan, refund.orig_date) == ("000000", "000123", "0315")
    full = f.Field61("000002", "000007", "1231", "00", "48520000000")
    assert full.to_field() == "000002000007123100" + "48520000000"
    assert len(full.to_field()) == 29
    assert f.Field61.parse("000001000123022900").orig_auth_method == "00"


@pytest.mark.parametrize(
    "value",
    ["00000100012", "0000010001230000", "0000010001231301", "0000010001230230", "00000100012303"],
)
def test_f61_bad_values(value: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field61.parse(value)
    assert err.value.field == "61"


@st.composite
def field61s(draw: st.DrawFn) -> f.Field61:
    present = draw(st.integers(0, 3))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    tail: list[str | None] = [f"{month:02d}{day:02d}", draw(n_digits(2)), draw(n_digits(11))]
    tail = tail[:present] + [None] * (3 - present)
    return f.Field61(draw(n_digits(6)), draw(n_digits(6)), *tail)


@given(field61s())
def test_f61_round_trip(value: f.Field61) -> None:
    assert f.Field61.parse(value.to_field()) == value


# ---------------------------------------------------------------- 60.3 codes


def test_net_mgmt_codes_match_reference_table() -> None:
    # §3.2, spelled out here rather than read from the enum under test
    expected = {
        "SIGN_ON_SINGLE": "001", "SIGN_OFF": "002", "SIGN_ON_DOUBLE": "003", "SIGN_ON_TDK": "004",
        "SETTLE": "201", "BATCH_END_UNBALANCED": "202", "TC_UPLOAD_BALANCED": "203",
        "FAILED_IC_UPLOAD": "204", "TC_UPLOAD_UNBALANCED": "205", "BATCH_END_BALANCED": "207",
        "ECHO": "301", "STATUS_UPLOAD": "362", "SCRIPT_RESULT": "951",
    }  # fmt: skip
    for name, code in expected.items():
        assert f.NetMgmt[name] == code
    assert f.NetMgmt.batch_end(balanced=True) == "207"
    assert f.NetMgmt.batch_end(balanced=False) == "202"
    assert f.NetMgmt.tc_upload(balanced=False) == "205"
    assert len({m.value for m in f.NetMgmt}) == len(f.NetMgmt)


# ---------------------------------------------------------------- junk, every type


class Composite(Protocol):
    def to_field(self) -> str: ...


PARSERS: dict[int, list[Callable[[str], Composite]]] = {
    44: [f.Field44.parse],
    48: [f.Field48Settlement.parse, f.Field48BatchUpload.parse, f.Field48BatchEnd.parse],
    53: [f.Field53.parse],
    54: [f.Field54.parse],
    60: [f.Field60.parse],
    61: [f.Field61.parse],
    63: [f.Field63Request.parse, f.Field63Response.parse],
}
ALL = [(n, p) for n, ps in PARSERS.items() for p in ps]


@pytest.mark.parametrize(("number", "parse"), ALL)
@given(junk=st.one_of(st.text(max_size=200), digits, st.text("0123456789CD ", max_size=130)))
def test_junk_raises_only_decode_error(
    number: int, parse: Callable[[str], Composite], junk: str
) -> None:
    try:
        parsed = parse(junk)
    except DecodeError as exc:
        assert exc.field == str(number)
        assert "\n" not in str(exc)
        return
    # Accepted: it must then write itself back in canonical form that parses the same.
    assert parse(parsed.to_field()) == parsed
