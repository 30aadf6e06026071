"""`kassa sim`: the deterministic fault simulator (see `kassa.sim`).

    kassa sim --seeds 1000              # seeds 0..999, a summary table at the end
    kassa sim --seeds 100000 --jobs 8   # a soak run over 8 processes
    kassa sim --seed 4711 --verbose     # replay one seed and print its whole trace

Exit status 0 when every seed kept the promise, 1 when any violation was found (each
failing seed is printed with the trace that led there), 2 for bad arguments.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Annotated

import typer

from kassa.sim import SeedResult, Summary, run_seed, run_seeds
from kassa.sim.reference import TERMINALS_MAX

_FULL_REPORTS_MAX = 3  # failing seeds printed with their whole trace; the rest one line each
_CHUNK_SEEDS = 50


def _chunk(first: int, count: int, terminals: int) -> Summary:
    return run_seeds(range(first, first + count), terminals)


def _parallel(start: int, seeds: int, terminals: int, jobs: int) -> Summary:
    summary = Summary()
    chunks = [
        (s, min(_CHUNK_SEEDS, start + seeds - s)) for s in range(start, start + seeds, _CHUNK_SEEDS)
    ]
    done = 0
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_chunk, first, count, terminals) for first, count in chunks]
        for future in futures:
            part = future.result()
            summary.merge(part)
            done += part.seeds
            if done % 1000 < _CHUNK_SEEDS:
                typer.echo(f"  {done}/{seeds} seeds, {len(summary.failed)} failing", err=True)
    return summary


def _print_failures(summary: Summary) -> None:
    failed = sorted(summary.failed, key=lambda r: r.seed)
    for result in failed[:_FULL_REPORTS_MAX]:
        typer.echo(result.report())
        typer.echo("")
    for result in failed[_FULL_REPORTS_MAX:]:
        first = result.violations[0]
        typer.echo(f"seed {result.seed}: {len(result.violations)} violation(s), first: {first}")


def _one(seed: int, terminals: int, verbose: bool) -> int:
    result: SeedResult = run_seed(seed, terminals)
    if verbose or not result.ok:
        typer.echo(result.report())
    faults = ", ".join(f"{k} {n}" for k, n in sorted(result.faults.items())) or "none"
    typer.echo(f"seed {seed}: {len(result.trace)} steps, {result.transactions} transactions,"
               f" faults: {faults}; {len(result.violations)} violation(s)")  # fmt: skip
    return 0 if result.ok else 1


def sim(
    seeds: Annotated[int, typer.Option(help="How many seeds to run (from --start).", min=1)] = 100,
    seed: Annotated[
        int | None, typer.Option(help="Replay this one seed (prints its trace if it fails).")
    ] = None,
    start: Annotated[int, typer.Option(help="The first seed of a --seeds run.", min=0)] = 0,
    terminals: Annotated[
        int, typer.Option(help="Terminals in the shop.", min=1, max=TERMINALS_MAX)
    ] = 2,
    jobs: Annotated[int, typer.Option(help="Worker processes (0: one per CPU).", min=0)] = 1,
    verbose: Annotated[bool, typer.Option(help="Print every step of the trace.")] = False,
) -> None:
    """Run trading days under injected faults and check that no transaction is lost or
    charged twice."""
    if seed is not None:
        sys.exit(_one(seed, terminals, verbose))
    began = time.monotonic()
    workers = jobs or os.cpu_count() or 1

    def show(result: SeedResult) -> None:
        if verbose:
            typer.echo(result.report() if not result.ok else f"seed {result.seed}: ok")

    if workers == 1:
        summary = run_seeds(range(start, start + seeds), terminals, show)
    else:
        summary = _parallel(start, seeds, terminals, workers)
    _print_failures(summary)
    typer.echo(summary.table())
    typer.echo(f"{summary.seeds} seeds in {time.monotonic() - began:.1f} s")
    sys.exit(0 if summary.ok else 1)
