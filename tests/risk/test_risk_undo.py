"""`RiskUndo`: counters changed inside a transaction are put back exactly when it, or one
of its savepoints, rolls back.

The reference is a fresh engine given only the committed calls (evaluate and observe, in
their order): after every commit or rollback the undone engine's counters (values, keys,
LRU order) and evictions must equal it; inside a transaction each decision must equal the
reference's after the committed calls plus the calls still standing in the transaction
(a later request of a group sees the earlier ones).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_risk_equivalence import T0_MS, rule_sets, streams

from kassa.risk import Action, RiskEngine, RiskEvent, RiskUndo, RuleSet, StateUndo, load_rules

Call = tuple[RiskEvent, str | None]  # code None: an evaluation, else an observation


def replay(rules: RuleSet, calls: Sequence[Call]) -> RiskEngine:
    engine = RiskEngine(rules)
    for event, code in calls:
        if code is None:
            engine.evaluate(event)
        else:
            engine.observe(event, code)
    return engine


def counters(engine: RiskEngine) -> tuple[dict[str, Any], dict[str, int]]:
    return engine.state.to_dict(), engine.stats().evicted


@dataclass
class Run:
    """The engine under test, the committed calls, and the open transaction's units (the
    transaction itself, then its open savepoints): each a mark and its calls."""

    rules: RuleSet
    engine: RiskEngine
    committed: list[Call] = field(default_factory=list)
    undo: RiskUndo | None = None
    units: list[tuple[int, list[Call]]] = field(default_factory=list)

    def standing(self) -> list[Call]:
        return self.committed + [call for _, calls in self.units for call in calls]

    def call(self, event: RiskEvent, code: str | None) -> None:
        if code is None:
            expected = replay(self.rules, self.standing()).evaluate(event)
            assert self.engine.evaluate(event, self.undo) == expected
        else:
            self.engine.observe(event, code, self.undo)
        if self.units:
            self.units[-1][1].append((event, code))
        else:  # outside a transaction: stands at once (no undo log)
            self.committed.append((event, code))

    def begin(self) -> None:
        if not self.units:
            self.undo = RiskUndo()
        assert self.undo is not None
        self.units.append((self.undo.mark(), []))  # the transaction, or a savepoint

    def release(self) -> None:
        _, calls = self.units.pop()
        if self.units:
            self.units[-1][1].extend(calls)
        else:  # COMMIT
            self.committed.extend(calls)
            self.undo = None
            self.check()

    def roll_back(self) -> None:
        mark, _ = self.units.pop()
        assert self.undo is not None
        self.undo.undo_to(mark)
        if not self.units:
            self.undo = None
            self.check()
        else:  # the counters are those of what still stands
            assert counters(self.engine) == counters(replay(self.rules, self.standing()))

    def check(self) -> None:
        assert counters(self.engine) == counters(replay(self.rules, self.committed))


@settings(max_examples=150, deadline=None)
@given(rules=rule_sets(), events=streams(), seed=st.integers(0, 2**32))
def test_undone_counters_are_those_of_the_committed_calls_alone(
    rules: RuleSet, events: list[tuple[RiskEvent, str]], seed: int
) -> None:
    rng, run = random.Random(seed), Run(rules, RiskEngine(rules))
    for event, code in events:
        roll = rng.random()
        if roll < 0.15 or (roll < 0.25 and not run.units):
            run.begin()
        elif roll < 0.3 and run.units:
            run.roll_back()
        elif roll < 0.4 and run.units:
            run.release()
        if rng.random() < 0.8:
            run.call(event, None)
        run.call(event, code)
    while run.units:
        run.roll_back() if rng.random() < 0.5 else run.release()
    run.check()


# -- by example ---------------------------------------------------------------------------

RULES = """
[rules.card_three]
type = "velocity"
key = "card"
window_s = 600
max_count = 3
count = "approved"
action = "decline"
code = "59"
keys_max = 2
"""


def sale(n: int, card: str = "c1") -> RiskEvent:
    return RiskEvent(T0_MS + n * 1000, "T1", "M1", card, "sale", 10_000)


def test_a_group_sees_its_earlier_sales_and_a_rollback_forgets_them() -> None:
    engine, undo = RiskEngine(load_rules(RULES)), RiskUndo()
    engine.observe(sale(0), "00")  # committed before
    for n in (1, 2):
        assert engine.evaluate(sale(n), undo).action is Action.ALLOW
        engine.observe(sale(n), "00", undo)
    assert engine.evaluate(sale(3), undo).action is Action.DECLINE  # within the group
    undo.undo_to(0)  # the group's transaction rolled back
    assert engine.evaluate(sale(3)).action is Action.ALLOW
    assert engine.state.to_dict() == replay(engine.rules, [(sale(0), "00")]).state.to_dict()


def test_a_forgotten_card_comes_back_where_it_was() -> None:
    """keys_max 2: a new card in the rolled-back group forgot the oldest; a touched card
    moved to the newest. Both are put back: the same card is forgotten next."""
    engine, undo = RiskEngine(load_rules(RULES)), RiskUndo()
    for n, card in enumerate(["c1", "c2"]):
        engine.observe(sale(n, card), "00")
    before = engine.state.to_dict()
    engine.observe(sale(5, "c1"), "00", undo)  # c1 now the newest
    engine.observe(sale(6, "c3"), "00", undo)  # forgets c2
    assert [k[0] for k in engine.state.to_dict()["rules"]["card_three"]["keys"]] == ["c1", "c3"]
    undo.undo_to(0)
    assert engine.state.to_dict() == before
    assert engine.stats().evicted == {"card_three": 0}
    engine.observe(sale(7, "c4"), "00")  # forgets c1, the least recently used
    assert [k[0] for k in engine.state.to_dict()["rules"]["card_three"]["keys"]] == ["c2", "c4"]


@settings(max_examples=60, deadline=None)
@given(rules=rule_sets(), events=streams(), split=st.integers(0, 150))
def test_a_state_undo_puts_the_whole_state_back(
    rules: RuleSet, events: list[tuple[RiskEvent, str]], split: int
) -> None:
    """What a rolled-back warm-up relies on: everything after it was made is forgotten,
    and the counters go on from there as if it never happened."""
    head, tail = events[:split], events[split:]
    engine = replay(rules, head)
    before = counters(engine)
    undo = StateUndo(engine.state)
    for event, code in tail:
        engine.evaluate(event)
        engine.observe(event, code)
    after = counters(engine)
    undo.undo_to(undo.mark())  # a savepoint opened after it: nothing of its own to undo
    assert counters(engine) == after
    undo.undo_to(0)
    assert counters(engine) == before
    for event, code in tail:
        engine.observe(event, code)
    assert counters(engine) == counters(replay(rules, head + tail))
