"""Bounded memory, the integer statistics, snapshots and determinism."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.errors import InputError
from kassa.risk import RiskEngine, RiskEvent, RiskState, load_default_rules, load_rules
from kassa.risk._counters import Ewm

T0_MS = 1_772_380_800_000


def random_events(seed: int, count: int, cards: int = 300) -> list[tuple[RiskEvent, str]]:
    rng = random.Random(seed)
    out = []
    at = T0_MS
    for _ in range(count):
        at += rng.randint(0, 90_000)
        kind = rng.choice(["sale", "sale", "sale", "preauth", "refund", "balance"])
        event = RiskEvent(
            at_ms=at, tid=f"T{rng.randint(1, 20)}", mid=f"M{rng.randint(1, 5)}",
            card_ref=f"c{rng.randint(1, cards)}", txn_type=kind,
            amount_fen=0 if kind == "balance" else rng.randint(100, 500_000),
            has_matching_sale=rng.random() < 0.9 if kind == "refund" else None, mcc="5411",
        )  # fmt: skip
        out.append((event, rng.choice(["00", "00", "00", "00", "51", "55", "14", "75"])))
    return out


def run(engine: RiskEngine, events: list[tuple[RiskEvent, str]]) -> list[str]:
    summaries = []
    for event, code in events:
        summaries.append(engine.evaluate(event).summary())
        engine.observe(event, code)
    return summaries


def test_memory_stays_bounded_under_200k_distinct_cards() -> None:
    rules = load_rules(
        '[state]\nkeys_max = 50000\n'
        '[rules.v]\ntype = "velocity"\nkey = "card"\nwindow_s = 86400\nmax_count = 3\naction = "alert"\n'
        '[rules.p]\ntype = "wrong_pins"\nwindow_s = 86400\nmin_wrong_pins = 3\naction = "alert"\n'
    )  # fmt: skip
    engine = RiskEngine(rules)
    rng = random.Random(1)
    for n in range(200_000):
        event = RiskEvent(at_ms=T0_MS + n, tid="T1", mid="M1", card_ref=f"k{rng.getrandbits(64):x}",
                          txn_type="sale", amount_fen=100)  # fmt: skip
        engine.observe(event, "55")
    stats = engine.stats()
    assert stats.keys == {"v": 50_000, "p": 50_000}
    assert stats.evicted == {"v": 150_000, "p": 150_000}
    assert engine.state.entries() == 100_000  # one entry per key: each card came once


def test_a_busy_key_keeps_no_more_entries_than_its_threshold() -> None:
    rules = load_rules('[rules.v]\ntype = "velocity"\nkey = "terminal"\nwindow_s = 3600\n'
                       'max_count = 5\naction = "alert"\n')  # fmt: skip
    engine = RiskEngine(rules)
    for n in range(10_000):
        event = RiskEvent(at_ms=T0_MS + n, tid="T1", mid="M1", card_ref=f"c{n}",
                          txn_type="sale", amount_fen=100)  # fmt: skip
        engine.observe(event, "00")
    assert engine.state.entries() == 5
    assert engine.evaluate(event).hits[0].figures["count"] == 6  # saturates past max_count


def test_least_recently_used_key_is_the_one_forgotten() -> None:
    rules = load_rules('[rules.v]\ntype = "velocity"\nkey = "card"\nwindow_s = 600\n'
                       'max_count = 1\naction = "alert"\nkeys_max = 2\n')  # fmt: skip
    engine = RiskEngine(rules)

    def touch(card: str, at: int) -> None:
        engine.observe(RiskEvent(at_ms=at, tid="T", mid="M", card_ref=card, txn_type="sale",
                                 amount_fen=1), "00")  # fmt: skip

    touch("a", T0_MS)
    touch("b", T0_MS + 1)
    touch("a", T0_MS + 2)  # a is now newer than b
    touch("c", T0_MS + 3)  # b goes
    store = engine.state.stores["v"]
    assert store.get("a") is not None and store.get("c") is not None and store.get("b") is None


@settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(st.integers(1, 10**9), min_size=1, max_size=60),
    alpha=st.integers(1, 999),
)
def test_fixed_point_statistics_track_the_exact_ones(amounts: list[int], alpha: int) -> None:
    """Against the same recurrence in exact rationals (Finch 2009, eqs. 124 and 143)."""
    from fractions import Fraction

    stats, mean, var = Ewm(), Fraction(0), Fraction(0)
    for n, amount in enumerate(amounts, start=1):
        stats.add(amount, alpha)
        weight = Fraction(max(alpha, 1000 // n), 1000)
        diff = amount - mean
        mean += weight * diff
        var = (1 - weight) * (var + weight * diff * diff)
    assert stats.n == len(amounts)
    # rounding loses at most a milli-fen per step from the mean
    assert abs(Fraction(stats.mean_mf, 1000) - mean) <= Fraction(len(amounts), 1000) + 1
    scale = max(amounts) ** 2
    assert abs(Fraction(stats.var_mf2, 10**6) - var) <= scale * Fraction(len(amounts), 10**6) + 1


def test_snapshot_round_trip_continues_identically() -> None:
    rules = load_default_rules()
    events = random_events(3, 4000)
    original = RiskEngine(rules)
    run(original, events[:3000])
    snapshot = json.loads(json.dumps(original.state.to_dict()))
    restored = RiskEngine(rules, RiskState.from_dict(snapshot, rules))
    assert restored.state.to_dict() == original.state.to_dict()
    assert run(restored, events[3000:]) == run(original, events[3000:])
    assert restored.state.to_dict() == original.state.to_dict()


def test_same_events_give_same_decisions_and_state() -> None:
    rules = load_default_rules()
    events = random_events(9, 3000, cards=40)
    first, second = RiskEngine(rules), RiskEngine(rules)
    decisions = run(first, events)
    assert decisions == run(second, events)
    assert first.state.to_dict() == second.state.to_dict()
    assert any(d != "allow" for d in decisions), "the events should trip some rules"


def test_snapshot_under_changed_rules_keeps_what_still_fits() -> None:
    old = load_rules('[rules.v]\ntype = "velocity"\nkey = "card"\nwindow_s = 600\n'
                     'max_count = 4\naction = "alert"\n'
                     '[rules.p]\ntype = "wrong_pins"\nwindow_s = 600\nmin_wrong_pins = 2\n'
                     'action = "alert"\n')  # fmt: skip
    engine = RiskEngine(old)
    for n in range(4):
        for card in ("a", "b", "c"):
            engine.observe(RiskEvent(at_ms=T0_MS + n, tid="T", mid="M", card_ref=card,
                                     txn_type="sale", amount_fen=100), "00")  # fmt: skip
    new = load_rules('[rules.v]\ntype = "velocity"\nkey = "card"\nwindow_s = 600\n'
                     'max_count = 2\naction = "alert"\nkeys_max = 2\n')  # fmt: skip
    state = RiskState.from_dict(engine.state.to_dict(), new)
    store = state.stores["v"]
    assert state.keys() == {"v": 2} and store.get("a") is None  # newest keys kept
    kept = store.get("c")
    assert kept is not None and [at for at, _ in kept.entries] == [T0_MS + 2, T0_MS + 3]


@pytest.mark.parametrize(
    "snapshot",
    [
        None,
        {"format": "other"},
        {"format": "kassa.risk/1", "rules": []},
        {"format": "kassa.risk/1", "rules": {"v": {"type": "velocity", "keys": "x"}}},
        {"format": "kassa.risk/1", "rules": {"v": {"type": "velocity", "keys": [[1]]}}},
        {"format": "kassa.risk/1", "rules": {"v": {"type": "velocity", "keys": [["a", [1]]]}}},
        {"format": "kassa.risk/1", "rules": {"v": {"type": "velocity", "keys": [["a", ["1", 2]]]}}},
    ],
)
def test_damaged_snapshot_is_refused(snapshot: object) -> None:
    rules = load_rules('[rules.v]\ntype = "velocity"\nkey = "card"\nwindow_s = 600\n'
                       'max_count = 2\naction = "alert"\n')  # fmt: skip
    with pytest.raises(InputError, match="risk snapshot"):
        RiskState.from_dict(snapshot, rules)


def test_engine_refuses_state_of_other_rules() -> None:
    rules = load_default_rules()
    other = load_rules('[rules.v]\ntype = "velocity"\nkey = "card"\nwindow_s = 600\n'
                       'max_count = 2\naction = "alert"\n')  # fmt: skip
    with pytest.raises(ValueError, match="other rules"):
        RiskEngine(rules, RiskState(other))
