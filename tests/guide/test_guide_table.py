"""The guide table against the UnionPay reference (§5) and the mission's list of faults."""

from __future__ import annotations

import re

import pytest

from kassa.guide import Cause, GuideEntry, Outcome, entries, find, lookup

# Reference §5 (docs/UNIONPAY-8583.md), copied by hand: code -> (class letter, POS显示).
# The class is None where the table gives "–"; the screen text is None where the table
# gives an instruction rather than a text (10) and is checked separately.
SPEC_SECTION_5: dict[str, tuple[str | None, str | None]] = {
    "00": ("A", "交易成功"),
    "01": ("C", "请持卡人与发卡银行联系"),
    "03": ("C", "无效商户"),
    "04": ("D", "此卡被没收"),
    "05": ("C", "持卡人认证失败"),
    "10": ("A", None),
    "11": ("A", "成功，VIP客户"),
    "12": ("C", "无效交易"),
    "13": ("B", "无效金额"),
    "14": ("B", "无效卡号"),
    "15": ("C", "此卡无对应发卡方"),
    "21": ("C", "该卡未初始化或睡眠卡"),
    "22": ("C", "操作有误，或超出交易允许天数"),
    "25": ("C", "没有原始交易，请联系发卡方"),
    "30": ("C", "请重试"),
    "33": ("D", "过期的卡"),
    "34": ("D", "作弊卡，吞卡"),
    "38": ("D", "密码错误次数超限，请与发卡方联系"),
    "40": ("C", "发卡方不支持的交易类型"),
    "41": ("D", "挂失卡，请没收"),
    "43": ("D", "被窃卡，请没收"),
    "45": ("D", "请使用芯片"),
    "51": ("C", "可用余额不足"),
    "54": ("C", "该卡已过期"),
    "55": ("C", "密码错"),
    "57": ("C", "不允许此卡交易"),
    "58": ("C", "发卡方不允许该卡在本终端进行此交易"),
    "59": ("C", "卡片校验错"),
    "61": ("C", "交易金额超限"),
    "62": ("C", "受限制的卡"),
    "64": ("C", "交易金额与原交易不匹配"),
    "65": ("C", "超出消费次数限制"),
    "68": ("C", "交易超时，请重试"),
    "75": ("C", "密码错误次数超限"),
    "77": ("D", "请重新签到，再作交易"),
    "90": ("C", "系统日切，请稍后重试"),
    "91": ("C", "发卡方状态不正常，请稍后重试"),
    "92": ("C", "发卡方线路异常，请稍后重试"),
    "94": ("C", "拒绝，重复交易，请稍后重试"),
    "96": ("C", "拒绝，交换中心异常，请稍后重试"),
    "97": ("D", "终端未登记"),
    "98": ("E", "发卡方超时"),
    "99": ("B", "PIN格式错，请重新签到"),
    "A0": ("B", "MAC校验错，请重新签到"),
    "A1": ("C", "转账货币不一致"),
    "A2": ("A", "交易成功，请向发卡行(资金转入行)确认"),
    "A3": ("C", "账户不正确"),
    "A4": ("A", "交易成功，请向发卡行确认"),
    "A5": ("A", "交易成功，请向发卡行确认"),
    "A6": ("A", "交易成功，请向发卡行确认"),
    "A7": ("C", "拒绝，交换中心异常，请稍后重试"),
    "C1": (None, None),
}

# The brief's minimum list of local faults (MISSION §1-2 themes).
REQUIRED_FAULTS = [
    "host_unreachable",
    "connect_refused",
    "dns_failure",
    "tls_failure",
    "firewall_suspected",
    "response_timeout",
    "bad_response_mac",
    "malformed_response",
    "backup_host_in_use",
    "printer_no_paper",
    "printer_not_connected",
    "printer_wrong_model",
    "printer_cover_open",
    "disk_full",
    "storage_failure",
    "journal_corrupt",
    "keys_missing",
    "key_check_failed",
    "keys_stale",
    "clock_skew",
    "not_signed_on",
    "operator_locked",
    "password_expired",
    "wrong_password",
    "otp_invalid",
    "batch_full",
    "saf_full",
    "saf_cap_reached",
    "offline_declined_later",
    "reversal_pending",
    "reversal_failed",
    "power_loss_recovered",
    "settlement_unbalanced",
    "settlement_interrupted",
    "card_read_error",
    "card_expired_local",
    "pin_pad_error",
    "amount_invalid",
    "update_rejected",
    "update_rolled_back",
    "low_battery",
    "risk_held",
    "risk_declined",
]

CJK = re.compile(r"[\u4e00-\u9fff]")
TEXT_FIELDS = ("meaning", "screen", "cashier", "action")


