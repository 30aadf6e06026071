"""`Database` on both dialects: every test taking `db_url` runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from kassa.errors import StoreError
from kassa.store import ConstraintError, Database, connect, expand_sql

_SCHEMA = """
CREATE TABLE item (
    id {pk},
    code TEXT NOT NULL UNIQUE,
    data {blob},
    amount_fen {bigint} NOT NULL DEFAULT 0
);
CREATE TABLE note (item_id {bigint} NOT NULL REFERENCES item (id), text TEXT NOT NULL);
"""


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url)
    with database.transaction() as tx:
        tx.executescript(expand_sql(_SCHEMA, database.dialect))
    try:
        yield database
    finally:
        database.close()


def _codes(db: Database) -> list[str]:
    with db.transaction(write=False) as tx:
        return [row[0] for row in tx.fetchall("SELECT code FROM item ORDER BY code")]


def test_dialect_follows_the_url(db: Database, db_url: str) -> None:
    assert db.dialect == ("sqlite" if db_url.startswith("sqlite") else "postgresql")


def test_commit_makes_rows_visible_to_another_connection(db: Database, db_url: str) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO item (code) VALUES (?)", ("a",))
    with connect(db_url) as other, other.transaction(write=False) as tx:
        assert tx.fetchall("SELECT code FROM item") == [("a",)]


def test_an_exception_rolls_everything_back(db: Database) -> None:
    with pytest.raises(KeyError), db.transaction() as tx:
        tx.execute("INSERT INTO item (code) VALUES (?)", ("a",))
        raise KeyError("boom")
    assert _codes(db) == []


def test_blobs_and_64_bit_integers_round_trip(db: Database) -> None:
    cases = [
        ("empty", b"", 0),
        ("bytes", bytes(range(256)), 2**63 - 1),
        ("nul", b"\x00" * 3 + b"\xff", -(2**63)),
        ("big", bytes(range(256)) * 64, 999_999_999_999),
    ]
    with db.transaction() as tx:
        for code, data, amount in cases:
            tx.execute(
                "INSERT INTO item (code, data, amount_fen) VALUES (?, ?, ?)", (code, data, amount)
            )
        tx.execute("INSERT INTO item (code, data) VALUES (?, ?)", ("view", memoryview(b"mv")))
    with db.transaction(write=False) as tx:
        rows = tx.fetchall("SELECT code, data, amount_fen FROM item ORDER BY id")
    assert rows == [*cases, ("view", b"mv", 0)]
    assert all(type(row) is tuple and type(row[1]) is bytes for row in rows)


def test_returning_gives_generated_keys_in_order(db: Database) -> None:
    with db.transaction() as tx:
        first = tx.fetchone("INSERT INTO item (code) VALUES (?) RETURNING id", ("a",))
        second = tx.fetchone("INSERT INTO item (code) VALUES (?) RETURNING id", ("b",))
    assert first is not None and second is not None
    assert second[0] > first[0] > 0


def test_percent_signs_and_placeholders_mean_the_same_on_both(db: Database) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO item (code) VALUES (?)", ("50%off",))
        row = tx.fetchone(
            "SELECT code, 7 % 3, '100%' FROM item WHERE code LIKE '50%' AND code <> ?", ("x",)
        )
    assert row == ("50%off", 1, "100%")


def test_unique_violation_is_a_constraint_error(db: Database) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO item (code) VALUES (?)", ("a",))
    with pytest.raises(ConstraintError, match="refused the write"), db.transaction() as tx:
        tx.execute("INSERT INTO item (code) VALUES (?)", ("a",))
    assert _codes(db) == ["a"]


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(ConstraintError), db.transaction() as tx:
        tx.execute("INSERT INTO note (item_id, text) VALUES (?, ?)", (12345, "orphan"))


def test_savepoint_undoes_one_unit_and_keeps_the_rest(db: Database) -> None:
    refused = []
    with db.transaction() as tx:
        for number, code in enumerate(("a", "b", "a", "c")):  # the second "a" breaks the key
            try:
                with tx.savepoint():
                    tx.execute("INSERT INTO item (code) VALUES (?)", (f"{code}-{number}",))
                    tx.execute("INSERT INTO item (code) VALUES (?)", (code,))
            except ConstraintError:
                refused.append(number)
    assert refused == [2]
    assert _codes(db) == ["a", "a-0", "b", "b-1", "c", "c-3"]  # no "a-2": undone with its unit


def test_executemany_reports_rows_affected(db: Database) -> None:
    with db.transaction() as tx:
        count = tx.executemany(
            "INSERT INTO item (code, amount_fen) VALUES (?, ?)", [(f"c{i}", i) for i in range(50)]
        )
        updated = tx.execute(
            "UPDATE item SET amount_fen = amount_fen + 1 WHERE amount_fen < ?", (10,)
        )
        assert updated.rowcount == 10
    assert count == 50
    assert len(_codes(db)) == 50


def test_a_nested_transaction_is_a_bug(db: Database) -> None:
    with db.transaction(), pytest.raises(AssertionError, match="savepoint"), db.transaction():
        pass


def test_a_transaction_cannot_be_used_after_its_block(db: Database) -> None:
    with db.transaction() as tx:
        pass
    with pytest.raises(AssertionError, match="ended"):
        tx.execute("SELECT 1")


def test_threads_sharing_a_database_take_turns(db: Database) -> None:
    with db.transaction() as tx:
        tx.execute("INSERT INTO item (code, amount_fen) VALUES (?, ?)", ("counter", 0))

    def bump() -> None:
        for _ in range(25):
            with db.transaction() as tx:
                row = tx.fetchone("SELECT amount_fen FROM item WHERE code = ?", ("counter",))
                assert row is not None
                tx.execute("UPDATE item SET amount_fen = ? WHERE code = ?", (row[0] + 1, "counter"))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.transaction(write=False) as tx:
        assert tx.fetchone("SELECT amount_fen FROM item WHERE code = ?", ("counter",)) == (100,)


def test_close_is_idempotent_and_final(db_url: str) -> None:
    database = connect(db_url)
    database.close()
    database.close()
    with pytest.raises(AssertionError, match="closed"), database.transaction():
        pass


def test_bad_sql_is_a_bug_not_a_store_error(db: Database) -> None:
    with pytest.raises(Exception) as caught, db.transaction() as tx:
        tx.execute("SELECT nope FROM no_such_table")
    assert not isinstance(caught.value, StoreError)
