"""The two hooks the host calls on every authorisation, and the figures it exports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kassa.risk._checks import COMPILERS
from kassa.risk._compiled import Check, Feed, judges
from kassa.risk._counters import LruMap
from kassa.risk._model import ALLOW, Action, Decision, RiskEvent, RuleHit, decide
from kassa.risk._rules import RuleSet
from kassa.risk._state import RiskState
from kassa.risk._undo import RiskUndo

__all__ = ["RiskEngine", "RiskStats", "alert_record"]

_ALLOW = Action.ALLOW.value
_VALUE = {a: a.value for a in Action}  # `Action.value` is a slow property on Python 3.11
_PLANS_MAX = 512


@dataclass(frozen=True, slots=True)
class RiskStats:
    """Totals since start, for metrics: counters only grow; `keys` is a gauge.

    `hits` counts by (rule id, action); `decisions` by final action; `evicted` counts keys
    each rule forgot because its bound was reached (a sustained rise means keys_max is
    too small for the traffic).
    """

    evaluations: int
    observations: int
    decisions: dict[str, int]
    hits: dict[tuple[str, str], int]
    keys: dict[str, int]
    evicted: dict[str, int]


class RiskEngine:
    """Rules plus their state. Not thread-safe: one engine per event loop / host node.

    The rules are compiled once (`_checks`): per transaction type, the checks of the rules
    that judge it, in file order; per (type, response code), the feeds that can fill a
    counter. A rule that cannot apply is therefore skipped before its store is touched.
    Both tables are caches, bounded by `_PLANS_MAX` (types and codes come from the host's
    own small sets; an unexpected flood of new ones is served uncached).
    """

    def __init__(self, rules: RuleSet, state: RiskState | None = None) -> None:
        if state is not None and state.rules != rules:
            raise ValueError("risk state was built for other rules; use RiskState.from_dict")
        self.rules = rules
        self.state = state if state is not None else RiskState(rules)
        self._rec = self.state.recorder  # set per call: the caller's undo log, or None
        empty: LruMap[Any] = LruMap(1)  # stateless rules are handed a store they never use
        self._compiled = [
            (rule, COMPILERS[type(rule)](rule, self.state.stores.get(rule.rule_id, empty)))
            for rule in rules.rules
        ]
        self._checks: dict[str, tuple[Check, ...]] = {}
        self._feeds: dict[tuple[str, str], tuple[Feed, ...]] = {}
        self._hit_keys = {rule.rule_id: (rule.rule_id, rule.action.value) for rule in rules.rules}
        self._evaluations = self._observations = 0
        self._decisions = dict.fromkeys((a.value for a in Action), 0)
        self._hits: dict[tuple[str, str], int] = {}

    def evaluate(self, event: RiskEvent, undo: RiskUndo | None = None) -> Decision:
        """Judge `event` before the issuer is asked. Reads the counters (dropping entries
        that left their window) but records nothing: call `observe` with the answer.
        With `undo`, what the reading changed is saved there first (see `RiskUndo`)."""
        self._rec.log = undo
        checks = self._checks.get(event.txn_type)
        if checks is None:
            checks = self._checks_for(event.txn_type)
        hits: list[RuleHit] | None = None
        for check in checks:
            hit = check(event)
            if hit is not None:
                if hits is None:
                    hits = [hit]
                else:
                    hits.append(hit)
        self._evaluations += 1
        if hits is None:
            self._decisions[_ALLOW] += 1
            return ALLOW
        counts = self._hits
        for hit in hits:
            key = self._hit_keys[hit.rule_id]
            counts[key] = counts.get(key, 0) + 1
        decision = decide(hits)
        self._decisions[_VALUE[decision.action]] += 1
        return decision

    def observe(self, event: RiskEvent, response_code: str, undo: RiskUndo | None = None) -> None:
        """Fold the final answer into the counters: the issuer's, or the risk decline's own
        59/34 (so an attacker who keeps trying keeps filling the windows). Call it once per
        authorisation, never for a replayed repeat. With `undo`, what each counter held
        before is saved there, so that `undo.undo_to(mark)` takes the answer back exactly
        (its transaction rolled back)."""
        self._rec.log = undo
        feeds = self._feeds.get((event.txn_type, response_code))
        if feeds is None:
            feeds = self._feeds_for(event.txn_type, response_code)
        for feed in feeds:
            feed(event)
        self._observations += 1

    def _checks_for(self, txn_type: str) -> tuple[Check, ...]:
        checks = tuple(c.check for rule, c in self._compiled if judges(rule, txn_type))
        if len(self._checks) < _PLANS_MAX:
            self._checks[txn_type] = checks
        return checks

    def _feeds_for(self, txn_type: str, code: str) -> tuple[Feed, ...]:
        feeds = tuple(
            c.feed
            for _rule, c in self._compiled
            if c.feed is not None and c.feeds_on(txn_type, code)
        )
        if len(self._feeds) < _PLANS_MAX:
            self._feeds[txn_type, code] = feeds
        return feeds

    def stats(self) -> RiskStats:
        """A copy of the totals, for the metrics exporter."""
        return RiskStats(
            evaluations=self._evaluations,
            observations=self._observations,
            decisions=dict(self._decisions),
            hits=dict(self._hits),
            keys=self.state.keys(),
            evicted={rule_id: store.evicted for rule_id, store in self.state.stores.items()},
        )


def alert_record(event: RiskEvent, decision: Decision) -> dict[str, Any]:
    """What the alert store keeps for a decision with hits: who, when, what, and why.
    JSON-ready; carries the card token only, never a PAN."""
    return {
        "at_ms": event.at_ms,
        "tid": event.tid,
        "mid": event.mid,
        "card_ref": event.card_ref,
        "txn_type": str(event.txn_type),
        "amount_fen": event.amount_fen,
        **decision.as_dict(),
    }