@pytest.mark.parametrize("code", sorted(SPEC_SECTION_5))
def test_every_section_5_code_is_in_the_guide_with_its_screen_text_and_class(code: str) -> None:
    entry = find(code)
    assert entry is not None, code
    assert entry.kind == "response"
    letter, screen = SPEC_SECTION_5[code]
    if screen is not None:
        assert entry.screen_zh == screen
    if letter is not None:
        assert entry.outcome.letter == letter


def test_screen_texts_the_spec_describes_rather_than_quotes() -> None:
    assert "部分批准" in lookup("10").screen_zh  # "显示部分批准金额，提示操作员"
    assert "未签到" in lookup("C1").screen_zh  # "(未签到)"


def test_zz_and_chip_offline_codes_are_present() -> None:
    assert lookup("ZZ").meaning_zh == "收单方交易失败"
    assert lookup("Y1").approved and lookup("Y3").approved
    assert not lookup("Z1").approved and not lookup("Z3").approved


@pytest.mark.parametrize("name", REQUIRED_FAULTS)
def test_every_required_local_fault_is_in_the_guide(name: str) -> None:
    entry = find(name)
    assert entry is not None, name
    assert entry.kind == "fault"


@pytest.mark.parametrize("entry", entries(), ids=lambda entry: entry.code)
def test_every_text_slot_is_filled_in_both_languages(entry: GuideEntry) -> None:
    for slot in TEXT_FIELDS:
        zh, en = getattr(entry, f"{slot}_zh"), getattr(entry, f"{slot}_en")
        assert zh and zh == zh.strip(), (entry.code, slot)
        assert en and en == en.strip(), (entry.code, slot)
        assert CJK.search(zh), f"{entry.code} {slot}_zh has no Chinese: {zh!r}"
        assert not CJK.search(en), f"{entry.code} {slot}_en has Chinese: {en!r}"
        assert en.isascii(), (entry.code, slot)


@pytest.mark.parametrize("entry", entries(), ids=lambda entry: entry.code)
def test_screen_texts_fit_a_pos_screen(entry: GuideEntry) -> None:
    # Two lines of a 16-character POS display, with a little slack for spec texts.
    assert len(entry.screen_zh) <= 20, entry.code
    assert len(entry.screen_en) <= 48, entry.code


def test_codes_are_unique_and_well_formed() -> None:
    codes = [entry.code for entry in entries()]
    assert len(codes) == len(set(codes))
    for entry in entries():
        if entry.kind == "response":
            assert re.fullmatch(r"[0-9A-Z]{2}", entry.code), entry.code
        else:
            assert re.fullmatch(r"[a-z]+(_[a-z]+)*", entry.code), entry.code


def test_resign_on_set_is_exactly_the_forcing_codes_and_key_faults() -> None:
    forcing = {entry.code for entry in entries() if entry.resign_on}
    assert forcing == {"99", "A0", "77", "C1", "keys_stale", "key_check_failed", "not_signed_on"}


def test_retain_card_set_is_exactly_the_pick_up_codes() -> None:
    retained = {entry.code for entry in entries() if entry.retain_card}
    assert retained == {"04", "33", "34", "41", "43"}
    assert all(lookup(code).outcome is Outcome.OPERATOR_ACTION for code in retained)


def test_approved_set_is_exactly_the_class_a_codes() -> None:
    approved = {entry.code for entry in entries() if entry.approved}
    assert approved == {"00", "10", "11", "A2", "A4", "A5", "A6", "Y1", "Y3"}


def test_cause_none_is_used_exactly_for_approvals() -> None:
    for entry in entries():
        assert (entry.cause is Cause.NONE) == entry.approved, entry.code


def test_a_received_response_never_asks_the_terminal_to_reverse() -> None:
    # Reference §5: a received 68 or 98 means an answer arrived, so no reversal.
    assert not [entry.code for entry in entries() if entry.kind == "response" and entry.reverse]


def test_faults_that_leave_a_sent_transaction_in_doubt_reverse() -> None:
    for name in ("response_timeout", "bad_response_mac", "malformed_response"):
        assert lookup(name).reverse, name
    assert lookup("power_loss_recovered").reverse
    assert lookup("ic_declined_after_approval").reverse


def test_printer_faults_do_not_undo_the_sale() -> None:
    printer = [entry for entry in entries() if entry.code.startswith("printer_")]
    assert len(printer) == 4
    for entry in printer:
        assert not entry.reverse
        assert entry.cause is Cause.HARDWARE
        assert "成功" in entry.cashier_zh  # the customer is told the payment went through


def test_faults_before_anything_is_sent_do_not_reverse() -> None:
    for name in ("host_unreachable", "connect_refused", "dns_failure", "card_read_error"):
        assert not lookup(name).reverse, name


def test_every_cause_of_the_mission_is_used() -> None:
    assert {entry.cause for entry in entries()} == set(Cause)
