"""Chaos with real processes: a host process and terminal processes behind a FaultProxy,
SIGKILLed at random (terminals at power-cut points and at random moments, the host
mid-cycle), then recovered and settled: the promise is checked from the databases.

Fewer cycles here than in a soak (`make soak` sets KASSA_CHAOS_CYCLES), so each run stays
well under a minute; the seeds are fixed so a failure replays the same plan."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from kassa.ops.leaks import Known, scan
from kassa.sim.chaos import ChaosReport, main, run_chaos
from kassa.sim.chaos_check import Shown, check_run
from kassa.sim.chaos_fork import Zygote
from kassa.sim.chaos_rig import PIN, pan_of, tid_of

# `make soak` raises these through the environment (same tests, same checks, longer).
CYCLES = int(os.environ.get("KASSA_CHAOS_CYCLES", "12"))
TERMINALS = int(os.environ.get("KASSA_CHAOS_TERMINALS", "3"))
SEED = int(os.environ.get("KASSA_CHAOS_SEED", "4"))


def _assert_held(report: ChaosReport) -> None:
    assert report.ok, report.summary()
    assert report.cycles == CYCLES
    # The run must have had teeth: answers cut after the host acted, processes killed,
    # and still sales approved (a run where nothing gets through proves nothing).
    kills = report.faults["terminal_sigkill"] + sum(
        n for kind, n in report.faults.items() if kind.startswith("power_cut:")
    )
    assert report.faults["cut_after_request"] > 0, report.summary()
    assert kills > 0, report.summary()
    assert report.outcomes["sale:approved"] > 0, report.summary()


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ChaosReport]:
    workdir = tmp_path_factory.mktemp("chaos")
    return workdir, run_chaos(workdir, None, seed=SEED, cycles=CYCLES, terminals=TERMINALS)


def test_chaos_on_sqlite_keeps_the_promise(sqlite_run: tuple[Path, ChaosReport]) -> None:
    _, report = sqlite_run
    _assert_held(report)
    assert report.faults["host_sigkill"] == report.faults["host_restart"] > 0, report.summary()


@pytest.mark.postgres
def test_chaos_on_postgresql_keeps_the_promise(pg_url: str, tmp_path: Path) -> None:
    report = run_chaos(tmp_path, pg_url, seed=SEED + 3, cycles=CYCLES, terminals=TERMINALS)
    _assert_held(report)
    assert report.dialect == "postgresql"


def test_no_card_data_rests_anywhere_after_the_chaos(sqlite_run: tuple[Path, ChaosReport]) -> None:
    workdir, _ = sqlite_run
    known = Known.of([(pan_of(i), PIN) for i in range(TERMINALS)])
    homes = [workdir / f"term{i}" for i in range(TERMINALS)]
    assert scan([workdir / "host", *homes], known) == []
    assert not list((workdir / "calls").iterdir())  # each call's stdin (a swipe) is gone


def _copy(sqlite_run: tuple[Path, ChaosReport], tmp_path: Path) -> tuple[str, dict[str, Path]]:
    workdir, _ = sqlite_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("calls"))
    homes = {tid_of(i): copy / f"term{i}" for i in range(TERMINALS)}
    return f"sqlite:///{copy / 'host' / 'host.db'}", homes


def _approved_sale(url: str) -> tuple[int, str, str, str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        row = db.execute(
            "SELECT id, tid, batch, stan FROM txns WHERE status = 'approved'"
            " AND txn_type = 'sale' ORDER BY id LIMIT 1"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), str(row[2]), str(row[3])


def test_the_checks_see_a_charge_the_terminal_does_not_know(
    sqlite_run: tuple[Path, ChaosReport], tmp_path: Path
) -> None:
    url, homes = _copy(sqlite_run, tmp_path)
    assert check_run(url, homes, []) == []
    txn_id, tid, batch, stan = _approved_sale(url)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE txns SET status = 'reversed' WHERE id = ?", (txn_id,))
    problems = "\n".join(check_run(url, homes, []))
    assert f"{tid}:{batch}:{stan} terminal approved, host reversed" in problems
    assert "balance moved" in problems and "captured but not approved" in problems


def test_the_checks_see_a_transaction_left_in_doubt(
    sqlite_run: tuple[Path, ChaosReport], tmp_path: Path
) -> None:
    url, homes = _copy(sqlite_run, tmp_path)
    _, tid, batch, stan = _approved_sale(url)
    home = homes[tid]
    with sqlite3.connect(home / "terminal" / "journal.db") as db:
        db.execute("UPDATE txns SET state = 'in_doubt' WHERE batch = ? AND stan = ?", (batch, stan))
    problems = "\n".join(check_run(url, homes, []))
    assert f"{tid}:{batch}:{stan} sale left in_doubt after recovery" in problems
    assert f"{tid}:{batch}:{stan} terminal in_doubt, host approved" in problems


def test_the_checks_hold_the_cashier_to_what_was_shown(
    sqlite_run: tuple[Path, ChaosReport], tmp_path: Path
) -> None:
    url, homes = _copy(sqlite_run, tmp_path)
    _, tid, batch, stan = _approved_sale(url)
    shown = [Shown(tid, batch, stan, False, "declined"), Shown(tid, batch, "999999", True, None)]
    problems = "\n".join(check_run(url, homes, shown))
    assert f"{tid}:{batch}:{stan} shown declined but charged at the host" in problems
    assert f"{tid}:{batch}:999999 shown approved" in problems


def test_a_forked_kassa_is_a_real_process(tmp_path: Path) -> None:
    zygote = Zygote(tmp_path / "calls")
    try:
        version = zygote.run(tmp_path, ("version",))
        assert (version.returncode, version.stdout.strip()) == (0, "kassa 0.1.0")
        bad = zygote.run(tmp_path, ("explain", "51", "--lang", "xx"))
        assert bad.returncode == 2 and "lang" in bad.stderr and "Traceback" not in bad.stderr
        url = f"sqlite:///{tmp_path / 'h.db'}"
        serving = ("host", "serve", "--db", url, "--listen", "127.0.0.1:0")
        killed = zygote.run(tmp_path, serving, kill_after_s=3.0)
        assert killed.killed and killed.returncode == -9, killed
        assert "listening on 127.0.0.1:" in killed.stderr  # it really was serving
    finally:
        zygote.close()


def test_the_soak_entry_point_reports_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seed", "5", "--cycles", "2", "--terminals", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chaos seed 5: 2 cycles x 1 terminals on sqlite") and "OK" in out
