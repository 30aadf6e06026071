"""The crashable journal storage: a power cut before COMMIT loses the write, one after it
keeps it, a full disk refuses the write and the program goes on; reads are never hit."""

from __future__ import annotations

from pathlib import Path

import pytest

from kassa.errors import StoreError
from kassa.sim.model import FaultKind
from kassa.sim.storage import DiskPlan, FaultyDatabase, PowerCut
from kassa.store import Database, connect


def _values(path: Path) -> list[int]:
    db = connect(f"sqlite:///{path}")
    try:
        with db.transaction(write=False) as tx:
            return [int(r[0]) for r in tx.fetchall("SELECT v FROM t ORDER BY v")]
    finally:
        db.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    where = tmp_path / "journal.db"
    db = connect(f"sqlite:///{where}")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (v INTEGER)")
    db.close()
    return where


def _faulty(path: Path) -> tuple[FaultyDatabase, list[FaultKind]]:
    noted: list[FaultKind] = []
    plan = DiskPlan(lambda kind, _detail: noted.append(kind))
    return FaultyDatabase(connect(f"sqlite:///{path}"), plan), noted


def _insert(db: Database, value: int) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO t (v) VALUES (?)", (value,))


def test_power_cut_before_commit_loses_only_that_write(path: Path) -> None:
    db, noted = _faulty(path)
    db.plan.arm_crash(2, after_commit=False)
    _insert(db, 1)
    with pytest.raises(PowerCut):
        _insert(db, 2)
    db.close()
    assert _values(path) == [1]
    assert noted == [FaultKind.CRASH_BEFORE_COMMIT]


def test_power_cut_after_commit_keeps_the_write(path: Path) -> None:
    db, noted = _faulty(path)
    db.plan.arm_crash(1, after_commit=True)
    with pytest.raises(PowerCut):
        _insert(db, 7)
    _insert(db, 8)  # the crash fires once
    db.close()
    assert _values(path) == [7, 8]
    assert noted == [FaultKind.CRASH_AFTER_COMMIT]


def test_full_disk_refuses_writes_for_a_while_and_rolls_back(path: Path) -> None:
    db, noted = _faulty(path)
    db.plan.arm_full(2, count=2)
    _insert(db, 1)
    for value in (2, 3):
        with pytest.raises(StoreError, match="full"):
            _insert(db, value)
    _insert(db, 4)
    db.close()
    assert _values(path) == [1, 4]
    assert noted == [FaultKind.DISK_FULL, FaultKind.DISK_FULL]


def test_reads_do_not_count_and_disarm_cancels(path: Path) -> None:
    db, noted = _faulty(path)
    db.plan.arm_crash(1, after_commit=False)
    for _ in range(3):
        with db.transaction(write=False) as tx:
            tx.fetchall("SELECT v FROM t")
    assert db.plan.writes == 0
    db.plan.disarm()
    _insert(db, 5)
    db.close()
    assert _values(path) == [5] and noted == []


def test_power_cut_is_not_an_exception_the_terminal_could_swallow() -> None:
    assert not issubclass(PowerCut, Exception)
