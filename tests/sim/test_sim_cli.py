"""`kassa sim` as a person runs it: a summary table, replay by seed, exit status."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from kassa.cli.sim import sim

app = typer.Typer()
app.command()(sim)
runner = CliRunner()


def _row(output: str, name: str) -> int:
    match = re.search(rf"^{re.escape(name)}\s+(\d+)$", output, re.MULTILINE)
    assert match, output
    return int(match.group(1))


def test_seeds_run_prints_the_summary_table() -> None:
    result = runner.invoke(app, ["--seeds", "3", "--start", "20"])
    assert _row(result.output, "seeds") == 3
    assert _row(result.output, "simulated transactions") > 0
    assert _row(result.output, "faults injected") > 0
    failing = _row(result.output, "seeds failing")
    assert result.exit_code == (1 if failing else 0)
    assert (_row(result.output, "violations") == 0) == (failing == 0)


def test_one_seed_replays_identically() -> None:
    first = runner.invoke(app, ["--seed", "5", "--verbose"])
    second = runner.invoke(app, ["--seed", "5", "--verbose"])
    assert first.output == second.output
    assert "#0001" in first.output and "seed 5:" in first.output


def test_parallel_run_counts_every_seed() -> None:
    result = runner.invoke(app, ["--seeds", "4", "--jobs", "2"])
    assert _row(result.output, "seeds") == 4


def test_bad_terminal_count_is_refused() -> None:
    result = runner.invoke(app, ["--seeds", "1", "--terminals", "99"])
    assert result.exit_code == 2
