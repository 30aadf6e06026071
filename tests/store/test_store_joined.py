"""Undo logs joined to a transaction (`Transaction.joined`): memory outside the database
follows the transaction's savepoints, its rollback and a failed COMMIT; on SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from kassa.errors import StoreError
from kassa.store import Database, Transaction, TransientError, connect


class Memory:
    """Values kept in memory beside the database: each transaction's additions are undone
    through its undo log."""

    def __init__(self) -> None:
        self.values: list[int] = []
        self.undone: list[int] = []  # the marks `undo_to` was called with

    def add(self, tx: Transaction, value: int) -> None:
        tx.joined(self, lambda: Log(self))
        self.values.append(value)


class Log:
    """A transaction's undo log of a `Memory`: what it appended since the log was made."""

    def __init__(self, memory: Memory) -> None:
        self.memory, self.base = memory, len(memory.values)

    def mark(self) -> int:
        return len(self.memory.values) - self.base

    def undo_to(self, mark: int) -> None:
        self.memory.undone.append(mark)
        del self.memory.values[self.base + mark :]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url)
    with database.transaction() as tx:
        tx.execute("CREATE TABLE t (v INTEGER NOT NULL)")
    try:
        yield database
    finally:
        database.close()


def rows(db: Database) -> list[int]:
    with db.transaction(write=False) as tx:
        return [int(r[0]) for r in tx.fetchall("SELECT v FROM t ORDER BY v")]


def add(db_tx: Transaction, memory: Memory, value: int) -> None:
    db_tx.execute("INSERT INTO t (v) VALUES (?)", (value,))
    memory.add(db_tx, value)


def test_one_log_per_owner_made_on_first_use(db: Database) -> None:
    made: list[Log] = []

    def make() -> Log:
        made.append(Log(Memory()))
        return made[-1]

    owner_a, owner_b = object(), object()
    with db.transaction() as tx:
        first = tx.joined(owner_a, make)
        assert tx.joined(owner_a, make) is first
        assert tx.joined(owner_b, make) is not first
    assert len(made) == 2
    with db.transaction() as tx:  # a new transaction: new logs
        assert tx.joined(owner_a, make) is not first


def test_a_committed_transaction_undoes_nothing(db: Database) -> None:
    memory = Memory()
    with db.transaction() as tx:
        add(tx, memory, 1)
        add(tx, memory, 2)
    assert memory.values == rows(db) == [1, 2]
    assert memory.undone == []


def test_a_rolled_back_transaction_undoes_all(db: Database) -> None:
    memory = Memory()
    with db.transaction() as tx:
        add(tx, memory, 1)
    with contextlib.suppress(RuntimeError), db.transaction() as tx:
        add(tx, memory, 2)
        add(tx, memory, 3)
        raise RuntimeError("a bug")
    assert memory.values == rows(db) == [1]
    assert memory.undone == [0]  # everything that transaction's log recorded


def test_savepoints_undo_their_own_part_only(db: Database) -> None:
    memory = Memory()
    with db.transaction() as tx:
        add(tx, memory, 1)
        with contextlib.suppress(RuntimeError), tx.savepoint():
            add(tx, memory, 2)
            raise RuntimeError("unit fails")
        with tx.savepoint():
            add(tx, memory, 3)
            with contextlib.suppress(RuntimeError), tx.savepoint():
                add(tx, memory, 4)
                raise RuntimeError("inner unit fails")
        add(tx, memory, 5)
    assert memory.values == rows(db) == [1, 3, 5]
    assert memory.undone == [1, 2]


def test_a_log_made_inside_a_rolled_back_savepoint_is_undone_from_its_start(
    db: Database,
) -> None:
    memory = Memory()
    with db.transaction() as tx:
        with contextlib.suppress(RuntimeError), tx.savepoint():
            add(tx, memory, 1)
            add(tx, memory, 2)
            raise RuntimeError("unit fails")
        add(tx, memory, 3)
    assert memory.values == rows(db) == [3]
    assert memory.undone == [0]


def test_a_transient_conflict_at_the_flush_undoes_the_logs(db: Database) -> None:
    """What the host's overdraft race does: the deferred flush refuses, before COMMIT."""

    def refuse(tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
        raise TransientError("serialization failure")

    memory = Memory()
    with pytest.raises(TransientError), db.transaction() as tx:
        add(tx, memory, 1)
        tx.append_deferred("conflict", (), refuse)
    assert memory.values == rows(db) == []


def test_a_failed_commit_undoes_the_logs(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMIT failed: the transaction may stand or not; memory takes the safe side of
    "not known to stand" and forgets it."""

    def commit_fails(conn: object) -> Any:
        def fail() -> None:
            raise StoreError("disk I/O error during COMMIT")

        return fail

    memory = Memory()
    monkeypatch.setattr(db, "_commit_fn", commit_fails)
    with pytest.raises(StoreError), db.transaction() as tx:
        add(tx, memory, 1)
    assert memory.values == []


class Broken(Memory):
    def add(self, tx: Transaction, value: int) -> None:
        tx.joined(self, lambda: BrokenLog(self))
        self.values.append(value)


class BrokenLog(Log):
    def undo_to(self, mark: int) -> None:
        raise ValueError("a bug in an undo")


def test_an_undo_that_raises_does_not_keep_the_database_from_rolling_back(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    broken, memory = Broken(), Memory()
    with contextlib.suppress(RuntimeError), db.transaction() as tx:
        add(tx, memory, 1)
        add(tx, broken, 2)
        raise RuntimeError("a bug")
    assert memory.values == []  # the other logs are still undone
    assert "undoing" in caplog.text
    assert rows(db) == []
    with db.transaction() as tx:  # the connection is usable: it was rolled back
        add(tx, memory, 3)
    assert rows(db) == [3]
