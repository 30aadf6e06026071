"""A seed is a replayable scenario: the same seed gives the same day, step for step."""

from __future__ import annotations

import pytest

from kassa.sim import run_seed


@pytest.mark.parametrize("seed", [0, 7, 4711])
def test_the_same_seed_replays_exactly(seed: int) -> None:
    first, second = run_seed(seed), run_seed(seed)
    assert [s.line() for s in first.trace] == [s.line() for s in second.trace]
    assert first.trace == second.trace
    assert first.faults == second.faults
    assert first.violations == second.violations
    assert first.transactions == second.transactions


def test_different_seeds_give_different_days() -> None:
    traces = {tuple(s.line() for s in run_seed(seed).trace) for seed in range(5)}
    assert len(traces) == 5


def test_faults_are_injected_and_traced() -> None:
    results = [run_seed(seed) for seed in range(10)]
    counted = sum(sum(r.faults.values()) for r in results)
    traced = sum(len([f for f in s.faults if "(" in f]) for r in results for s in r.trace)
    assert counted > 20
    assert traced >= counted  # every counted fault shows in the step it hit


def test_report_names_the_seed_and_how_to_replay_it() -> None:
    result = run_seed(11, terminals=3)
    text = result.report()
    assert text.startswith("seed 11:") and "kassa sim --seed 11" in text
    assert len(result.trace) >= 3 * 10 and len({s.terminal for s in result.trace}) == 3
    assert [s.number for s in result.trace] == list(range(1, len(result.trace) + 1))


def test_terminal_count_is_checked() -> None:
    with pytest.raises(ValueError, match="terminals"):
        run_seed(1, terminals=0)
