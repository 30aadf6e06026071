"""The sales and settlement slips: content, masking, layout in 32 and 48 columns."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.card.pan import luhn_digit
from kassa.errors import CardError, InputError
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.terminal.receipt import (
    Copy,
    EntryMode,
    Lang,
    MaskedPan,
    Reconciliation,
    SaleSlip,
    SettlementSlip,
    Tally,
    display_width,
    render_lines,
    render_text,
    wrap,
)

PAN = "6212264000000189946"  # Luhn-valid test PAN
BEIJING = timezone(timedelta(hours=8))
WHEN = datetime(2024, 5, 1, 14, 23, 5, tzinfo=BEIJING)
LANGS: tuple[Lang, ...] = ("zh", "en", "both")
WIDTHS = (32, 48)
NEGATIVE = {TxnType.VOID, TxnType.REFUND, TxnType.PREAUTH_VOID, TxnType.COMPLETION_VOID}


def sale(txn: TxnType = TxnType.SALE, **changes: Any) -> SaleSlip:
    fields: dict[str, Any] = {
        "merchant_name": "上海市徐汇区示例便利店有限公司",
        "mid": "898310048990001",
        "tid": "12345678",
        "operator": "01",
        "card": MaskedPan.of_pan(PAN),
        "entry": EntryMode.INSERT,
        "txn": txn,
        "amount": Amount(12800),
        "batch": "000001",
        "trace": "000124",
        "when": WHEN,
        "rrn": "140523123456",
        "auth_code": "A1B2C3",
        "card_org": "CUP",
        "issuer": "中国工商银行",
        "acquirer": "中国银联",
        "original_trace": "000123",
        "original_rrn": "140523000001",
        "original_auth_code": "654321",
    }
    fields.update(changes)
    return SaleSlip(**fields)


def settlement(**changes: Any) -> SettlementSlip:
    fields: dict[str, Any] = {
        "merchant_name": "上海市徐汇区示例便利店有限公司",
        "mid": "898310048990001",
        "tid": "12345678",
        "operator": "01",
        "batch": "000001",
        "when": WHEN,
        "sales": Tally(12, Amount(123400)),
        "voids": Tally(1, Amount(1200)),
        "refunds": Tally(1, Amount(500)),
        "completions": Tally(2, Amount(30000)),
        "domestic": Reconciliation.BALANCED,
    }
    fields.update(changes)
    return SettlementSlip(**fields)


def gbk_columns(line: str) -> int:
    """Columns a GBK printer in Chinese mode uses: one per byte (double-byte chars are wide).
    An oracle independent of display_width."""
    return len(line.encode("gbk"))


ALL_SLIPS = [
    (txn, copy, width, lang)
    for txn in TxnType
    for copy in Copy
    for width in WIDTHS
    for lang in LANGS
]


@pytest.mark.parametrize(("txn", "copy", "width", "lang"), ALL_SLIPS)
def test_every_slip_fits_its_paper(txn: TxnType, copy: Copy, width: int, lang: Lang) -> None:
    slip = sale(txn, copy=copy, reprint=True, host_declined=True, note="订单号 20240501-0001")
    text = render_text(slip, width, lang)
    lines = text.split("\n")
    assert lines[-1] == ""  # every line ends in a newline
    for line in lines[:-1]:
        assert display_width(line) <= width, line
        assert gbk_columns(line) <= width, line
        assert line == line.rstrip()
    assert PAN not in text.replace(" ", "")
    assert "621226" in text and "9946" in text
    assert "**/**" in text  # expiry hidden


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("width", WIDTHS)
def test_settlement_fits_its_paper(width: int, lang: Lang) -> None:
    slip = settlement(foreign=Reconciliation.UNBALANCED, batch_uploaded=True, reprint=True)
    for line in render_text(slip, width, lang).splitlines():
        assert gbk_columns(line) <= width, line


def value_line(text: str, label: str) -> str:
    """The one line that starts with `label` and holds its value too."""
    found = [line for line in text.splitlines() if line.startswith(label)]
    assert len(found) == 1, (label, found)
    return found[0]


@pytest.mark.parametrize("width", WIDTHS)
def test_values_are_right_aligned_to_the_edge(width: int) -> None:
    text = render_text(sale(), width, "zh")
    for label, value in (("凭证号", "000124"), ("批次号", "000001"), ("授权码", "A1B2C3")):
        line = value_line(text, label)
        assert line.endswith(value)
        assert gbk_columns(line) == width
    assert value_line(text, "金额").endswith("RMB 128.00")


def test_chinese_labels_by_default_and_english_on_request() -> None:
    zh, en, both = (render_text(sale(), 32, lang) for lang in LANGS)
    assert render_text(sale()) == zh
    assert "凭证号" in zh and "VOUCHER" not in zh
    assert "VOUCHER NO." in en and "凭证号" not in en
    assert "凭证号 VOUCHER NO." in both
    assert "插卡" in zh and "INSERT" in en


@pytest.mark.parametrize("txn", sorted(TxnType))
def test_money_back_to_the_card_prints_negative(txn: TxnType) -> None:
    text = render_text(sale(txn), 48, "en")
    if txn in NEGATIVE:
        assert "RMB -128.00" in text
    else:
        assert "RMB 128.00" in text and "-128.00" not in text


@pytest.mark.parametrize(
    ("txn", "zh", "en"),
    [
        (TxnType.SALE, "消费", "SALE"),
        (TxnType.VOID, "消费撤销", "VOID"),
        (TxnType.REFUND, "退货", "REFUND"),
        (TxnType.PREAUTH, "预授权", "PRE-AUTH"),
        (TxnType.COMPLETION, "预授权完成", "COMPLETION"),
        (TxnType.BALANCE, "余额查询", "BALANCE"),
    ],
)
def test_transaction_type_is_named(txn: TxnType, zh: str, en: str) -> None:
    assert value_line(render_text(sale(txn), 48, "zh"), "交易类型").endswith(zh)
    assert f"{zh} {en}" in render_text(sale(txn), 48, "both")


def test_merchant_copy_carries_signature_and_acknowledgement() -> None:
    merchant = render_text(sale(), 48, "both")
    cardholder = render_text(sale(copy=Copy.CARDHOLDER), 48, "both")
    assert "商户存根 MERCHANT COPY" in merchant and "持卡人存根" not in merchant
    assert "持卡人存根 CARDHOLDER COPY" in cardholder
    assert "持卡人签名 CARDHOLDER SIGNATURE" in merchant
    assert "CARDHOLDER SIGNATURE" not in cardholder
    flat = merchant.replace("\n", " ")
    assert "本人确认以上交易，同意将其记入本卡账户" in flat
    assert "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES" in flat
    no_sign = render_text(sale(signature_required=False), 48, "zh")
    assert "免签" in no_sign and "持卡人签名" not in no_sign


def test_balance_inquiry_shows_a_balance_and_asks_no_signature() -> None:
    text = render_text(sale(TxnType.BALANCE), 48, "zh")
    assert value_line(text, "余额").endswith("RMB 128.00")
    assert "持卡人签名" not in text and "金额" not in text


def test_markers_for_reprint_offline_and_follow_up() -> None:
    plain = render_text(sale(), 48, "both")
    assert "REPRINT" not in plain and "OFFLINE" not in plain and "FOLLOW UP" not in plain
    text = render_text(sale(reprint=True, offline=True, host_declined=True), 48, "both")
    assert "重打印 REPRINT" in text
    assert "离线 OFFLINE" in text
    assert "后台拒绝，请联系持卡人 DECLINED BY HOST — FOLLOW UP" in text.replace("\n", " ")
    assert "离线 OFFLINE" in render_text(sale(TxnType.OFFLINE_SALE), 48, "both")


def test_originals_and_time_with_its_zone() -> None:
    text = render_text(sale(TxnType.VOID), 48, "en")
    assert value_line(text, "ORIG VOUCHER NO.").endswith("000123")
    assert "2024/05/01 14:23:05 +08:00" in text
    assert "ORIG" not in render_text(sale(original_trace=None, original_rrn=None,
                                          original_auth_code=None), 48, "en")  # fmt: skip


def test_title_and_amount_are_large_and_card_bold() -> None:
    lines = render_lines(sale(), 32, "zh")
    assert lines[0].style == "large" and "签购单" in lines[0].text
    assert [line.style for line in lines if line.text.startswith("金额")] == ["large"]
    assert [line.style for line in lines if line.text.startswith("卡号")] == ["bold"]


@pytest.mark.parametrize(
    "changes",
    [
        {"txn": TxnType.VOID, "original_trace": None},
        {"txn": TxnType.REFUND, "original_rrn": None},
        {"txn": TxnType.COMPLETION, "original_auth_code": None},
        {"when": datetime(2024, 5, 1, 14, 23, 5)},  # no timezone
        {"trace": "124"},
        {"mid": "12345"},
        {"amount": Amount(-1)},
        {"merchant_name": "SHOP\x1b@"},  # would be a printer command
        {"note": "line\nbreak"},
    ],
)
def test_malformed_slips_are_refused(changes: dict[str, Any]) -> None:
    txn = changes.pop("txn", TxnType.SALE)
    with pytest.raises(InputError):
        sale(txn, **changes)


@pytest.mark.parametrize(("width", "lang"), [(31, "zh"), (65, "zh"), (32, "fr")])
def test_bad_width_or_language(width: int, lang: Any) -> None:
    with pytest.raises(InputError):
        render_text(sale(), width, lang)


# The masked-PAN guard -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        PAN,  # clear
        "6212264000000189",  # clear 16 digits
        "62122640000*9946",  # one digit hidden
        "6212264000****9946",  # 14 visible... hides only 4 of 18
        "621226***00000009946",  # 20 characters
        "6212 26** **** 9946",  # spaces smuggle digit groups past the shape check
        "62122600000",  # 11 visible digits
        "",
    ],
)
def test_masked_pan_refuses_anything_readable(bad: str) -> None:
    with pytest.raises(CardError):
        MaskedPan(bad)


def test_slip_takes_only_a_masked_pan() -> None:
    with pytest.raises(CardError):
        sale(card=PAN)
    with pytest.raises(CardError):
        sale(card="621226******9946")  # right shape, but not through the guard


@pytest.mark.parametrize("good", ["621226******9946", "************9946", "9946", "62****6"])
def test_masked_pan_accepts_masked_forms(good: str) -> None:
    assert MaskedPan(good) == good


@given(st.integers(min_value=12, max_value=18), st.data())
def test_any_card_number_masks_and_never_passes_clear(length: int, data: st.DataObject) -> None:
    body = data.draw(st.text("0123456789", min_size=length, max_size=length))
    pan = body + luhn_digit(body)
    with pytest.raises(CardError):
        MaskedPan(pan)
    masked = MaskedPan.of_pan(pan)
    assert len(masked) == len(pan)
    assert sum(char.isdigit() for char in masked) <= 10
    assert masked[-4:] == pan[-4:]


# Settlement ---------------------------------------------------------------------------


def test_settlement_totals_and_reconciliation() -> None:
    slip = settlement(foreign=Reconciliation.UNBALANCED, batch_uploaded=True)
    # 1234.00 sales + 300.00 completions - 5.00 refunds; the voided 12.00 is not in sales.
    assert slip.net == Amount(152900)
    text = render_text(slip, 48, "zh")
    assert value_line(text, "净额").endswith("RMB 1529.00")
    assert value_line(text, "内卡对账").endswith("对账平")
    assert value_line(text, "外卡对账").endswith("对账不平")
    assert value_line(text, "批上送").endswith("已完成")
    sales_row = value_line(text, "消费")
    assert sales_row.split()[-3:] == ["12", "RMB", "1234.00"]
    assert value_line(text, "退货").endswith("RMB -5.00")
    en = render_text(settlement(batch_uploaded=False), 32, "en")
    assert "SETTLEMENT" in en and "BALANCED" in en and "NOT DONE" in en


def test_settlement_columns_line_up() -> None:
    text = render_text(settlement(), 48, "zh")
    rows = [value_line(text, name) for name in ("消费", "撤销", "退货", "预授权完成")]
    assert {gbk_columns(row) for row in rows} == {48}
    # the counts end in the same column
    ends = {gbk_columns(row[: row.index("RMB")].rstrip()) for row in rows}
    assert len(ends) == 1


def test_tally_refuses_nonsense() -> None:
    with pytest.raises(InputError):
        Tally(-1, Amount(0))
    with pytest.raises(InputError):
        Tally(0, Amount(100))


def test_entry_mode_from_f22() -> None:
    assert EntryMode.from_f22("051") is EntryMode.INSERT
    assert EntryMode.from_f22("071") is EntryMode.WAVE
    assert EntryMode.from_f22("021") is EntryMode.SWIPE
    assert EntryMode.from_f22("012") is EntryMode.MANUAL
    with pytest.raises(InputError):
        EntryMode.from_f22("991")


def test_slips_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        sale().trace = "000999"  # type: ignore[misc]
    assert sale().as_copy(Copy.CARDHOLDER).copy is Copy.CARDHOLDER


# Wrapping -----------------------------------------------------------------------------

_TEXT = st.text(st.sampled_from(list("ab xyz，。银联签购单—0123")), max_size=80)


@given(_TEXT, st.integers(min_value=2, max_value=48))
def test_wrap_keeps_every_character_within_the_width(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert all(display_width(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_wrap_breaks_english_at_spaces() -> None:
    assert wrap("I ACKNOWLEDGE SATISFACTORY RECEIPT", 16) == [
        "I ACKNOWLEDGE",
        "SATISFACTORY",
        "RECEIPT",
    ]
    assert wrap("银联签购单", 4) == ["银联", "签购", "单"]
    assert wrap("", 10) == [""]
