"""Rules from TOML: the shipped defaults load, and every mistake is one line naming the
rule and the key."""

from __future__ import annotations

import pytest

from kassa.errors import ConfigError
from kassa.risk import (
    Action,
    AmountOutlierRule,
    CardTestingRule,
    OffHoursRule,
    RefundWithoutSaleRule,
    TerminalSurgeRule,
    VelocityRule,
    WrongPinsRule,
    default_rules_text,
    load_default_rules,
    load_rules,
)

VELOCITY = (
    '[rules.v]\ntype = "velocity"\nkey = "card"\nwindow_s = 60\nmax_count = 3\naction = "alert"\n'
)


def test_default_rules_cover_every_type_with_comments_in_both_languages() -> None:
    rules = load_default_rules()
    kinds = {type(rule) for rule in rules.rules}
    assert kinds == {
        VelocityRule, AmountOutlierRule, WrongPinsRule, CardTestingRule, OffHoursRule,
        TerminalSurgeRule, RefundWithoutSaleRule,
    }  # fmt: skip
    text = default_rules_text()
    assert "测卡" in text and "Card testing" in text
    for rule in rules.rules:
        if rule.action is Action.DECLINE:
            assert rule.code in {"59", "34"}


def test_a_rule_reads_into_its_fields() -> None:
    rules = load_rules(
        "[state]\nkeys_max = 7\n"
        '[rules.card_day]\ntype = "velocity"\nkey = "card"\nwindow_s = 86400\nmax_count = 12\n'
        'max_amount = "50000.00"\ncount = "approved"\naction = "decline"\ncode = "34"\n'
        'txn_types = ["sale"]\nmin_amount = "0.01"\n'
        '[rules.off]\ntype = "off_hours"\nstart = "23:30"\nend = "06:15"\naction = "alert"\n'
        '[rules.gone]\ntype = "nonsense"\nenabled = false\n'
    )
    velocity, off = rules.rules
    assert velocity == VelocityRule(
        rule_id="card_day", action=Action.DECLINE, code="34", txn_types=frozenset({"sale"}),
        min_amount_fen=1, key="card", window_ms=86_400_000, max_count=12,
        max_amount_fen=5_000_000, count="approved", keys_max=7,
    )  # fmt: skip
    assert isinstance(off, OffHoursRule)
    assert (off.start_min, off.end_min, off.code) == (23 * 60 + 30, 6 * 60 + 15, None)
    assert rules.ids == ("card_day", "off") and rules.get("gone") is None


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ("[rules.v\n", "not valid TOML"),
        ("[limits]\nx = 1\n", "unknown section 'limits'"),
        ("[state]\nkeys_max = 0\n", "keys_max"),
        ("rules = 3\n", "[rules.<id>]"),
        ('[rules.Bad-Id]\ntype = "velocity"\n', "'Bad-Id'"),
        ('[rules.v]\ntype = "speed"\naction = "alert"\n', "rule 'v': key 'type' must be one of"),
        ('[rules.v]\ntype = "off_hours"\nstart = "23:00"\nend = "06:00"\n', "key 'action' is missing"),
        (VELOCITY.replace("window_s = 60", "windw_s = 60"), "key 'window_s' is missing"),
        (VELOCITY + "windw_s = 60\n", "key 'windw_s' is not known"),
        (VELOCITY.replace("60", "-5"), "key 'window_s' must be a whole number"),
        (VELOCITY.replace("max_count = 3", "max_count = true"), "key 'max_count'"),
        (VELOCITY.replace("max_count = 3", "max_count = 3.5"), "key 'max_count'"),
        (VELOCITY + 'max_amount = 500\n', "key 'max_amount' must be yuan as text"),
        (VELOCITY + 'max_amount = "1.234"\n', "more than 2 decimal places"),
        (VELOCITY + 'code = "59"\n', "key 'code' applies only to action = decline"),
        (VELOCITY.replace('"alert"', '"decline"') + 'code = "05"\n', "key 'code' must be one of 59, 34"),
        (VELOCITY.replace('"alert"', '"block"'), "key 'action' must be one of allow, alert"),
        (VELOCITY.replace('"card"', '"merchant"'), "key 'key' must be one of card, terminal"),
        (VELOCITY + 'txn_types = "sale"\n', "key 'txn_types' must be a list of strings"),
        (VELOCITY + "enabled = 1\n", "key 'enabled' must be true or false"),
        ('[rules.o]\ntype = "off_hours"\nstart = "24:00"\nend = "06:00"\naction = "alert"\n', "key 'start'"),
        ('[rules.o]\ntype = "off_hours"\nstart = "23:00"\nend = "06:00"\naction = "alert"\n'
         'keys_max = 5\n', "key 'keys_max' does not apply"),
        ('[rules.o]\ntype = "off_hours"\nstart = "23:00"\nend = "06:00"\naction = "alert"\n'
         '[rules.o.merchants]\nM1 = "9-17"\n', "key 'merchants.M1'"),
        ('[rules.o]\ntype = "off_hours"\nstart = "23:00"\nend = "06:00"\naction = "alert"\n'
         '[rules.o.merchants]\nM1 = "09:00-25:00"\n', "key 'merchants.M1'"),
        ('[rules.s]\ntype = "terminal_surge"\nwindow_s = 600\nfactor_x10 = 10\nmin_count = 5\n'
         'action = "alert"\n', "key 'factor_x10' must be a whole number from 11"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_naming_rule_and_key(toml: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rules(toml)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message


def test_a_switched_off_rule_is_not_checked() -> None:
    assert load_rules('[rules.x]\ntype = "?"\nenabled = false\n').rules == ()
