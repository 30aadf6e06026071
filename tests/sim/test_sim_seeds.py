"""The promise under fire: 2,000 seeded trading days (20 chunks of 100), each with two
terminals under network, power, disk, clock and printer faults; every invariant of
`kassa.sim.checks` must hold for every seed. A failure prints the seed and its trace:
replay it with `kassa sim --seed N --verbose`."""

from __future__ import annotations

import pytest

from kassa.sim import run_seeds

CHUNKS = 20
SEEDS_PER_CHUNK = 100
_FULL_REPORTS_MAX = 2


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_no_transaction_is_lost_or_charged_twice(chunk: int) -> None:
    first = chunk * SEEDS_PER_CHUNK
    summary = run_seeds(range(first, first + SEEDS_PER_CHUNK))
    assert summary.seeds == SEEDS_PER_CHUNK and summary.transactions > 0
    if summary.failed:
        reports = [r.report() for r in summary.failed[:_FULL_REPORTS_MAX]]
        others = [f"seed {r.seed}: {r.violations[0]}" for r in summary.failed[_FULL_REPORTS_MAX:]]
        pytest.fail(
            f"{len(summary.failed)} of {summary.seeds} seeds broke the promise\n"
            + "\n\n".join(reports)
            + "\n"
            + "\n".join(others),
            pytrace=False,
        )
