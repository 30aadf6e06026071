"""Every benchmark runs end to end in its quick mode and prints its table.

No timing is asserted (the machine is shared and noisy); what is checked is that each
benchmark still runs against the current code, finishes, and says what it measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script: str, *args: str, timeout_s: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=BENCH,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_host_benchmark_quick(tmp_path: Path) -> None:
    out = run("host.py", "--quick", "--db", "sqlite", "--workdir", str(tmp_path))
    assert "## host benchmark: every run" in out
    for label in ("kassa, risk on", "kassa, risk off", "echo", "storage floor", "burst"):
        assert label in out, label
    assert "kassa host check after the run: OK" in out
    assert "errors {" not in out.split("## findings")[1], "a quick run saw errors"


@pytest.mark.postgres
def test_host_benchmark_quick_postgresql() -> None:
    # The default work directory (/var/tmp): the server user must reach the cluster, and
    # pytest's tmp_path sits in a directory only we may enter.
    out = run("host.py", "--quick", "--db", "pg", "--levels", "4", "--idle", "20")
    assert "postgresql (disk)" in out and "kassa host check after the run: OK" in out


def test_terminal_benchmark_quick(tmp_path: Path) -> None:
    out = run("terminal.py", "--quick", "--workdir", str(tmp_path))
    assert "## terminal benchmark" in out
    for figure in ("confirm -> approved", "recovery, host reachable", "recovery, host down",
                   "store-and-forward", "host check after the run: OK"):  # fmt: skip
        assert figure in out, figure
    assert "0 still in doubt" in out


def test_recon_benchmark_quick(tmp_path: Path) -> None:
    out = run("recon.py", "--quick", "--workdir", str(tmp_path))
    assert "## back office" in out
    assert "all found, nothing else" in out


def test_storage_floor_and_codec_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'floor.db'}"
    assert "per commit" in run("storagefloor.py", url, "--requests", "200", "--seconds", "2")
    assert "ratio kassa / bare" in run("codec.py", "--rounds", "1", "--pairs", "100")
