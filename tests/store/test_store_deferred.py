"""Deferred deltas (`Transaction.defer`): kept in memory, following savepoints, written in
one sorted batch right before COMMIT; on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from kassa.store import Database, Transaction, TransientError, connect

Totals = list[tuple[str, int]]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url)
    with database.transaction() as tx:
        tx.execute("CREATE TABLE sums (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        tx.execute("CREATE TABLE log (what TEXT NOT NULL)")
    try:
        yield database
    finally:
        database.close()


calls: list[tuple[str, Totals]] = []


def upsert(tx: Transaction, totals: Totals) -> None:
    calls.append(("sums", totals))
    tx.executemany(
        "INSERT INTO sums (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = sums.v + excluded.v",
        totals,
    )


def record_other(tx: Transaction, totals: Totals) -> None:
    calls.append(("other", totals))


def stored(db: Database) -> dict[str, int]:
    with db.transaction(write=False) as tx:
        return {str(k): int(v) for k, v in tx.fetchall("SELECT k, v FROM sums")}


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


def test_sums_are_read_back_and_written_once_per_key_in_key_order(db: Database) -> None:
    with db.transaction() as tx:
        for key, delta in [("m", 5), ("c2", -3), ("m", 7), ("c1", -9), ("c2", -4)]:
            tx.defer("sums", key, delta, upsert)
        assert (tx.deferred("sums", "m"), tx.deferred("sums", "c2")) == (12, -7)
        assert tx.deferred("sums", "none") == 0 and tx.deferred("nokind", "m") == 0
        assert calls == []  # nothing written (no row locked) before COMMIT
        assert tx.fetchall("SELECT k FROM sums") == []
    assert calls == [("sums", [("c1", -9), ("c2", -7), ("m", 12)])]
    assert stored(db) == {"c1": -9, "c2": -7, "m": 12}
    with db.transaction() as tx:
        tx.defer("sums", "m", 1, upsert)
        tx.defer("sums", "c1", 0, upsert)  # a zero total still writes (creates) the row
        tx.defer("sums", "new", 2, upsert)
        tx.defer("sums", "new", -2, upsert)
    assert stored(db) == {"c1": -9, "c2": -7, "m": 13, "new": 0}


def test_kinds_are_flushed_in_name_order(db: Database) -> None:
    with db.transaction() as tx:
        tx.defer("sums", "a", 1, upsert)
        tx.defer("other", "b", 2, record_other)
    assert [kind for kind, _ in calls] == ["other", "sums"]


def test_a_rolled_back_savepoint_forgets_what_it_deferred(db: Database) -> None:
    with db.transaction() as tx:
        tx.defer("sums", "m", 10, upsert)
        with pytest.raises(ValueError), tx.savepoint():
            tx.defer("sums", "m", 100, upsert)
            tx.defer("sums", "gone", 1, upsert)
            with tx.savepoint():  # released: its delta belongs to the outer savepoint now
                tx.defer("sums", "m", 1_000, upsert)
            raise ValueError("this unit fails")
        with tx.savepoint():
            tx.defer("sums", "m", 3, upsert)
            with pytest.raises(ValueError), tx.savepoint():
                tx.defer("sums", "c", 4, upsert)
                raise ValueError("inner unit fails")
            tx.defer("sums", "c", 5, upsert)
        assert (tx.deferred("sums", "m"), tx.deferred("sums", "gone")) == (13, 0)
    assert stored(db) == {"m": 13, "c": 5}


def test_nothing_is_written_when_the_body_raises(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.defer("sums", "m", 1, upsert)
        raise RuntimeError("abort")
    assert calls == [] and stored(db) == {}


def test_a_failing_flush_rolls_the_whole_transaction_back(db: Database) -> None:
    def conflict(tx: Transaction, totals: Totals) -> None:
        raise TransientError("deadlock detected; retry the transaction")

    with pytest.raises(TransientError), db.transaction() as tx:
        tx.execute("INSERT INTO log (what) VALUES ('unit')")
        tx.defer("sums", "m", 1, conflict)
    with db.transaction(write=False) as tx:
        assert tx.fetchall("SELECT what FROM log") == []
    with db.transaction() as tx:  # the next transaction starts clean
        tx.defer("sums", "m", 2, upsert)
    assert stored(db) == {"m": 2}


def test_one_kind_has_one_flush(db: Database) -> None:
    with pytest.raises(AssertionError, match="two different functions"), db.transaction() as tx:
        tx.defer("sums", "m", 1, upsert)
        tx.defer("sums", "m", 1, record_other)


def test_appended_rows_are_written_at_commit_in_order_and_follow_savepoints(
    db_url: str,
) -> None:
    db = connect(db_url)
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE appended (n INTEGER NOT NULL)")

        def write(tx: Transaction, rows: list[tuple[object, ...]]) -> None:
            tx.executemany("INSERT INTO appended (n) VALUES (?)", rows)

        with db.transaction() as tx:
            tx.append_deferred("appended", (3,), write)
            with contextlib.suppress(RuntimeError), tx.savepoint():
                tx.append_deferred("appended", (99,), write)
                raise RuntimeError("this unit fails: its row goes with it")
            tx.append_deferred("appended", (1,), write)
            assert tx.fetchone("SELECT COUNT(*) FROM appended") == (0,)  # not yet
        with db.transaction() as tx:
            assert [r[0] for r in tx.fetchall("SELECT n FROM appended")] == [3, 1]
        with pytest.raises(ValueError), db.transaction() as tx:
            tx.append_deferred("appended", (7,), write)
            raise ValueError("the body fails: nothing is written")
        with db.transaction() as tx:
            assert tx.fetchone("SELECT COUNT(*) FROM appended") == (2,)
    finally:
        db.close()
