"""`kassa explain`: through the real `kassa` Typer app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kassa.cli import app
from kassa.errors import InputError

runner = CliRunner()


def _flat(output: str) -> str:
    # Rich wraps long cells across lines; join them so phrases can be found whole.
    return "".join(output.split())


def test_explain_shows_every_part_in_both_languages() -> None:
    result = runner.invoke(app, ["explain", "51"])
    assert result.exit_code == 0, result.output
    flat = _flat(result.stdout)
    for phrase in (
        "可用余额不足",
        "资金不足",
        "Insufficientfunds",
        "卡内余额不足",
        "不要重复刷同一张卡",
    ):
        assert phrase in flat, phrase
    for heading in ("含义", "Meaning", "告诉顾客", "Tellthecustomer", "下一步", "Nextstep"):
        assert heading in flat, heading


def test_explain_is_case_insensitive_and_shows_the_sign_on_flag() -> None:
    result = runner.invoke(app, ["explain", "a0", "--lang", "en"])
    assert result.exit_code == 0, result.output
    flat = _flat(result.stdout)
    assert "A0" in flat and "MACverificationfailed" in flat
    assert "Signonagain" in flat and "yes" in flat
    assert "含义" not in flat  # English only


def test_explain_chinese_only() -> None:
    result = runner.invoke(app, ["explain", "host_unreachable", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    flat = _flat(result.stdout)
    assert "连接主机失败" in flat
    assert "Cannotconnect" not in flat


def test_explain_json_is_one_object_with_the_whole_entry() -> None:
    result = runner.invoke(app, ["explain", "04", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["code"] == "04"
    assert payload["retain_card"] is True
    assert payload["screen_zh"] == "此卡被没收"
    assert payload["known"] is True
    assert {"meaning_en", "cashier_zh", "action_en", "cause", "outcome"} <= payload.keys()


def test_explain_unknown_code_prints_the_generic_entry_a_note_and_exits_1() -> None:
    result = runner.invoke(app, ["explain", "B9"])
    assert result.exit_code == 1
    flat = _flat(result.stdout)
    assert "交易失败" in flat and "Transactionfailed" in flat
    assert "不在指南中" in flat and "notintheguide" in flat


def test_explain_unknown_code_in_json_keeps_stdout_parseable() -> None:
    result = runner.invoke(app, ["explain", "B9", "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["known"] is False and payload["code"] == "B9"
    assert "not in the guide" in result.stderr


def test_explain_bad_lang_is_an_input_error() -> None:
    result = runner.invoke(app, ["explain", "51", "--lang", "fr"])
    assert isinstance(result.exception, InputError)
    assert "zh, en, both" in str(result.exception)
    assert "\n" not in str(result.exception)
