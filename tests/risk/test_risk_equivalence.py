"""The tuned engine decides exactly as the plain one did and keeps the same counters.

The reference is a frozen copy of the engine before it was compiled per transaction type
(`riskref_engine`, `riskref_checks`, `riskref_counters`). Random rule sets (every rule
type, small thresholds, tight key bounds so keys are evicted) meet random streams (few
cards, terminals and merchants so windows fill; times mostly rising, sometimes back a
little, sometimes hours ahead; every answer code kind): after every event, the decisions,
the counters' snapshot (values and LRU order) and the statistics must be equal. Some
events are only observed, never evaluated, as the answers of other host nodes are.
"""

from __future__ import annotations

import dataclasses
import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from riskref_engine import ReferenceEngine, decide_plain

from kassa.risk import (
    Action,
    RiskEngine,
    RiskEvent,
    RuleHit,
    RuleSet,
    decide,
    load_default_rules,
    load_rules,
)

T0_MS = 1_772_380_800_000  # 2026-03-02 00:00 in Beijing
TYPES = ("sale", "preauth", "refund", "balance", "void", "offline_sale")
CODES = ("00", "10", "51", "55", "75", "14", "05", "34", "59")


@st.composite
def rule_tables(draw: st.DrawFn, rule_id: str) -> str:
    """One `[rules.<id>]` table of any type, with thresholds small enough to fire."""
    kind = draw(st.sampled_from(["velocity", "amount_outlier", "wrong_pins", "card_testing",
                                 "off_hours", "terminal_surge", "refund_without_sale"]))  # fmt: skip
    action = draw(st.sampled_from(["allow", "alert", "hold", "decline"]))
    lines = [f"[rules.{rule_id}]", f'type = "{kind}"', f'action = "{action}"']
    if action == "decline":
        lines.append(f'code = "{draw(st.sampled_from(["59", "34"]))}"')
    if draw(st.booleans()):
        types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True))
        lines.append("txn_types = " + json.dumps(types))
    if draw(st.booleans()):
        lines.append(f'min_amount = "{draw(st.integers(0, 800))}.00"')
    if kind not in {"off_hours", "refund_without_sale"} and draw(st.booleans()):
        lines.append(f"keys_max = {draw(st.integers(1, 3))}")
    window = f"window_s = {draw(st.integers(1, 900))}"
    if kind == "velocity":
        lines += [f'key = "{draw(st.sampled_from(["card", "terminal"]))}"', window,
                  f"max_count = {draw(st.integers(1, 5))}",
                  f'count = "{draw(st.sampled_from(["attempts", "approved"]))}"']  # fmt: skip
        if draw(st.booleans()):
            lines.append(f'max_amount = "{draw(st.integers(1, 3000))}.00"')
    elif kind == "amount_outlier":
        lines += [f"alpha_permille = {draw(st.integers(1, 999))}",
                  f"sigma_x10 = {draw(st.integers(1, 40))}",
                  f"min_samples = {draw(st.integers(1, 6))}"]  # fmt: skip
    elif kind == "wrong_pins":
        lines += [window, f"min_wrong_pins = {draw(st.integers(1, 4))}"]
    elif kind == "card_testing":
        lines += [window, f"min_declines = {draw(st.integers(1, 4))}",
                  f'small_amount = "{draw(st.integers(0, 500))}.00"',
                  f"small_only = {str(draw(st.booleans())).lower()}"]  # fmt: skip
    elif kind == "off_hours":
        start, end = draw(st.integers(0, 1439)), draw(st.integers(0, 1439))
        lines += [f'start = "{start // 60:02d}:{start % 60:02d}"',
                  f'end = "{end // 60:02d}:{end % 60:02d}"',
                  'exempt_mccs = ["7011"]', f"[rules.{rule_id}.merchants]",
                  '"M2" = "none"', '"M3" = "12:00-01:30"']  # fmt: skip
    elif kind == "terminal_surge":
        lines += [f"window_s = {draw(st.sampled_from([1, 60, 120]) | st.integers(1, 120))}",
                  f"factor_x10 = {draw(st.integers(11, 40))}",
                  f"min_count = {draw(st.integers(1, 6))}",
                  f"alpha_permille = {draw(st.integers(1, 999))}",
                  f"min_windows = {draw(st.integers(1, 6))}"]  # fmt: skip
    return "\n".join(lines) + "\n"


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    count = draw(st.integers(1, 7))
    return load_rules("".join(draw(rule_tables(f"r{n}")) for n in range(count)))


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[RiskEvent, str]]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    # whole seconds or minutes in most streams, so times land on window edges exactly
    grain = draw(st.sampled_from([1, 1000, 60_000]))
    at, out = T0_MS + draw(st.integers(0, 86_400)) * 1000, []
    for _ in range(draw(st.integers(1, 150))):
        roll = rng.random()
        step = (rng.randint(-5_000, 0) if roll < 0.1 else rng.randint(0, 40_000_000)
                if roll < 0.13 else rng.randint(0, 90_000))  # fmt: skip
        at = max(0, at + step // grain * grain)
        kind = rng.choice(TYPES)
        event = RiskEvent(
            at_ms=at, tid=f"T{rng.randint(1, 3)}", mid=f"M{rng.randint(1, 3)}",
            card_ref=rng.choice(["c1", "c2", "c3", "c4", None]), txn_type=kind,
            amount_fen=0 if kind == "balance" else rng.choice([rng.randint(1, 3_000),
                                                                rng.randint(1, 300_000)]),
            utc_offset_min=rng.choice([480, 0, -300]), mcc=rng.choice(["5411", "7011", ""]),
            has_matching_sale=rng.choice([True, False]) if kind == "refund" else None,
        )  # fmt: skip
        out.append((event, rng.choice(CODES)))
    return out


def assert_same_run(rules: RuleSet, events: list[tuple[RiskEvent, str]]) -> set[str]:
    """Run both engines side by side; returns the ids of the rules that fired."""
    tuned, plain = RiskEngine(rules), ReferenceEngine(rules)
    fired: set[str] = set()
    for n, (event, code) in enumerate(events):
        if n % 11 != 10:  # every 11th only observed, as another node's answers are
            decision = tuned.evaluate(event)
            assert decision == plain.evaluate(event), f"event {n}: {event}"
            fired.update(hit.rule_id for hit in decision.hits)
        tuned.observe(event, code)
        plain.observe(event, code)
        assert tuned.state.to_dict() == plain.snapshot(), f"counters after event {n}"
    stats = tuned.stats()
    assert (stats.evaluations, stats.observations) == (plain.evaluations, plain.observations)
    assert (stats.decisions, stats.hits) == (plain.decisions, plain.hits)
    assert stats.evicted == plain.evicted()
    return fired


@settings(max_examples=250, deadline=None)
@given(rules=rule_sets(), events=streams())
def test_random_rules_and_streams_decide_as_the_plain_engine(
    rules: RuleSet, events: list[tuple[RiskEvent, str]]
) -> None:
    assert_same_run(rules, events)


@given(
    st.lists(
        st.tuples(st.sampled_from(list(Action)), st.sampled_from([None, "59", "34"])),
        max_size=5,
    )
)
def test_decide_is_the_plain_decide(actions: list[tuple[Action, str | None]]) -> None:
    """Also for rules built in code: a decline without a code, a code on an alert."""
    hits = [RuleHit(f"r{n}", a, {"n": n}, "fired", code) for n, (a, code) in enumerate(actions)]
    assert decide(hits) == decide_plain(hits)
    assert decide(iter(hits)) == decide_plain(hits)


def test_shipped_rules_on_a_busy_day_decide_as_the_plain_engine() -> None:
    rng, at, events = random.Random(5), T0_MS, []
    for _ in range(4000):
        at += rng.randint(0, 40_000)
        kind = rng.choice(["sale", "sale", "sale", "preauth", "refund", "balance"])
        small = rng.random() < 0.2
        event = RiskEvent(
            at_ms=at, tid=f"T{rng.randint(1, 6)}", mid=f"M{rng.randint(1, 3)}",
            card_ref=f"c{rng.randint(1, 60)}", txn_type=kind,
            amount_fen=0 if kind == "balance" else rng.randint(100, 2_000 if small else 900_000),
            has_matching_sale=rng.random() < 0.8 if kind == "refund" else None,
            mcc=rng.choice(["5411", "7011"]),
        )  # fmt: skip
        events.append((event, rng.choice(["00"] * 6 + ["51", "55", "75", "14", "05"])))
    fired = assert_same_run(load_default_rules(), events)
    # not a vacuous comparison: most shipped rules fire on this stream
    assert len(fired) >= 6, fired


def test_a_host_burst_decides_as_the_plain_engine() -> None:
    """The host benchmarks' stream: 100 sales per group time, terminal velocity firing."""
    events = [
        (RiskEvent(T0_MS + 43_200_000 + n // 100 * 100, f"T{n % 5}", "M1", f"c{n * 7 % 40}",
                   "sale", 100 + n * 7919 % 50_000, 480, "5411"), "00")
        for n in range(2000)
    ]  # fmt: skip
    fired = assert_same_run(load_default_rules(), events)
    assert {"terminal_velocity", "card_velocity_short"} <= fired


def test_event_as_dict_is_dataclasses_asdict() -> None:
    event = RiskEvent(T0_MS, "T1", "M1", None, "refund", 500, -300, "7011", False)
    assert event.as_dict() == dataclasses.asdict(event)
    assert list(event.as_dict()) == [f.name for f in dataclasses.fields(RiskEvent)]
    assert RiskEvent(**event.as_dict()) == event
