"""Hypothesis strategies for messages of the UnionPay dialect (shared by the codec tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from kassa.iso8583.dialect import FIELDS, MTI_NAMES, FieldDef, Kind, Length
from kassa.iso8583.message import Message

_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
_GBK_CHARS = st.sampled_from(list("测试商户收单银联消费撤销退货余额签到结算交易成功"))


def _size(d: FieldDef, unit_max: int) -> st.SearchStrategy[int]:
    if d.length is Length.FIXED:
        return st.just(d.size)
    return st.integers(0, min(d.size, unit_max))


def _ans(d: FieldDef) -> st.SearchStrategy[str]:
    # GBK text: Chinese characters take 2 bytes, so build by byte budget.
    def fit(parts: list[str]) -> str:
        out, used = [], 0
        for ch in parts:
            size = len(ch.encode("gbk"))
            if used + size > d.size:
                break
            out.append(ch)
            used += size
        text = "".join(out)
        if d.length is Length.FIXED:
            text += " " * (d.size - used)
        return text

    return st.lists(st.one_of(_ASCII, _GBK_CHARS), max_size=min(d.size, 60)).map(fit)


def field_value(d: FieldDef) -> st.SearchStrategy[str]:
    """A valid canonical value for field `d`."""
    if d.kind is Kind.N:
        return _size(d, 40).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
    if d.kind is Kind.Z:
        return _size(d, 40).flatmap(lambda n: st.text("0123456789ABCDEF", min_size=n, max_size=n))
    if d.kind is Kind.B:
        return (
            _size(d, 64)
            .flatmap(lambda n: st.binary(min_size=n, max_size=n))
            .map(lambda b: b.hex().upper())
        )
    if d.kind is Kind.AN:
        return _size(d, 40).flatmap(lambda n: st.text(_ASCII, min_size=n, max_size=n))
    return _ans(d)


@st.composite
def messages(draw: st.DrawFn, max_fields: int = 24) -> Message:
    """A valid message: any dialect MTI with any subset of fields 2-64."""
    mti = draw(st.sampled_from(sorted(MTI_NAMES)))
    numbers = draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=max_fields))
    return Message(mti, {n: draw(field_value(FIELDS[n])) for n in sorted(numbers)})
