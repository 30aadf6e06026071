"""The storage limit under the host (used by benchmarks/host.py, runnable alone).

The rows a host sale writes, with the host's indexes and constraints and payloads of the
same size: the txn row (request JSON, response), a ledger entry, its 2 postings, the 2
account balances (upsert), the RRN counter and the terminal's last-seen time; each
request in its own savepoint, `group` requests per durable commit, as `GroupCommitter`
does, one writer. In tables of its own (floor_*) in the same database, so the host's
data and `kassa host check` are untouched. No Python work but the driver calls: the
figure is what the database can take, the ceiling for the host on it.

    .venv/bin/python benchmarks/storagefloor.py sqlite:///var/tmp/x.db [--group 64]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from kassa.store import Database, Transaction, connect, expand_sql

_DDL = """
CREATE TABLE IF NOT EXISTS floor_txns (
    id {pk}, tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, mti TEXT NOT NULL,
    txn_type TEXT NOT NULL, content_hash TEXT NOT NULL, mid TEXT NOT NULL, card_ref TEXT,
    pan_masked TEXT, amount_fen {bigint} NOT NULL, rrn TEXT, auth_code TEXT,
    response_code TEXT NOT NULL, status TEXT NOT NULL, orig_id {bigint}, entry_id TEXT,
    risk TEXT, settle_date TEXT NOT NULL, created_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL, request {blob} NOT NULL, response {blob} NOT NULL,
    UNIQUE (tid, batch, stan, mti));
CREATE INDEX IF NOT EXISTS floor_txns_rrn ON floor_txns(rrn);
CREATE INDEX IF NOT EXISTS floor_txns_batch ON floor_txns(tid, batch, status);
CREATE INDEX IF NOT EXISTS floor_txns_card_day ON floor_txns(card_ref, settle_date);
CREATE INDEX IF NOT EXISTS floor_txns_auth ON floor_txns(card_ref, auth_code);
CREATE TABLE IF NOT EXISTS floor_entries (
    seq {pk}, entry_id TEXT NOT NULL UNIQUE, txn_key TEXT NOT NULL, kind TEXT NOT NULL,
    at_ms {bigint} NOT NULL, memo TEXT NOT NULL, reverses TEXT);
CREATE INDEX IF NOT EXISTS floor_entries_txn ON floor_entries(txn_key);
CREATE TABLE IF NOT EXISTS floor_postings (
    entry_id TEXT NOT NULL REFERENCES floor_entries(entry_id), seq INTEGER NOT NULL,
    account TEXT NOT NULL, amount_fen {bigint} NOT NULL, PRIMARY KEY (entry_id, seq));
CREATE TABLE IF NOT EXISTS floor_accounts (account TEXT PRIMARY KEY, balance_fen {bigint} NOT NULL);
CREATE TABLE IF NOT EXISTS floor_counters (name TEXT PRIMARY KEY, value {bigint} NOT NULL);
CREATE TABLE IF NOT EXISTS floor_terminals (tid TEXT PRIMARY KEY, last_seen_ms {bigint});
"""
_REQUEST = b'{"mti": "0200", "fields": {' + b'"x": "' + b"9" * 380 + b'"}}'
_RESPONSE = bytes(150)


@dataclass(frozen=True, slots=True)
class Floor:
    requests: int
    seconds: float
    note: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _setup(db: Database) -> None:
    with db.transaction() as tx:
        tx.executescript(expand_sql(_DDL, db.dialect))
        tx.execute("DELETE FROM floor_counters")
        tx.execute("INSERT INTO floor_counters (name, value) VALUES ('rrn', 0)")
        tx.executemany("INSERT INTO floor_terminals (tid) VALUES (?) ON CONFLICT DO NOTHING",
                       [(f"{t:08d}",) for t in range(1000)])  # fmt: skip


def _one_sale(tx: Transaction, n: int, now: int) -> None:
    tid, stan, card, mid = f"{n % 1000:08d}", f"{n:012d}", f"c{n % 20000:023d}", f"m{n % 50:014d}"
    rrn = tx.fetchone("UPDATE floor_counters SET value = value + 1 WHERE name = 'rrn'"
                      " RETURNING value")  # fmt: skip
    assert rrn is not None
    entry = f"{tid}:000001:{stan}:0200"
    tx.execute("INSERT INTO floor_entries (entry_id, txn_key, kind, at_ms, memo, reverses)"
               " VALUES (?, ?, 'sale', ?, '', NULL)", (entry, entry[:-5], now))  # fmt: skip
    tx.executemany("INSERT INTO floor_postings (entry_id, seq, account, amount_fen)"
                   " VALUES (?, ?, ?, ?)", [(entry, 0, f"card:{card}", -1000),
                                           (entry, 1, f"merchant:{mid}", 1000)])  # fmt: skip
    for account, amount in ((f"card:{card}", -1000), (f"merchant:{mid}", 1000)):
        tx.execute("INSERT INTO floor_accounts (account, balance_fen) VALUES (?, ?)"
                   " ON CONFLICT (account) DO UPDATE"
                   " SET balance_fen = floor_accounts.balance_fen + excluded.balance_fen",
                   (account, amount))  # fmt: skip
    tx.fetchone(
        "INSERT INTO floor_txns (tid, batch, stan, mti, txn_type, content_hash, mid, card_ref,"
        " pan_masked, amount_fen, rrn, auth_code, response_code, status, entry_id,"
        " settle_date, created_ms, updated_ms, request, response) VALUES (?, '000001', ?,"
        " '0200', 'sale', ?, ?, ?, '621226******1234', 1000, ?, '123456', '00', 'approved',"
        " ?, '1122', ?, ?, ?, ?) RETURNING id",
        (tid, stan, f"{n:032x}", mid, card, f"{rrn[0]:012d}", entry, now, now, _REQUEST,
         _RESPONSE),
    )  # fmt: skip
    tx.execute("UPDATE floor_terminals SET last_seen_ms = ? WHERE tid = ?", (now, tid))


def run(url: str, group: int, requests: int, seconds: float) -> Floor:
    """At most `requests` sale-writes (or `seconds`), `group` per durable commit."""
    group = max(1, group)
    db = connect(url, durable=True)
    try:
        _setup(db)
        base = int(time.time() * 1000) * 1000  # unique identities across runs
        started, done = time.perf_counter(), 0
        while done < requests and time.perf_counter() - started < seconds:
            with db.transaction() as tx:
                for n in range(done, done + group):
                    with tx.savepoint():
                        _one_sale(tx, base + n, base // 1000)
            done += group
        elapsed = time.perf_counter() - started
    finally:
        db.close()
    return Floor(done, elapsed, f"{group} per commit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--group", type=int, default=64)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    for group in sorted({1, args.group}):
        floor = run(args.url, group, args.requests, args.seconds)
        print(f"{group:4d} per commit: {floor.rate:10,.0f} sale-writes/s"
              f" ({floor.requests} in {floor.seconds:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
