"""Field 44 (issuer / acquirer IDs) and field 63 (operator; card org and slip text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import DecodeError
from kassa.iso8583 import fields as f

ids = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=11
)  # printable ASCII, no space


# ---------------------------------------------------------------- field 44


def test_f44_reference_example() -> None:
    wire = "03080000   48520000   "  # §2, row 44
    parsed = f.Field44.parse(wire)
    assert parsed == f.Field44("03080000", "48520000")
    assert parsed.to_field() == wire


@pytest.mark.parametrize(
    "wire", ["03080000   48520000", "03080000   48520000      ", "03080000   48520000 "]
)
def test_f44_tolerates_missing_or_extra_trailing_spaces(wire: str) -> None:
    assert f.Field44.parse(wire) == f.Field44("03080000", "48520000")


def test_f44_short_and_blank() -> None:
    assert f.Field44.parse("03080000") == f.Field44("03080000", "")
    assert f.Field44.parse("") == f.Field44("", "")
    assert f.Field44.parse(" " * 11 + "48520000") == f.Field44("", "48520000")


@pytest.mark.parametrize(
    "wire",
    [
        "03080000   48520000   x",  # something after the two IDs
        "03080000   48520000   " + " " * 4,  # 26 > 25
        "0308 000   48520000   ",  # space inside an ID
        "03080000\t  48520000   ",
        "银联0000   48520000   ",
    ],
)
def test_f44_bad_values(wire: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field44.parse(wire)
    assert err.value.field == "44"


def test_f44_construction() -> None:
    with pytest.raises(ValueError):
        f.Field44("123456789012", "")
    assert f.Field44("0308  ", "4852").issuer_id == "0308"


@given(ids, ids)
def test_f44_round_trip(issuer: str, acquirer: str) -> None:
    value = f.Field44(issuer, acquirer)
    wire = value.to_field()
    assert len(wire) == 22
    assert f.Field44.parse(wire) == value
    assert f.Field44.parse(wire.rstrip(" ")) == value


# ---------------------------------------------------------------- field 63, request


@pytest.mark.parametrize(("wire", "operator"), [("01 ", "01"), ("001", "001"), ("1  ", "1")])
def test_f63_request_examples(wire: str, operator: str) -> None:
    parsed = f.Field63Request.parse(wire)
    assert parsed.operator == operator
    assert parsed.to_field() == wire
    assert f.Field63Request(operator).to_field() == wire


@pytest.mark.parametrize("wire", ["", "   ", "0001", " 01", "0 1"])
def test_f63_request_bad_values(wire: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field63Request.parse(wire)
    assert err.value.field == "63"


# ---------------------------------------------------------------- field 63, response

SLIP = "欢迎使用银联卡 客服95516"


def test_f63_response_card_org_only() -> None:
    parsed = f.Field63Response.parse("CUP")  # §3.9 offline upload: F63 = `CUP`
    assert parsed == f.Field63Response(f.CardOrg.CUP)
    assert parsed.terminal_text == ""
    assert parsed.to_field() == "CUP"


def test_f63_response_with_gbk_slip_text() -> None:
    value = f.Field63Response("VIS", "ISSUER", "", "ACQ 01", SLIP)
    wire = value.to_field()
    assert wire == "VIS" + "ISSUER".ljust(20) + " " * 20 + "ACQ 01".ljust(20) + SLIP
    assert f.Field63Response.parse(wire) == value


def test_f63_response_reserved_parts_are_cut_at_gbk_byte_offsets() -> None:
    # 发卡方保留 holds 4 Chinese characters = 8 GBK bytes, so it pads with 12 spaces, not 16
    wire = "CUP" + "工商银行" + " " * 12 + " " * 40 + "谢谢"
    parsed = f.Field63Response.parse(wire)
    assert parsed.issuer_reserved == "工商银行"
    assert parsed.cup_reserved == ""
    assert parsed.terminal_text == "谢谢"
    assert parsed.to_field() == wire


def test_f63_response_lenient_short_parts() -> None:
    assert f.Field63Response.parse("CUP" + "ISSUER").issuer_reserved == "ISSUER"
    assert f.Field63Response.parse("CUP" + " " * 20).to_field() == "CUP"
    assert f.Field63Response.parse("MC").card_org == "MC"


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "CUP" + "x" * 19 + "银",  # a GBK character split across the 20-byte boundary
        "CUP" + " " * 60 + "x" * 61,  # slip text over 60 characters
        "CUP" + " " * 60 + "\x1b@",  # ESC @ is a printer command
        "CUP" + " " * 60 + "€",  # not GBK
        "C P" + " " * 60 + "x",
    ],
)
def test_f63_response_bad_values(wire: str) -> None:
    with pytest.raises(DecodeError) as err:
        f.Field63Response.parse(wire)
    assert err.value.field == "63"


def test_f63_response_163_byte_limit_counts_gbk_bytes() -> None:
    # the three reserved parts are written (60 bytes) whenever slip text follows them
    fits = f.Field63Response("CUP", terminal_text="银" * 50)  # 3 + 60 + 100 = 163 bytes
    assert len(fits.to_field().encode("gbk")) == 163
    assert f.Field63Response.parse(fits.to_field()) == fits
    # 51 characters is under the 60-character limit, but 102 GBK bytes overflow the field
    with pytest.raises(ValueError, match="163 GBK bytes"):
        f.Field63Response("CUP", terminal_text="银" * 51)
    with pytest.raises(ValueError, match="60 characters"):
        f.Field63Response("CUP", terminal_text="x" * 61)


gbk_chars = st.characters(codec="gbk", exclude_categories=["Cc"])
reserved = st.text(gbk_chars, max_size=10).filter(lambda s: len(s.encode("gbk")) <= 20)
slip = st.text(gbk_chars, max_size=50).filter(lambda s: len(s.encode("gbk")) <= 100)


@given(
    st.sampled_from(["CUP", "VIS", "MCC", "JCB", "AMX", "DCC", ""]),
    reserved,
    reserved,
    reserved,
    slip,
)
def test_f63_response_round_trip(org: str, a: str, b: str, c: str, text: str) -> None:
    value = f.Field63Response(org, a, b, c, text)
    wire = value.to_field()
    assert len(wire.encode("gbk")) <= 163
    assert f.Field63Response.parse(wire) == value
    assert f.Field63Response.parse(wire).to_field() == wire
