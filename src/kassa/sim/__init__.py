"""The deterministic fault simulator: every seed is a trading day in which the network,
the terminals' power and disks, their clocks and printers fail, and after which the
promise is checked: no transaction lost, none charged twice.

    from kassa.sim import run_seed, run_seeds
    result = run_seed(7)          # replay: the same seed gives the same trace
    print(result.report())        # the seed, its violations, the steps that led there
"""

from __future__ import annotations

from kassa.sim.model import FaultKind, SeedResult, TraceStep, Violation
from kassa.sim.runner import Summary, run_seed, run_seeds

__all__ = ["FaultKind", "SeedResult", "Summary", "TraceStep", "Violation", "run_seed", "run_seeds"]
