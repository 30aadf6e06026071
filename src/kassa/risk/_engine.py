"""The two hooks the host calls on every authorisation, and the figures it exports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kassa.risk._checks import CHECKS, Check, Feed
from kassa.risk._counters import LruMap
from kassa.risk._model import APPROVAL_CODES, Action, Decision, RiskEvent, RuleHit, decide
from kassa.risk._rules import RuleSet
from kassa.risk._state import RiskState

__all__ = ["RiskEngine", "RiskStats", "alert_record"]


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
    """Rules plus their state. Not thread-safe: one engine per event loop / host node."""

    def __init__(self, rules: RuleSet, state: RiskState | None = None) -> None:
        if state is not None and state.rules != rules:
            raise ValueError("risk state was built for other rules; use RiskState.from_dict")
        self.rules = rules
        self.state = state if state is not None else RiskState(rules)
        empty: LruMap[Any] = LruMap(1)  # stateless rules are handed a store they never use
        self._plan: list[tuple[Any, Check, Feed, LruMap[Any]]] = [
            (rule, *CHECKS[type(rule)], self.state.stores.get(rule.rule_id, empty))
            for rule in rules.rules
        ]
        self._evaluations = self._observations = 0
        self._decisions = dict.fromkeys((a.value for a in Action), 0)
        self._hits: dict[tuple[str, str], int] = {}

    def evaluate(self, event: RiskEvent) -> Decision:
        """Judge `event` before the issuer is asked. Reads the counters (dropping entries
        that left their window) but records nothing: call `observe` with the answer."""
        hits: list[RuleHit] = []
        for rule, check, _feed, store in self._plan:
            hit = check(rule, store, event)
            if hit is not None:
                hits.append(hit)
                key = (hit.rule_id, hit.action.value)
                self._hits[key] = self._hits.get(key, 0) + 1
        decision = decide(hits)
        self._evaluations += 1
        self._decisions[decision.action.value] += 1
        return decision

    def observe(self, event: RiskEvent, response_code: str) -> None:
        """Fold the final answer into the counters: the issuer's, or the risk decline's own
        59/34 (so an attacker who keeps trying keeps filling the windows). Call it once per
        authorisation, never for a replayed repeat."""
        approved = response_code in APPROVAL_CODES
        for rule, _check, feed, store in self._plan:
            feed(rule, store, event, response_code, approved)
        self._observations += 1

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
