"""Helpers for the backup tests: a real host with real sales, table snapshots, a clock."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

from hostkit import Term, open_host

from kassa.iso8583.transactions import TxnType
from kassa.ops.backup import Repository, Secret
from kassa.store import Database, connect

__all__ = ["Clock", "Term", "make_term", "open_host", "rows_of", "sell"]


class Clock:
    """A clock the test moves: one minute per reading, so backups sort by time."""

    def __init__(self, start_ms: int = 1_795_000_000_000) -> None:
        self.now = start_ms

    def __call__(self) -> int:
        self.now += 60_000
        return self.now


def make_term(db_url: str) -> Term:
    db, core = open_host(db_url)
    term = Term(db, core)
    term.sign_on()
    return term


def sell(term: Term, *amounts_fen: int) -> None:
    """Approved sales: new ledger entries, postings, txns, and balances updated in place."""
    for amount in amounts_fen:
        reply = term.send(term.request(TxnType.SALE, amount))
        assert reply[39] == "00", reply[39]


def rows_of(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), bytes normalised: what 'the same data' means."""
    with connect(url) as db:
        return _rows(db)


def _rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.transaction(write=False) as tx:
        if tx.dialect == "sqlite":
            names = [
                r[0]
                for r in tx.fetchall(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    " AND name NOT LIKE 'sqlite_%'"
                )
            ]
        else:
            names = [
                r[0]
                for r in tx.fetchall("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]
        out = {}
        for name in sorted(names):
            rows = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                for r in tx.fetchall(f"SELECT * FROM {name}")
            ]
            out[name] = sorted(rows, key=repr)
    return out


def repo_and_secret(home: Path) -> tuple[Repository, Secret]:
    return Repository(home / "backups"), Secret.from_env(home, {})


BACKUP_ID = re.compile(r"[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}")  # what `kassa backup run` prints
DAY_MS = 86_400_000


def new_home(tmp_path: Path, host_dir: bool = True) -> Path:
    """A KASSA_HOME with a log file to back up (and a host/ folder for a host database)."""
    base = tmp_path / "home"
    (base / "logs").mkdir(parents=True)
    (base / "logs" / "kassa.log").write_text('{"msg": "started"}\n')
    if host_dir:
        (base / "host").mkdir()
    return base
