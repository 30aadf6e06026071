"""What the POS screen says, without a screen: result views, slips, originals, status bar."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.card import mask_pan
from kassa.guide import lookup
from kassa.iso8583.fields import BalanceAmount, Field54
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal, TxnRecord
from kassa.terminal.outcome import Outcome
from kassa.terminal.settle import SettleOutcome
from kassa.terminal.signon import SignOnResult
from kassa.terminal.states import State
from kassa.tui import _originals as orig
from kassa.tui._screens import status_bar
from kassa.tui._text import MENU, say
from kassa.tui._views import (
    balance_fen,
    last_printed,
    outcome_view,
    settle_view,
    signon_view,
    slip_text,
)

PAN = "6212264000001899463"
CONFIG = TerminalConfig(tid="12345678", mid="123456789012345", merchant_name="测试商户")


def record(**values: Any) -> TxnRecord:
    base = TxnRecord(
        id=1, batch="000001", stan="000007", txn_type="sale", amount_fen=1_250,
        state=State.APPROVED, reversible=True, entry_mode="02", pan_masked=mask_pan(PAN),
        operator="01", reversal_reason=None, attempts=0, response_code="00",
        rrn="000000000004", auth_code="945231", host_date="1118", orig_id=None,
        orig_batch=None, orig_stan=None, orig_rrn=None, orig_auth=None, offline=False, note=None,
        created_ms=1_795_000_000_000, updated_ms=1_795_000_000_000, tz="UTC+08:00",
    )  # fmt: skip
    return replace(base, **values)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(str(tmp_path / "journal.db"), bytes(range(32)))
    try:
        yield j
    finally:
        j.close()


def add(journal: Journal, row: TxnRecord) -> int:
    doc = row.to_json()
    for name in ("id", "attempts"):
        doc.pop(name)
    with journal.db.transaction() as tx:
        return journal.insert_txn(tx, doc)


# -- result views ---------------------------------------------------------------------


@pytest.mark.parametrize(("note", "key"), [("reversed", "reversed"), ("reversal_pending", "reversal_pending")])  # fmt: skip
def test_in_doubt_says_never_charge_again_and_whether_reversed(note: str, key: str) -> None:
    view = outcome_view(Outcome(State.IN_DOUBT, "response_timeout", 1, 500, notes=(note,)), "zh")
    assert view.tone == "doubt"
    assert "请勿重复收款" in view.lines[0] and view.lines[1] == say(key, "zh")
    entry = lookup("response_timeout")
    assert view.headline == entry.screen_zh
    assert any(entry.cashier_zh in line for line in view.lines)
    assert any(entry.action_zh in line for line in view.lines)


def test_decline_takes_every_text_from_the_guide_in_english() -> None:
    view = outcome_view(Outcome(State.DECLINED, "51", 3, 900, stan="000009"), "en")
    entry = lookup("51")
    assert (view.tone, view.headline) == ("bad", entry.screen_en)
    text = "\n".join(view.lines)
    assert entry.cashier_en in text and entry.action_en in text and "000009" in text


def test_not_sent_says_not_charged() -> None:
    view = outcome_view(Outcome(State.NOT_SENT, "host_unreachable", 4, 100), "zh")
    assert say("not_charged", "zh") in view.lines and view.tone == "bad"


def test_balance_inquiry_shows_the_available_balance() -> None:
    f54 = Field54(
        (BalanceAmount("10", "01", "156", 5_000), BalanceAmount("10", "02", "156", 7_301))
    )
    outcome = Outcome(State.APPROVED, "00", 5, None, notes=(f"balance:{f54.to_field()}",))
    assert balance_fen(outcome) == 7_301
    assert outcome_view(outcome, "zh").amount == f"{say('balance_label', 'zh')}: RMB 73.01"
    assert balance_fen(Outcome(State.APPROVED, "00", notes=("balance:garbage",))) is None


def test_settle_and_sign_on_failures_say_what_to_do() -> None:
    view = settle_view(
        SettleOutcome(False, "host_unreachable", "000003", step="totals"), "000003", "en"
    )
    assert view.tone == "bad" and say("settle_resume", "en") in "\n".join(view.lines)
    assert lookup("host_unreachable").screen_en in view.headline
    fail = signon_view(SignOnResult(False, "A0"), "zh")
    assert fail.tone == "bad" and lookup("A0").screen_zh in fail.headline


# -- slips ------------------------------------------------------------------------------


def test_slip_prints_masked_card_and_reprint_mark() -> None:
    text = slip_text(record(), CONFIG, "zh", reprint=True)
    assert mask_pan(PAN) in text and PAN not in text
    assert "RMB 12.50" in text and "000007" in text and "重打印" in text


def test_completion_slip_needs_the_original_auth_code_else_a_journal_summary() -> None:
    row = record(txn_type="completion")
    assert "原授权码" in slip_text(row, CONFIG, "zh", orig_auth="123456")
    summary = slip_text(row, CONFIG, "zh")
    assert "completion" in summary and "000007" in summary and PAN not in summary


def test_last_printed_skips_balance_and_declines(journal: Journal) -> None:
    assert last_printed(journal) is None
    add(journal, record(stan="000001"))
    add(journal, record(stan="000002", state=State.DECLINED))
    add(journal, record(stan="000003", txn_type="balance"))
    found = last_printed(journal)
    assert found is not None and found.stan == "000001"


# -- originals --------------------------------------------------------------------------


def test_void_original_by_trace(journal: Journal) -> None:
    assert orig.void_original(journal, "12a", "000001") == "trace_bad"
    assert orig.void_original(journal, "7", "000001") == "trace_none"
    row_id = add(journal, record())
    found = orig.void_original(journal, "7", "000001")
    assert isinstance(found, orig.Found) and found.orig_id == row_id
    assert (found.original.stan, found.original.rrn, found.amount_fen) == (
        "000007",
        "000000000004",
        1_250,
    )
    assert orig.void_original(journal, "7", "000002") == "trace_none"  # another batch
    add(journal, record(stan="000008", state=State.VOIDED))
    assert orig.void_original(journal, "8", "000001") == "trace_state"
    assert orig.same_card(PAN, found.pan_masked) and not orig.same_card(
        "6225880000000000002", found.pan_masked
    )


def test_refund_and_completion_originals(journal: Journal) -> None:
    assert orig.refund_original(journal, "short", "") == "rrn_bad"
    assert orig.refund_original(journal, "000000000004", "1340") == "date_bad"
    sale_id = add(journal, record())
    found = orig.refund_original(journal, "000000000004", "1118")
    assert (
        isinstance(found, orig.Found) and found.orig_id == sale_id and found.original.date == "1118"
    )
    assert orig.completion_original(journal, "12345", "") == "auth_bad"
    hold_id = add(journal, record(txn_type="preauth", stan="000010", auth_code="A1B2C3"))
    hold = orig.completion_original(journal, "a1b2c3", "")
    assert isinstance(hold, orig.Found) and hold.orig_id == hold_id
    assert (hold.original.stan, hold.original.auth_code, hold.original.date) == (
        "000010",
        "A1B2C3",
        "1118",
    )


@given(st.integers(0, 13), st.integers(0, 32))
def test_mmdd_ok_matches_the_calendar_of_a_leap_year(month: int, day: int) -> None:
    real = 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2024, month)[1]
    assert orig.mmdd_ok(f"{month:02d}{day:02d}") is real


# -- home -------------------------------------------------------------------------------


def test_status_bar_and_menu_in_both_languages() -> None:
    status = {"tid": "12345678", "batch": "000004", "signed_on": False, "pending_reversals": 2,
              "saf_count": 3, "queued_receipts": 1, "clock_offset_ms": -1500}  # fmt: skip
    zh, en = status_bar(status, "zh"), status_bar(status, "en")
    assert "待冲正 2" in zh and "签到 否" in zh and "-1500 ms" in zh
    assert "Reversals 2" in en and "SAF 3" in en and "Print queue 1" in en
    actions = [item.action for item in MENU]
    assert len(actions) == len(set(actions)) == 10
    keys = [key for item in MENU for key in item.keys]
    assert len(keys) == len(set(keys))  # no key starts two things
