"""WAL checkpoints on a thread of their own while a long-running writer commits."""

from __future__ import annotations

import time
from pathlib import Path

from kassa.store import Database, connect


def autocheckpoint(db: Database) -> int:
    with db.transaction(write=False) as tx:
        row = tx.fetchone("PRAGMA wal_autocheckpoint")
    return int(row[0])


def test_the_writer_leaves_checkpoints_to_the_thread_and_gets_them_back(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = connect(f"sqlite:///{path}")
    try:
        with db.transaction() as tx:
            tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)")
        with db.background_checkpoints(interval_s=0.05):
            assert autocheckpoint(db) == 0  # no commit copies the WAL back itself
            for _ in range(40):  # ~2,000 pages of 4 KB, beyond SQLite's 1,000-page trigger
                with db.transaction() as tx:
                    tx.executemany(
                        "INSERT INTO t (pad) VALUES (?)", [(bytes(4000),) for _ in range(50)]
                    )
            deadline = time.monotonic() + 5
            while path.stat().st_size <= 4_000_000 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert path.stat().st_size > 4_000_000  # the thread moved the pages in
        assert autocheckpoint(db) == 1000
        with db.transaction(write=False) as tx:
            assert tx.fetchone("SELECT COUNT(*) FROM t") == (2000,)
    finally:
        db.close()


def test_postgresql_is_left_alone(pg_url: str) -> None:
    db = connect(pg_url)
    try:
        with db.background_checkpoints(), db.transaction() as tx:
            assert tx.fetchone("SELECT 1") == (1,)
    finally:
        db.close()
