"""Running seeds: one trading day per seed, and the summary over many.

    result = run_seed(42)                 # SeedResult: trace, faults, violations
    summary = run_seeds(range(1000))      # Summary: counts, faults by kind, failures

A seed fixes everything: the same seed gives the same trace, step for step.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kassa.sim.checks import Checker
from kassa.sim.day import Day
from kassa.sim.leaks import LogCapture, scan_databases
from kassa.sim.model import SeedResult
from kassa.sim.reference import TERMINALS_MAX, scratch
from kassa.sim.world import World

TERMINALS_DEFAULT = 2
OPERATIONS_PER_TERMINAL = 10


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """The simulator injects faults on purpose and its trace says what happened: the
    terminal's and host's own log lines about those faults would only be noise. The
    logger is put back as it was afterwards."""
    kassa_log = logging.getLogger("kassa")
    saved = (kassa_log.handlers[:], kassa_log.propagate)
    kassa_log.handlers[:] = [logging.NullHandler()]
    kassa_log.propagate = False
    try:
        yield
    finally:
        kassa_log.handlers[:], kassa_log.propagate = saved


def run_seed(
    seed: int,
    terminals: int = TERMINALS_DEFAULT,
    operations: int | None = None,
    faults: bool = True,
) -> SeedResult:
    """One trading day for `seed`, with `terminals` tills (1..8), `operations` in all
    (default 10 per till), under injected faults unless `faults` is False."""
    with _quiet_logs():
        return _run_seed(seed, terminals, operations, faults)


def _run_seed(seed: int, terminals: int, operations: int | None, faults: bool) -> SeedResult:
    if not 1 <= terminals <= TERMINALS_MAX:
        raise ValueError(f"terminals must be 1..{TERMINALS_MAX}, got {terminals}")
    where = Path(tempfile.mkdtemp(prefix=f"kassa-sim-{seed}-", dir=scratch()))
    try:
        return asyncio.run(_day(seed, terminals, operations, faults, where))
    finally:
        shutil.rmtree(where, ignore_errors=True)


async def _day(
    seed: int, terminals: int, operations: int | None, faults: bool, where: Path
) -> SeedResult:
    world = World(seed, terminals, where)
    checker = Checker(world)
    ops = operations if operations is not None else OPERATIONS_PER_TERMINAL * terminals
    day = Day(world, checker, ops, faults)
    try:
        with LogCapture() as logs:
            await day.run()
        count = sum(len(t.pos.journal.txns()) for t in world.tills if t.terminal is not None)
    finally:
        world.close()
    step = len(day.trace)
    for problem in scan_databases([world.host_path, *(t.path for t in world.tills)]):
        checker.fail("no-card-data-at-rest", problem, step)
    for problem in logs.scan():
        checker.fail("no-card-data-in-logs", problem, step)
    return SeedResult(seed, tuple(day.trace), Counter(world.faults),
                      tuple(checker.violations), count, tuple(day.cashier.warnings))  # fmt: skip


@dataclass
class Summary:
    """What a run of many seeds found."""

    seeds: int = 0
    transactions: int = 0
    steps: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    warnings: int = 0
    failed: list[SeedResult] = field(default_factory=list)

    def add(self, result: SeedResult) -> None:
        self.seeds += 1
        self.transactions += result.transactions
        self.steps += len(result.trace)
        self.faults.update(result.faults)
        self.violations.update(v.invariant for v in result.violations)
        self.warnings += len(result.warnings)
        if not result.ok:
            self.failed.append(result)

    def merge(self, other: Summary) -> None:
        self.seeds += other.seeds
        self.transactions += other.transactions
        self.steps += other.steps
        self.faults.update(other.faults)
        self.violations.update(other.violations)
        self.warnings += other.warnings
        self.failed += other.failed

    @property
    def ok(self) -> bool:
        return not self.failed

    def table(self) -> str:
        """The summary as a plain-text table."""
        rows = [
            ("seeds", self.seeds),
            ("seeds failing", len(self.failed)),
            ("simulated transactions", self.transactions),
            ("steps", self.steps),
            ("faults injected", sum(self.faults.values())),
        ]
        rows += [(f"  {kind}", n) for kind, n in sorted(self.faults.items())]
        rows.append(("violations", sum(self.violations.values())))
        rows += [(f"  {kind}", n) for kind, n in sorted(self.violations.items())]
        rows.append(("warnings", self.warnings))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value:>10}" for name, value in rows)


def run_seeds(
    seeds: Iterable[int],
    terminals: int = TERMINALS_DEFAULT,
    on_result: Callable[[SeedResult], None] | None = None,
) -> Summary:
    summary = Summary()
    for seed in seeds:
        result = run_seed(seed, terminals)
        summary.add(result)
        if on_result is not None:
            on_result(result)
    return summary
