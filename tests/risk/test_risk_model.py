"""Events, severity ordering, decisions and what the host stores and exports."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import InputError
from kassa.risk import (
    Action,
    Decision,
    RiskEngine,
    RiskEvent,
    RuleHit,
    alert_record,
    decide,
    load_rules,
)

RISK_SRC = Path(__file__).resolve().parents[2] / "src" / "kassa" / "risk"
BANNED = {"asyncio", "socket", "sqlite3", "time", "random", "os", "secrets", "threading"}


def hit(rule_id: str, action: Action, code: str | None = None) -> RuleHit:
    return RuleHit(rule_id, action, {"n": 1}, f"{rule_id} fired", code)


@given(st.lists(st.sampled_from(list(Action)), max_size=8))
def test_the_most_severe_action_wins(actions: list[Action]) -> None:
    hits = [hit(f"r{i}", a, "59" if a is Action.DECLINE else None) for i, a in enumerate(actions)]
    decision = decide(hits)
    order = [Action.ALLOW, Action.ALERT, Action.HOLD, Action.DECLINE]
    expected = max(actions, key=order.index) if actions else Action.ALLOW
    assert decision.action is expected
    assert decision.hits == tuple(hits)  # every hit is kept, shadow ones too
    assert (decision.response_code == "59") == (expected is Action.DECLINE)
    assert decision.blocks == (expected in {Action.HOLD, Action.DECLINE})


def test_severity_ordering_and_decline_code_choice() -> None:
    severities = [a.severity for a in (Action.ALLOW, Action.ALERT, Action.HOLD, Action.DECLINE)]
    assert severities == sorted(severities) and len(set(severities)) == 4
    both = decide([hit("a", Action.DECLINE, "59"), hit("b", Action.DECLINE, "34")])
    assert both.response_code == "34"  # retain card outranks CVN-style suspicion
    held = decide([hit("a", Action.ALERT), hit("b", Action.HOLD)])
    assert (held.action, held.response_code) == (Action.HOLD, None)


def test_engine_combines_rules_and_records_figures() -> None:
    engine = RiskEngine(load_rules(
        '[rules.shadow]\ntype = "refund_without_sale"\naction = "allow"\n'
        '[rules.night]\ntype = "off_hours"\nstart = "00:00"\nend = "23:59"\naction = "alert"\n'
        '[rules.refund]\ntype = "refund_without_sale"\naction = "decline"\ncode = "34"\n'
    ))  # fmt: skip
    event = RiskEvent(at_ms=1_000, tid="T1", mid="M1", card_ref="tok", txn_type="refund",
                      amount_fen=12_345, has_matching_sale=False)  # fmt: skip
    decision = engine.evaluate(event)
    assert (decision.action, decision.response_code) == (Action.DECLINE, "34")
    assert [h.rule_id for h in decision.hits] == ["shadow", "night", "refund"]
    assert decision.hits[2].figures == {"amount_fen": 12_345}
    assert "123.45" in decision.hits[2].message
    assert decision.summary().startswith("decline 34: shadow(amount_fen=12345) night(")
    record = json.loads(json.dumps(alert_record(event, decision)))
    assert record["card_ref"] == "tok" and record["hits"][2]["response_code"] == "34"
    stats = engine.stats()
    assert stats.evaluations == 1 and stats.decisions["decline"] == 1
    assert stats.hits == {("shadow", "allow"): 1, ("night", "alert"): 1, ("refund", "decline"): 1}
    assert Decision(Action.ALLOW, None).summary() == "allow"


def test_event_refuses_a_pan_and_negative_values() -> None:
    with pytest.raises(InputError, match="looks like a PAN"):
        RiskEvent(at_ms=0, tid="T", mid="M", card_ref="6212264000001899463", txn_type="sale",
                  amount_fen=1)  # fmt: skip
    RiskEvent(at_ms=0, tid="T", mid="M", card_ref="6212264000001899464", txn_type="sale",
              amount_fen=1)  # fails Luhn: a token that happens to be digits  # fmt: skip
    with pytest.raises(InputError):
        RiskEvent(at_ms=0, tid="T", mid="M", card_ref=None, txn_type="sale", amount_fen=-1)


def test_local_time_follows_the_offset() -> None:
    # 2026-03-01 16:00 UTC is Monday 2026-03-02 00:00 in Beijing, still Sunday in London
    at = 1_772_380_800_000
    beijing = RiskEvent(at_ms=at, tid="T", mid="M", card_ref=None, txn_type="sale", amount_fen=0)
    london = RiskEvent(at_ms=at, tid="T", mid="M", card_ref=None, txn_type="sale", amount_fen=0,
                       utc_offset_min=0)  # fmt: skip
    assert (beijing.local_minute, beijing.local_weekday) == (0, 0)
    assert (london.local_minute, london.local_weekday) == (16 * 60, 6)


def test_the_risk_package_is_pure_and_float_free() -> None:
    """What tests/test_tidy.py checks for the other pure packages."""
    for path in RISK_SRC.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & BANNED, path.name
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in BANNED, path.name
            assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), path
            assert not (isinstance(node, ast.Name) and node.id == "float"), path.name
