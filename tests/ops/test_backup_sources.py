"""Sources: SQLite page diffs rebuild byte for byte, PostgreSQL URLs lose their passwords."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest
from backupkit import Clock

from kassa.errors import StoreError
from kassa.ops.backup import Repository, Secret, run_backup, targets_for
from kassa.ops.backup import sqlite_source as sq
from kassa.ops.backup.pg_source import split_password


def _fill(path: Path, rows: range, payload: bytes = b"x" * 300) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, payload) for i in rows])
    conn.close()


def _diff_then_apply(old: Path, new: Path, tmp_path: Path) -> bytes:
    page_size, _ = sq.geometry(old)
    out = io.BytesIO()
    sq.write_diff(
        new, page_size, sq.page_hashes(new, page_size), sq.page_hashes(old, page_size), out.write
    )
    rebuilt = tmp_path / "rebuilt.db"
    rebuilt.write_bytes(old.read_bytes())
    sq.apply_diff(rebuilt, io.BytesIO(out.getvalue()))
    return rebuilt.read_bytes()


@pytest.mark.parametrize("change", ["grow", "update", "shrink"])
def test_page_diff_rebuilds_the_snapshot_byte_for_byte(tmp_path: Path, change: str) -> None:
    live = tmp_path / "live.db"
    _fill(live, range(2000))
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    sq.snapshot(live, old)
    with sqlite3.connect(live) as conn:
        if change == "grow":
            conn.executemany(
                "INSERT INTO t VALUES (?, ?)", [(i, b"y" * 300) for i in range(2000, 3000)]
            )
        elif change == "update":
            conn.execute("UPDATE t SET v = ? WHERE id % 97 = 0", (b"z" * 300,))
        else:
            conn.execute("DELETE FROM t WHERE id > 100")
    if change == "shrink":
        with sqlite3.connect(live, isolation_level=None) as conn:
            conn.execute("VACUUM")  # the file gets shorter: the diff must cut it
    conn.close()
    sq.snapshot(live, new)
    assert old.read_bytes() != new.read_bytes()
    assert _diff_then_apply(old, new, tmp_path) == new.read_bytes()
    assert sq.integrity_problems(new) == []


def test_diff_that_is_cut_short_is_refused(tmp_path: Path) -> None:
    live, old = tmp_path / "live.db", tmp_path / "old.db"
    _fill(live, range(100))
    sq.snapshot(live, old)
    page_size, _ = sq.geometry(old)
    out = io.BytesIO()
    sq.write_diff(old, page_size, sq.page_hashes(old, page_size), b"", out.write)
    with pytest.raises(StoreError, match="cut short"):
        sq.apply_diff(old, io.BytesIO(out.getvalue()[:-10]))


def test_snapshot_of_a_missing_database_never_creates_one(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no SQLite database"):
        sq.snapshot(tmp_path / "absent.db", tmp_path / "copy.db")
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize(
    ("url", "stripped", "password"),
    [
        (
            "postgresql://kassa:s3cret@db.local:5432/host",
            "postgresql://kassa@db.local:5432/host",
            "s3cret",
        ),
        ("postgresql://kassa:p%40ss%2Fw@db/host", "postgresql://kassa@db/host", "p@ss/w"),
        (
            "postgresql://kassa@db/host?password=s3cret&sslmode=require",
            "postgresql://kassa@db/host?sslmode=require",
            "s3cret",
        ),
        ("postgresql://kassa@db/host", "postgresql://kassa@db/host", None),
    ],
)
def test_split_password(url: str, stripped: str, password: str | None) -> None:
    assert split_password(url) == (stripped, password)


@pytest.mark.postgres
def test_password_never_reaches_the_manifest(pg_url: str, tmp_path: Path) -> None:
    with_password = pg_url.replace("kassa@", "kassa:s3cret-pw@")  # the test server trusts
    repo = Repository(tmp_path / "backups")
    result = run_backup(
        repo,
        Secret.from_env(tmp_path, {}),
        targets_for(tmp_path, with_password, None, ""),
        kind="full",
        reason="test",
        logs_dir=None,
        now_ms=Clock(),
    )
    text = (result.path / "manifest.json").read_text()
    assert "s3cret-pw" not in text and "kassa:***@" in text


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    live = tmp_path / "host.db"
    _fill(live, range(10))
    mine, theirs = Repository(tmp_path / "backups"), Repository(tmp_path / "backups")
    with theirs.locked(), pytest.raises(StoreError, match="another backup or restore"):
        run_backup(
            mine,
            Secret.from_env(tmp_path, {}),
            targets_for(tmp_path, str(live), None, ""),
            kind="full",
            reason="test",
            logs_dir=None,
            now_ms=Clock(),
        )
    assert mine.manifests() == []
    with mine.locked(), mine.locked():  # re-entrant for the same holder
        pass
