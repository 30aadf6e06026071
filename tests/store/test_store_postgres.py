"""PostgreSQL specifics: isolation, real serialization failures, lost connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from kassa.errors import StoreError
from kassa.store import Database, Isolation, Transaction, TransientError, connect

if TYPE_CHECKING:
    from pgserver import PgServer

pytestmark = pytest.mark.postgres


def _show(db: Database, setting: str, **options: object) -> str:
    with db.transaction(**options) as tx:  # type: ignore[arg-type]
        row = tx.fetchone(f"SHOW {setting}")
    assert row is not None
    return str(row[0])


def test_the_test_server_really_syncs(pg_url: str) -> None:
    with connect(pg_url) as db:
        assert _show(db, "fsync") == "on"
        assert _show(db, "synchronous_commit") == "on"


def test_non_durable_connection_turns_synchronous_commit_off(pg_url: str) -> None:
    with connect(pg_url, durable=False) as db:
        assert _show(db, "synchronous_commit") == "off"


def test_isolation_and_read_only_are_set_per_transaction(pg_url: str) -> None:
    with connect(pg_url) as db:
        assert _show(db, "transaction_isolation") == "read committed"
        assert _show(db, "transaction_isolation", isolation="serializable") == "serializable"
        assert _show(db, "transaction_read_only", write=False) == "on"
        assert _show(db, "transaction_read_only") == "off"
        with (
            pytest.raises(Exception, match="read-only transaction"),
            db.transaction(write=False) as tx,
        ):
            tx.execute("CREATE TABLE t (a INTEGER)")


def _write_skew(pg_url: str, isolation: Isolation) -> tuple[list[int], list[TransientError]]:
    """Two transactions each read the total, then both insert what they saw."""
    with connect(pg_url) as db, db.transaction() as tx:
        tx.execute("CREATE TABLE ledger (amount BIGINT NOT NULL, seen BIGINT NOT NULL)")
    barrier = threading.Barrier(2, timeout=10)
    conflicts: list[TransientError] = []
    errors: list[BaseException] = []

    def body() -> Callable[[Transaction], None]:
        first = [True]

        def fn(tx: Transaction) -> None:
            row = tx.fetchone("SELECT COALESCE(SUM(amount), 0) FROM ledger")
            assert row is not None
            if first[0]:
                first[0] = False
                barrier.wait()  # both have read before either writes
            tx.execute("INSERT INTO ledger (amount, seen) VALUES (?, ?)", (1, row[0]))

        return fn

    def run() -> None:
        try:
            with connect(pg_url) as db:
                db.run_in_transaction(
                    body(), isolation=isolation, on_retry=lambda _a, e: conflicts.append(e)
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with connect(pg_url) as db, db.transaction(write=False) as tx:
        seen = sorted(row[0] for row in tx.fetchall("SELECT seen FROM ledger"))
    return seen, conflicts


def test_serialization_failure_is_retried_until_both_commit(pg_url: str) -> None:
    seen, conflicts = _write_skew(pg_url, "serializable")
    assert seen == [0, 1]  # the retried transaction saw the other's row
    assert len(conflicts) >= 1
    assert "could not serialize access" in str(conflicts[0])


def test_read_committed_lets_the_same_race_skew(pg_url: str) -> None:
    seen, conflicts = _write_skew(pg_url, "read committed")
    assert seen == [0, 0]  # proves the scenario above really races
    assert conflicts == []


def test_next_transaction_reconnects_after_the_server_dropped_us(
    pg_url: str, pg_server: PgServer
) -> None:
    with connect(pg_url) as db:
        with db.transaction() as tx:
            row = tx.fetchone("SELECT pg_backend_pid()")
        assert row is not None
        pg_server.admin().execute("SELECT pg_terminate_backend(%s)", (row[0],))
        with (
            pytest.raises(StoreError, match="lost or refused by database at"),
            db.transaction() as tx,
        ):
            tx.execute("SELECT 1")
        with db.transaction() as tx:
            assert tx.fetchone("SELECT 41 + ?", (1,)) == (42,)


def test_unreachable_server_is_a_store_error_without_the_password() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError) as caught:
        connect(f"postgresql://kassa:Sesame123@127.0.0.1:{port}/x", connect_timeout_ms=2000)
    message = str(caught.value)
    assert message.startswith(
        f"cannot connect to database at postgresql://kassa:***@127.0.0.1:{port}/x: "
    )
    assert "Sesame123" not in message
    assert "\n" not in message
