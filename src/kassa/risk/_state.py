"""The risk engine's memory: one bounded `LruMap` of counters per stateful rule, and a
JSON-ready snapshot of it so a restarted host (or a second node) starts warm.

Bound: a rule tracks at most its `keys_max` keys (cards, terminals or merchants); each
key holds one counter, and a window at most the rule's threshold in entries (`max_count`,
`min_wrong_pins`, `min_declines`). Measured with the shipped defaults filled to the bound
(50,000 cards, each with 12 purchases in the day and wrong PINs): 700,000 entries in
about 230 MB (~320 bytes per entry with its key), plus ~70 bytes per key for its touch
stamp (`LruMap.stamps`: what lets a rolled-back transaction's touches be undone);
typical traffic uses a fraction of that. Evicting the least recently used key forgets its history: a card not seen for a
long while starts again from zero. Size `keys_max` at or above the distinct cards seen
in the longest card window, or the day limits undercount for the forgotten cards
(`RiskStats.evicted` shows it happening).

A snapshot names its rules; restoring it under rules whose ids or types changed keeps
only the state of rules that still exist with the same type, trimmed to today's bounds.
"""

from __future__ import annotations

from typing import Any

from kassa.errors import InputError
from kassa.risk._counters import Ewm, LruMap, Rate, Recorder, Window
from kassa.risk._rules import (
    AmountOutlierRule,
    CardTestingRule,
    Rule,
    RuleSet,
    TerminalSurgeRule,
    VelocityRule,
    WrongPinsRule,
)

__all__ = ["SNAPSHOT_FORMAT", "RiskState"]

SNAPSHOT_FORMAT = "kassa.risk/1"
_STATEFUL = {
    VelocityRule: "velocity",
    WrongPinsRule: "wrong_pins",
    CardTestingRule: "card_testing",
    AmountOutlierRule: "amount_outlier",
    TerminalSurgeRule: "terminal_surge",
}
_StatefulRule = (
    VelocityRule | WrongPinsRule | CardTestingRule | AmountOutlierRule | TerminalSurgeRule
)
_WINDOWED = {"velocity", "wrong_pins", "card_testing"}


def _cap(rule: Rule) -> int:
    if isinstance(rule, VelocityRule):
        return rule.max_count
    if isinstance(rule, WrongPinsRule):
        return rule.min_wrong_pins
    assert isinstance(rule, CardTestingRule)
    return rule.min_declines


class RiskState:
    """Counters per rule id. Deterministic: the same events give the same state."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.recorder = Recorder()  # shared by the stores: the engine's undo log, if any
        self.stores: dict[str, LruMap[Any]] = {}
        for rule in rules.rules:
            if isinstance(rule, _StatefulRule):
                self.stores[rule.rule_id] = LruMap(rule.keys_max, self.recorder)

    def keys(self) -> dict[str, int]:
        """How many keys each stateful rule tracks now."""
        return {rule_id: len(store) for rule_id, store in self.stores.items()}

    def entries(self) -> int:
        """Window entries plus one per non-window counter: the memory the bound speaks of."""
        total = 0
        for store in self.stores.values():
            for _key, value in store.items():
                total += len(value) if isinstance(value, Window) else 1
        return total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot: plain ints, strings and lists, keys oldest first."""
        rules: dict[str, Any] = {}
        for rule in self.rules.rules:
            store = self.stores.get(rule.rule_id)
            if store is not None:
                kind = _STATEFUL[type(rule)]
                keys = [[key, *_encode(kind, value)] for key, value in store.items()]
                rules[rule.rule_id] = {"type": kind, "keys": keys}
        return {"format": SNAPSHOT_FORMAT, "rules": rules}

    @classmethod
    def from_dict(cls, data: Any, rules: RuleSet) -> RiskState:
        """Rebuild from `to_dict` output. Raises `InputError` for a malformed snapshot."""
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise InputError(f"risk snapshot: not a {SNAPSHOT_FORMAT} snapshot")
        saved = data.get("rules")
        if not isinstance(saved, dict):
            raise InputError("risk snapshot: 'rules' must be a table")
        state = cls(rules)
        for rule in rules.rules:
            entry = saved.get(rule.rule_id)
            kind = _STATEFUL.get(type(rule))
            if kind is None or not isinstance(entry, dict) or entry.get("type") != kind:
                continue
            try:
                _restore(state.stores[rule.rule_id], kind, rule, entry.get("keys"))
            except (TypeError, ValueError, IndexError) as exc:
                raise InputError(
                    f"risk snapshot: rule {rule.rule_id!r} is damaged: {exc}"
                ) from None
        return state


def _encode(kind: str, value: Any) -> list[Any]:
    if kind in _WINDOWED:
        return [[at, fen] for at, fen in value.entries]
    if kind == "amount_outlier":
        return [value.n, value.mean_mf, value.var_mf2]
    return [value.start_ms, value.current, value.previous, value.baseline_milli, value.windows]


def _ints(values: Any, count: int) -> list[int]:
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(f"expected {count} numbers, got {values!r}")
    if not all(type(v) is int for v in values):
        raise TypeError(f"expected whole numbers, got {values!r}")
    return values


def _restore(store: LruMap[Any], kind: str, rule: Rule, keys: Any) -> None:
    if not isinstance(keys, list):
        raise TypeError("'keys' must be a list")
    for row in keys[-store.keys_max :]:  # the newest keys, if the bound shrank
        if not isinstance(row, list) or not row or not isinstance(row[0], str):
            raise TypeError(f"bad key row {row!r}")
        key, payload = row[0], row[1:]
        if kind in _WINDOWED:
            window, cap = Window(), _cap(rule)
            for pair in payload[-cap:]:
                at, fen = _ints(pair, 2)
                window.add(at, fen, cap)
            store.put(key, window)
        elif kind == "amount_outlier":
            store.put(key, Ewm(*_ints(payload, 3)))
        else:
            store.put(key, Rate(*_ints(payload, 5)))
