"""SQLite specifics: durability pragmas, real lock conflicts, files that cannot be used."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kassa.errors import StoreError
from kassa.store import Transaction, TransientError, connect


def _pragma(url: str, name: str, durable: bool = True) -> object:
    with connect(url, durable=durable) as db, db.transaction(write=False) as tx:
        row = tx.fetchone(f"PRAGMA {name}")
    assert row is not None
    return row[0]


def test_durable_connection_uses_wal_and_full_sync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    assert _pragma(url, "journal_mode") == "wal"
    assert _pragma(url, "synchronous") == 2  # FULL
    assert _pragma(url, "foreign_keys") == 1
    assert _pragma(url, "busy_timeout") == 5000
    assert (tmp_path / "journal.db").exists()


def test_non_durable_connection_uses_normal_sync(tmp_path: Path) -> None:
    assert _pragma(f"sqlite:///{tmp_path / 'x.db'}", "synchronous", durable=False) == 1


def test_relative_url_opens_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with connect("sqlite:///sub/rel.db") as db, db.transaction() as tx:
        tx.execute("CREATE TABLE t (a INTEGER)")
    assert (tmp_path / "sub" / "rel.db").exists()


@pytest.mark.parametrize("where", ["missing-dir/k.db", "a-file/k.db"])
def test_unopenable_path_is_a_one_line_store_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a directory")  # fails even for root
    path = tmp_path / where
    with pytest.raises(StoreError) as caught:
        connect(f"sqlite:///{path}")
    message = str(caught.value)
    assert message.startswith(f"cannot open database at sqlite:///{path}: ")
    assert message.endswith("; check the path and permissions")
    assert "\n" not in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_a_read_only_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    with connect(f"sqlite:///{path}") as db, db.transaction() as tx:
        tx.execute("CREATE TABLE t (a INTEGER)")
    tmp_path.chmod(0o500)  # WAL and -shm files cannot be created either
    path.chmod(0o400)
    try:
        with (
            pytest.raises(StoreError, match="check the path and permissions"),
            connect(f"sqlite:///{path}") as db,
            db.transaction() as tx,
        ):
            tx.execute("INSERT INTO t (a) VALUES (?)", (1,))
    finally:
        tmp_path.chmod(0o700)


def test_a_refused_write_names_the_database_and_the_fix(tmp_path: Path) -> None:
    # query_only makes SQLite answer SQLITE_READONLY, as a read-only file does (even as root)
    path = tmp_path / "q.db"
    with connect(f"sqlite:///{path}") as db:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE t (a INTEGER)")
            tx.execute("PRAGMA query_only = 1")
        with (
            pytest.raises(StoreError) as caught,
            db.transaction() as tx,
        ):
            tx.execute("INSERT INTO t (a) VALUES (?)", (1,))
    assert str(caught.value) == (
        f"cannot write database at sqlite:///{path}: attempt to write a readonly database; "
        "check the path and permissions"
    )


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is certainly not a SQLite header" * 200)
    with pytest.raises(StoreError, match="is unreadable: file is not a database"):
        connect(f"sqlite:///{path}")


def test_a_full_database_is_a_store_error_asking_for_space(tmp_path: Path) -> None:
    with connect(f"sqlite:///{tmp_path / 'full.db'}") as db:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE t (data BLOB)")
            pages = tx.fetchone("PRAGMA page_count")
            assert pages is not None
            tx.execute(f"PRAGMA max_page_count = {pages[0] + 4}")
        with (
            pytest.raises(StoreError, match=r"cannot grow: .*; free disk space"),
            db.transaction() as tx,
        ):
            for _ in range(100):
                tx.execute("INSERT INTO t (data) VALUES (?)", (bytes(4096),))


def _hold_write_lock(url: str, held: threading.Event, release: threading.Event) -> None:
    with connect(url) as holder, holder.transaction() as tx:
        tx.execute("INSERT INTO t (who) VALUES (?)", ("holder",))
        held.set()
        assert release.wait(10)


def _prepare(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    with connect(url) as db, db.transaction() as tx:
        tx.execute("CREATE TABLE t (who TEXT NOT NULL)")
    return url


def test_retry_helper_waits_out_a_real_lock(tmp_path: Path) -> None:
    url = _prepare(tmp_path)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(url, held, release))
    holder.start()
    assert held.wait(10)
    conflicts: list[TransientError] = []

    def on_retry(attempt: int, error: TransientError) -> None:
        conflicts.append(error)
        if attempt == 2:
            release.set()  # the holder commits only after we have failed twice

    def insert(tx: Transaction) -> int:
        return tx.execute("INSERT INTO t (who) VALUES (?)", ("contender",)).rowcount

    try:
        with connect(url, busy_timeout_ms=10) as contender:
            assert contender.run_in_transaction(insert, retries=50, on_retry=on_retry) == 1
            with contender.transaction(write=False) as tx:
                rows = tx.fetchall("SELECT who FROM t ORDER BY rowid")
    finally:
        release.set()
        holder.join()
    assert len(conflicts) >= 2
    assert all("database is locked" in str(error) for error in conflicts)
    assert rows == [("holder",), ("contender",)]


def test_retry_helper_gives_up_after_its_retries(tmp_path: Path) -> None:
    url = _prepare(tmp_path)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(url, held, release))
    holder.start()
    assert held.wait(10)
    attempts: list[int] = []
    try:
        with (
            connect(url, busy_timeout_ms=5) as contender,
            pytest.raises(TransientError, match="gave up after 3 attempts"),
        ):
            contender.run_in_transaction(
                lambda tx: tx.execute("DELETE FROM t"),
                retries=2,
                on_retry=lambda attempt, _error: attempts.append(attempt),
            )
    finally:
        release.set()
        holder.join()
    assert attempts == [1, 2]


def test_readers_are_not_blocked_by_a_writer_in_wal_mode(tmp_path: Path) -> None:
    url = _prepare(tmp_path)
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(url, held, release))
    holder.start()
    assert held.wait(10)
    try:
        with connect(url, busy_timeout_ms=5) as reader, reader.transaction(write=False) as tx:
            assert tx.fetchall("SELECT who FROM t") == []  # uncommitted row not visible
    finally:
        release.set()
        holder.join()
