"""A frozen copy of the risk engine's two hooks as they were before it was tuned (commit
eafb28c, `kassa.risk._engine` and `decide`), plus its state and snapshot encoding: the
plain reference `test_risk_equivalence.py` compares the tuned `RiskEngine` with. Keep it
plain; it shares only the immutable values (rules, events, hits, decisions)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from riskref_checks import CHECKS
from riskref_counters import Ewm, LruMap, Rate, Window

from kassa.risk import (
    APPROVAL_CODES,
    Action,
    AmountOutlierRule,
    CardTestingRule,
    Decision,
    OffHoursRule,
    RefundWithoutSaleRule,
    RiskEvent,
    RuleHit,
    RuleSet,
    TerminalSurgeRule,
    VelocityRule,
    WrongPinsRule,
)

_SEVERITY = {Action.ALLOW: 0, Action.ALERT: 1, Action.HOLD: 2, Action.DECLINE: 3}
_CODE_RANK = {"59": 0, "34": 1}
_STATEFUL = {
    VelocityRule: "velocity",
    WrongPinsRule: "wrong_pins",
    CardTestingRule: "card_testing",
    AmountOutlierRule: "amount_outlier",
    TerminalSurgeRule: "terminal_surge",
}


def decide_plain(hits: Iterable[RuleHit]) -> Decision:
    """The most severe action among `hits` wins; no hit means allow."""
    found = tuple(hits)
    if not found:
        return Decision(Action.ALLOW, None, ())
    action = max((hit.action for hit in found), key=lambda a: _SEVERITY[a])
    code = None
    if action is Action.DECLINE:
        codes = [hit.response_code or "59" for hit in found if hit.action is Action.DECLINE]
        code = max(codes, key=lambda c: _CODE_RANK.get(c, 0))
    return Decision(action, code, found)


class ReferenceEngine:
    """`RiskEngine` as it was: every rule's check and feed, one after the other."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.stores: dict[str, LruMap[Any]] = {
            rule.rule_id: LruMap(rule.keys_max)
            for rule in rules.rules
            if not isinstance(rule, OffHoursRule | RefundWithoutSaleRule)
        }
        empty: LruMap[Any] = LruMap(1)
        self._plan = [
            (rule, *CHECKS[type(rule)], self.stores.get(rule.rule_id, empty))
            for rule in rules.rules
        ]
        self.evaluations = self.observations = 0
        self.decisions = dict.fromkeys((a.value for a in Action), 0)
        self.hits: dict[tuple[str, str], int] = {}

    def evaluate(self, event: RiskEvent) -> Decision:
        hits: list[RuleHit] = []
        for rule, check, _feed, store in self._plan:
            hit = check(rule, store, event)
            if hit is not None:
                hits.append(hit)
                key = (hit.rule_id, hit.action.value)
                self.hits[key] = self.hits.get(key, 0) + 1
        decision = decide_plain(hits)
        self.evaluations += 1
        self.decisions[decision.action.value] += 1
        return decision

    def observe(self, event: RiskEvent, response_code: str) -> None:
        approved = response_code in APPROVAL_CODES
        for rule, _check, feed, store in self._plan:
            feed(rule, store, event, response_code, approved)
        self.observations += 1

    def snapshot(self) -> dict[str, Any]:
        """What `RiskState.to_dict` gives for the same counters."""
        rules: dict[str, Any] = {}
        for rule in self.rules.rules:
            store = self.stores.get(rule.rule_id)
            if store is not None:
                kind = _STATEFUL[type(rule)]
                keys = [[key, *_encode(value)] for key, value in store.items()]
                rules[rule.rule_id] = {"type": kind, "keys": keys}
        return {"format": "kassa.risk/1", "rules": rules}

    def evicted(self) -> dict[str, int]:
        return {rule_id: store.evicted for rule_id, store in self.stores.items()}


def _encode(value: Any) -> list[Any]:
    if isinstance(value, Window):
        return [[at, fen] for at, fen in value.entries]
    if isinstance(value, Ewm):
        return [value.n, value.mean_mf, value.var_mf2]
    assert isinstance(value, Rate)
    return [value.start_ms, value.current, value.previous, value.baseline_milli, value.windows]
