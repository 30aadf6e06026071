"""Finding entries: lookup, search, helpers, text rendering."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import InputError
from kassa.guide import (
    GuideEntry,
    Outcome,
    as_dict,
    entries,
    find,
    forces_sign_on,
    generic,
    is_approved,
    is_known,
    lookup,
    screen_text,
    search,
    text,
)


@pytest.mark.parametrize(
    ("given_code", "expected"),
    [
        ("a0", "A0"),
        (" A0 ", "A0"),
        ("\t51\n", "51"),
        ("c1", "C1"),
        ("Host_Unreachable", "host_unreachable"),
        ("host-unreachable", "host_unreachable"),
        ("host unreachable", "host_unreachable"),
        (" printer_no_paper ", "printer_no_paper"),
    ],
)
def test_lookup_ignores_case_and_spaces(given_code: str, expected: str) -> None:
    assert lookup(given_code).code == expected
    assert is_known(given_code)


def test_unknown_code_gets_the_generic_entry_with_the_code_filled_in() -> None:
    entry = lookup(" b0 ")
    assert find("B0") is None
    assert not is_known("B0")
    assert entry.code == "B0"
    assert entry.kind == "response"
    assert entry.screen_zh == "交易失败"
    assert entry.screen_en == "Transaction failed"
    assert entry.outcome is Outcome.DO_NOT_RETRY
    assert "B0" in entry.meaning_zh and "B0" in entry.action_en
    assert not (entry.approved or entry.resign_on or entry.reverse or entry.retain_card)


def test_unknown_fault_name_gets_a_generic_fault_entry() -> None:
    entry = lookup("Flux Capacitor")
    assert entry.kind == "fault"
    assert entry.code == "flux_capacitor"
    assert entry.screen_zh == "交易失败"


@given(st.text(max_size=40))
def test_lookup_and_search_never_raise(anything: str) -> None:
    entry = lookup(anything)
    assert isinstance(entry, GuideEntry)
    assert (find(anything) is not None) == is_known(anything)
    assert all(isinstance(found, GuideEntry) for found in search(anything))


def test_is_approved_and_forces_sign_on() -> None:
    assert is_approved("00") and is_approved("a2")
    assert not is_approved("51") and not is_approved("no_such_thing")
    assert forces_sign_on("a0") and forces_sign_on("77") and forces_sign_on("keys_stale")
    assert not forces_sign_on("51") and not forces_sign_on("XX")


def test_search_finds_by_chinese_words() -> None:
    assert search("余额不足")[0].code == "51"
    assert search("吞卡")[0].code == "34"


def test_search_finds_by_english_words() -> None:
    assert search("insufficient")[0].code == "51"
    assert search("INSUFFICIENT funds")[0].code == "51"


def test_search_ranks_the_exact_code_first() -> None:
    assert search("51")[0].code == "51"
    assert search("a0")[0].code == "A0"
    assert search("host_unreachable")[0].code == "host_unreachable"
    # "98" also occurs in texts (reversal reason 98); the code itself still comes first.
    found = [entry.code for entry in search("98")]
    assert found[0] == "98" and "response_timeout" in found


def test_search_matches_every_word_and_names_with_spaces() -> None:
    printers = {entry.code for entry in search("printer")}
    assert {"printer_no_paper", "printer_not_connected", "printer_wrong_model"} <= printers
    assert search("printer paper")[0].code == "printer_no_paper"
    assert search("host unreachable")[0].code == "host_unreachable"
    assert search("") == [] and search("   ") == []
    assert search("zzqqxx no such words") == []


def test_search_finds_by_cause() -> None:
    hardware = search("hardware")
    assert lookup("printer_no_paper") in hardware
    assert lookup("51") not in hardware
    assert lookup("host_unreachable") in search("网络")


def test_screen_text() -> None:
    assert screen_text("51") == "可用余额不足"
    assert screen_text("51", "en") == "Insufficient balance"
    assert screen_text("nope") == "交易失败"
    with pytest.raises(InputError):
        screen_text("51", "fr")  # type: ignore[arg-type]


@pytest.mark.parametrize("entry", entries(), ids=lambda entry: entry.code)
def test_text_holds_every_part_in_one_language(entry: GuideEntry) -> None:
    zh, en = text(entry, "zh"), text(entry, "en")
    for slot in ("meaning", "screen", "cashier", "action"):
        assert getattr(entry, f"{slot}_zh") in zh
        assert getattr(entry, f"{slot}_en") in en
        assert getattr(entry, f"{slot}_en") not in zh
    # The flag lines name what the terminal must do; only flagged entries carry them.
    assert ("需要重新签到" in zh) == entry.resign_on
    assert ("The terminal must reverse" in en) == entry.reverse
    assert ("没收卡片" in zh) == entry.retain_card


def test_text_rejects_an_unknown_language() -> None:
    with pytest.raises(InputError, match="zh or en"):
        text(lookup("00"), "de")  # type: ignore[arg-type]


def test_as_dict_is_json_and_complete() -> None:
    payload = json.loads(json.dumps(as_dict(lookup("A0")), ensure_ascii=False))
    assert payload["code"] == "A0"
    assert payload["known"] is True
    assert payload["resign_on"] is True
    assert payload["outcome"] == "retry" and payload["outcome_class"] == "B"
    assert payload["screen_zh"] == "MAC校验错，请重新签到"
    assert as_dict(generic("QQ"))["known"] is False
