"""Versioned migrations on both dialects."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from kassa.errors import StoreError
from kassa.store import Database, Migration, connect, migrate, schema_version

HOST = (
    Migration(1, "merchants", "CREATE TABLE merchant (id {pk}, mid TEXT NOT NULL UNIQUE)"),
    Migration(
        2,
        "keys",
        """
        CREATE TABLE terminal_key (id {pk}, tid TEXT NOT NULL, kcv {blob} NOT NULL);
        CREATE INDEX terminal_key_tid ON terminal_key (tid);
        """,
    ),
    Migration(
        3,
        "dialect specific",
        {
            "sqlite": "CREATE TABLE flavour (name TEXT); INSERT INTO flavour VALUES ('sqlite')",
            "postgresql": "CREATE TABLE flavour (name TEXT); INSERT INTO flavour VALUES ('pg')",
        },
    ),
)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url)
    try:
        yield database
    finally:
        database.close()


def _history(db: Database) -> list[tuple[object, ...]]:
    with db.transaction(write=False) as tx:
        return tx.fetchall(
            "SELECT component, version, name, applied_ms FROM schema_migrations "
            "ORDER BY component, version"
        )


def test_migrations_apply_in_order_and_are_recorded(db: Database) -> None:
    assert migrate(db, "host", HOST, now_ms=1_700_000_000_123) == (1, 2, 3)
    assert _history(db) == [
        ("host", 1, "merchants", 1_700_000_000_123),
        ("host", 2, "keys", 1_700_000_000_123),
        ("host", 3, "dialect specific", 1_700_000_000_123),
    ]
    with db.transaction() as tx:
        tx.execute("INSERT INTO terminal_key (tid, kcv) VALUES (?, ?)", ("12345678", b"\x01"))
        flavour = tx.fetchone("SELECT name FROM flavour")
    assert flavour == (("sqlite",) if db.dialect == "sqlite" else ("pg",))
    assert schema_version(db, "host") == 3


def test_migrate_is_idempotent_and_adds_only_new_steps(db: Database) -> None:
    assert migrate(db, "host", HOST[:1]) == (1,)
    assert migrate(db, "host", HOST[:1]) == ()
    assert migrate(db, "host", HOST) == (2, 3)
    assert migrate(db, "host", HOST) == ()
    assert [row[1] for row in _history(db)] == [1, 2, 3]


def test_applied_ms_defaults_to_the_wall_clock(db: Database) -> None:
    migrate(db, "host", HOST[:1])
    stamp = _history(db)[0][3]
    assert isinstance(stamp, int) and stamp > 1_600_000_000_000  # milliseconds, not seconds


def test_components_are_versioned_independently(db: Database) -> None:
    migrate(db, "host", HOST)
    terminal = (Migration(1, "journal", "CREATE TABLE journal (stan INTEGER)"),)
    assert migrate(db, "terminal", terminal) == (1,)
    assert schema_version(db, "terminal") == 1
    assert schema_version(db, "backoffice") == 0


def test_a_newer_database_is_refused(db: Database) -> None:
    migrate(db, "host", HOST)
    with pytest.raises(StoreError) as caught:
        migrate(db, "host", HOST[:2])
    assert str(caught.value) == (
        "host database schema is version 3, this kassa knows up to 2: upgrade kassa"
    )
    with pytest.raises(StoreError, match="knows up to 0"):
        migrate(db, "host", ())


def test_an_edited_history_is_refused(db: Database) -> None:
    migrate(db, "host", HOST[:2])
    renamed = (HOST[0], Migration(2, "keys v2", HOST[1].sql), HOST[2])
    with pytest.raises(StoreError, match="has migration 2 'keys' where this kassa has 2 'keys v2'"):
        migrate(db, "host", renamed)


def test_a_failing_migration_leaves_the_previous_version_whole(db: Database) -> None:
    broken = (
        *HOST[:2],
        Migration(
            3, "half", "CREATE TABLE half_done (a INTEGER); CREATE TABLE merchant (x INTEGER)"
        ),
    )
    migrate(db, "host", broken[:2])
    with pytest.raises(Exception, match="merchant"):
        migrate(db, "host", broken)
    assert schema_version(db, "host") == 2
    with db.transaction() as tx:  # DDL is transactional on both: the first table is gone too
        tx.execute("CREATE TABLE half_done (b INTEGER)")


@pytest.mark.parametrize(
    ("migrations", "words"),
    [
        ((Migration(2, "first", "SELECT 1"),), "expected 1"),
        ((HOST[0], Migration(3, "gap", "SELECT 1")), "expected 2"),
        ((Migration(1, "", "SELECT 1"),), "has no name"),
        ((Migration(1, "one", {"sqlite": "SELECT 1"}),), "exactly sqlite and postgresql"),
    ],
)
def test_malformed_migrations_are_bugs(
    db: Database, migrations: tuple[Migration, ...], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        migrate(db, "host", migrations)


def test_plain_tuples_are_migrations_too(db: Database) -> None:
    assert migrate(db, "host", [(1, "plain", "CREATE TABLE plain (a INTEGER)")]) == (1,)


def test_concurrent_start_ups_apply_each_step_once(db_url: str, db: Database) -> None:
    results: list[tuple[int, ...]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3, timeout=10)

    def start_up() -> None:
        try:
            with connect(db_url, busy_timeout_ms=10_000) as own:
                start.wait()
                results.append(migrate(own, "host", HOST))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start_up) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(v for applied in results for v in applied) == [1, 2, 3]
    assert [row[1] for row in _history(db)] == [1, 2, 3]
