"""Terminals as real processes against a real host process over TCP, killed with SIGKILL
at every persistence point of a sale and of a settlement, then restarted: afterwards the
host ledger and the terminal journal agree, and nothing is lost or charged twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from procs import SWIPE, host_process, make_terminal, pos, sign_on

from kassa.host.check import check_host
from kassa.store import connect
from kassa.terminal.drill import POINTS
from kassa.terminal.runtime import open_journal

SALE_POINTS = [p for p in POINTS if not p.startswith("settle")]
SETTLE_POINTS = [p for p in POINTS if p.startswith("settle")]


def host_rows(db_url: str, tid: str) -> dict[tuple[str, str], str]:
    db = connect(db_url)
    try:
        with db.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT batch, stan, status FROM txns WHERE tid = ? AND mti IN ('0200', '0220')",
                (tid,),
            )
            report = check_host(tx)
    finally:
        db.close()
    assert report.ok, report.problems
    return {(r[0], r[1]): r[2] for r in rows}


def terminal_rows(home: Path) -> dict[tuple[str, str], str]:
    journal = open_journal(home)
    try:
        return {(r.batch, r.stan): r.state.value for r in journal.txns()}
    finally:
        journal.close()


def assert_agree(home: Path, db_url: str, tid: str) -> None:
    """Charged at the host exactly when the terminal says approved (or uploaded)."""
    host, term = host_rows(db_url, tid), terminal_rows(home)
    for key, state in term.items():
        charged = host.get(key) in ("approved", "voided")
        assert charged == (state in ("approved", "uploaded", "voided")), (key, state, host.get(key))
    for key, status in host.items():
        if status == "approved":
            assert term.get(key) in ("approved", "uploaded", "voided"), (key, status, term.get(key))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The host on embedded SQLite here; the chaos runs cover PostgreSQL."""
    return f"sqlite:///{tmp_path / 'host.db'}"


@pytest.mark.parametrize("point", SALE_POINTS)
def test_power_cut_mid_sale(point: str, db_url: str, tmp_path: Path) -> None:
    with host_process(tmp_path / "host", db_url, ("12345678",)) as port:
        home = tmp_path / "term"
        make_terminal(home, "12345678", port)
        sign_on(home)
        cut = pos(home, "sale", "12.34", stdin=f"{SWIPE}\n1234\n", KASSA_DRILL_POWER_CUT=point)
        assert cut.returncode == -9, cut.stderr  # SIGKILL: the power went
        after = pos(home, "status")  # the restart: recovery runs first
        assert after.returncode == 0, after.stderr
        status = json.loads(after.stdout)
        assert status["pending_reversals"] == 0 and status["pending_resends"] == 0
        again = pos(home, "sale", "1.00", stdin=f"{SWIPE}\n1234\n")
        assert json.loads(again.stdout)["approved"] is True
        assert_agree(home, db_url, "12345678")


@pytest.mark.parametrize("point", SETTLE_POINTS)
def test_power_cut_mid_settlement(point: str, db_url: str, tmp_path: Path) -> None:
    with host_process(tmp_path / "host", db_url, ("12345678",)) as port:
        home = tmp_path / "term"
        make_terminal(home, "12345678", port)
        sign_on(home)
        for amount in ("10.00", "20.00"):
            assert pos(home, "sale", amount, stdin=f"{SWIPE}\n1234\n").returncode == 0
        cut = pos(home, "settle", KASSA_DRILL_POWER_CUT=point)
        assert cut.returncode == -9, cut.stderr
        resumed = pos(home, "settle")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        doc = json.loads(resumed.stdout)
        assert doc["ok"] and doc["batch"] == "000001"
        status = json.loads(pos(home, "status").stdout)
        assert status["batch"] == "000002"  # moved on exactly once
        db = connect(db_url)
        try:
            with db.transaction(write=False) as tx:
                settled = tx.fetchall("SELECT batch, status FROM settlements")
        finally:
            db.close()
        assert settled == [("000001", "closed")]
        assert pos(home, "sale", "3.00", stdin=f"{SWIPE}\n1234\n").returncode == 0
        assert_agree(home, db_url, "12345678")
