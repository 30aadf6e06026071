"""A day of 1,000,000 host transactions and the terminals' journals of it, fast.

The host side goes into a host database by direct inserts (executemany, 100,000 rows per
transaction), shaped as the host core writes them: `txns` rows (sales approved, declined,
voided with their void) with their ledger entries and postings on the card and merchant
accounts, and the `accounts` projection to match. The terminal side is one JSON-lines
file in the shape of `kassa pos journal --json`, a `tid` in every line.

Differences are planted, `planted` of each kind, so a reconciliation run can be checked:
missing_at_host (a line the host never saw), missing_at_terminal (a host approval with
no line), amount_mismatch (the line says 1 fen more), status_mismatch (the line says
declined, the host approved).
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kassa.backoffice import schema as backoffice_schema
from kassa.backoffice.recon import ensure_schema
from kassa.host.schema import COMPONENT, MIGRATIONS
from kassa.store import Database, migrate

CHUNK = 100_000
FIXTURE_CACHE_KIB = 1_048_576  # 1 GiB: the whole day's database at 1,000,000 rows
KINDS = ("missing_at_host", "missing_at_terminal", "amount_mismatch", "status_mismatch")
_TXN_COLS = ("id", "tid", "batch", "stan", "mti", "txn_type", "content_hash", "mid", "card_ref",
             "pan_masked", "amount_fen", "rrn", "auth_code", "response_code", "status",
             "orig_id", "entry_id", "settle_date", "created_ms", "updated_ms", "request",
             "response")  # fmt: skip
_REQUEST = json.dumps({"mti": "0200", "fields": {"3": "000000", "22": "021"}}).encode()


@dataclass
class Day:
    """What was generated, for checking a run against."""

    host_rows: int = 0
    journal_lines: int = 0
    planted: Counter[str] = field(default_factory=Counter)
    merchants: int = 0


def _mid(m: int) -> str:
    return f"89831004899{m:04d}"


def _setup(db: Database, terminals: int, merchants: int, now_ms: int) -> None:
    migrate(db, COMPONENT, MIGRATIONS)
    migrate(db, backoffice_schema.COMPONENT, backoffice_schema.MIGRATIONS)
    ensure_schema(db)
    if db.dialect == "sqlite":
        # Rows arrive in id order but most indexes (cards, entries, terminals) take them at
        # random places: with the default 2 MB page cache nearly every insert read and
        # wrote pages of a 1 GB file. This connection (the fixture's only) caches them.
        with db.transaction() as tx:
            tx.execute(f"PRAGMA cache_size = {-FIXTURE_CACHE_KIB}")
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO merchants (mid, name, mcc, fee_rate_ppm, credit_allowed, txn_limit_fen,"
            " status, created_ms) VALUES (?, ?, '5411', 3800, 0, 5000000, 'active', ?)",
            [(_mid(m), f"对账商户{m}", now_ms) for m in range(merchants)],
        )
        tx.executemany(
            "INSERT INTO terminals (tid, mid, tmk_sealed, status, batch, created_ms)"
            " VALUES (?, ?, ?, 'active', '000001', ?)",
            [(f"{t + 1:08d}", _mid(t % merchants), b"\x00" * 44, now_ms) for t in range(terminals)],
        )


def _plan(count: int, terminals: int) -> tuple[bytearray, dict[int, int]]:
    """Each transaction's kind (0 approved sale, 1 declined sale, 2 void) and, for each
    void, the index of the sale it voids (the terminal's last approved sale)."""
    rng = random.Random(11)
    kinds, voids, last = bytearray(count), dict[int, int](), dict[int, int]()
    for n in range(count):
        t, roll = n % terminals, rng.random()
        if roll < 0.02 and t in last:
            kinds[n], voids[n] = 2, last.pop(t)
        elif roll < 0.06:
            kinds[n] = 1
        else:
            last[t] = n
    return kinds, voids


def _rows(count: int, terminals: int, merchants: int, start_ms: int, span_ms: int,
          kinds: bytearray, voids: dict[int, int]) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Host transactions as dicts, in id order (id = index + 1)."""
    per_terminal = -(-count // terminals)
    voided = set(voids.values())
    for n in range(count):
        t, k = n % terminals, n // terminals
        tid, stan = f"{t + 1:08d}", f"{k + 1:06d}"
        at = start_ms + (k * span_ms) // per_terminal + t
        card = f"c{n % 50_000:023d}"
        if kinds[n] == 2:
            o = voids[n]
            yield _txn(n + 1, tid, stan, "void", card, 100 + o % 90_000, "approved", at,
                       merchants, orig=(o + 1, f"{o // terminals + 1:06d}"))  # fmt: skip
        else:
            status = "declined" if kinds[n] == 1 else "voided" if n in voided else "approved"
            yield _txn(n + 1, tid, stan, "sale", card, 100 + n % 90_000, status, at, merchants)


def _txn(txn_id: int, tid: str, stan: str, kind: str, card: str, amount: int, status: str,
         at: int, merchants: int, orig: tuple[int, str] | None = None) -> dict[str, Any]:  # fmt: skip
    mid = _mid((int(tid) - 1) % merchants)
    approved = status in ("approved", "voided")
    entry = f"{tid}:000001:{stan}:0200" if approved else None
    return {"id": txn_id, "tid": tid, "batch": "000001", "stan": stan, "mti": "0200",
            "txn_type": kind, "content_hash": f"{txn_id:032x}", "mid": mid, "card_ref": card,
            "pan_masked": "621226******1234", "amount_fen": amount, "rrn": f"{txn_id:012d}",
            "auth_code": "123456" if approved else None,
            "response_code": "00" if approved else "51", "status": status,
            "orig_id": orig[0] if orig else None, "entry_id": entry, "settle_date": "1118",
            "created_ms": at, "updated_ms": at, "request": _REQUEST, "response": b"\x02\x10",
            "orig_stan": orig[1] if orig else None}  # fmt: skip


def _ledger(row: dict[str, Any]) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    entry, card, merchant = row["entry_id"], f"card:{row['card_ref']}", f"merchant:{row['mid']}"
    amount = row["amount_fen"] if row["txn_type"] == "sale" else -row["amount_fen"]
    reverses = f"{row['tid']}:000001:{row['orig_stan']}:0200" if row["orig_stan"] else None
    head = (entry, f"{row['tid']}:000001:{row['stan']}", row["txn_type"], row["created_ms"], "",
            reverses)  # fmt: skip
    return head, [(entry, 0, card, -amount), (entry, 1, merchant, amount)]


def _line(row: dict[str, Any], state: str, amount: int) -> str:
    return json.dumps({"tid": row["tid"], "batch": "000001", "stan": row["stan"],
                       "rrn": row["rrn"], "txn_type": row["txn_type"], "amount_fen": amount,
                       "state": state, "created_ms": row["created_ms"],
                       "pan_masked": "621226******1234"})  # fmt: skip


def generate(db: Database, journal: Path, count: int, terminals: int, merchants: int,
             start_ms: int, span_ms: int, planted: int) -> Day:  # fmt: skip
    """Write the host day into `db` and the terminals' lines into `journal`."""
    _setup(db, terminals, merchants, start_ms)
    day = Day(merchants=merchants)
    kinds, voids = _plan(count, terminals)
    rng = random.Random(13)
    plant = {k: set(rng.sample(range(count), planted)) for k in KINDS[1:]}
    balances: Counter[str] = Counter()
    rows = _rows(count, terminals, merchants, start_ms, span_ms, kinds, voids)
    with journal.open("w", encoding="utf-8") as out:
        for start in range(0, count, CHUNK):
            chunk = list(itertools.islice(rows, CHUNK))
            _write_chunk(db, chunk, balances)
            for n, row in enumerate(chunk, start):
                day.journal_lines += _journal(out, row, n, plant, day)
            day.host_rows += len(chunk)
        for k in range(planted):  # lines for requests the host never saw
            line = {"tid": f"{k % terminals + 1:08d}", "stan": f"{900_000 + k:06d}",
                    "rrn": f"{9 * 10**11 + k:012d}", "txn_type": "sale",
                    "created_ms": start_ms + k}  # fmt: skip
            out.write(_line(line, "approved", 1000) + "\n")
            day.journal_lines += 1
        day.planted["missing_at_host"] = planted
    with db.transaction() as tx:
        tx.executemany("INSERT INTO accounts (account, balance_fen) VALUES (?, ?)",
                       list(balances.items()))  # fmt: skip
    return day


def _journal(out: Any, row: dict[str, Any], n: int, plant: dict[str, set[int]],
             day: Day) -> int:  # fmt: skip
    approved = row["status"] in ("approved", "voided")
    state = row["status"]
    amount = row["amount_fen"]
    if approved and n in plant["missing_at_terminal"]:
        day.planted["missing_at_terminal"] += 1
        return 0
    if approved and n in plant["amount_mismatch"]:
        day.planted["amount_mismatch"] += 1
        amount += 1
    elif approved and row["txn_type"] == "sale" and n in plant["status_mismatch"]:
        day.planted["status_mismatch"] += 1
        state = "declined"
    out.write(_line(row, state, amount) + "\n")
    return 1


def _write_chunk(db: Database, rows: list[dict[str, Any]], balances: Counter[str]) -> None:
    txns, heads, postings = [], [], []
    for row in rows:
        txns.append(tuple(row[c] for c in _TXN_COLS))
        if row["entry_id"]:
            head, lines = _ledger(row)
            heads.append(head)
            postings += lines
            for _, _, account, amount in lines:
                balances[account] += amount
    marks = ", ".join("?" for _ in _TXN_COLS)
    with db.transaction() as tx:
        tx.executemany(f"INSERT INTO txns ({', '.join(_TXN_COLS)}) VALUES ({marks})", txns)
        tx.executemany("INSERT INTO ledger_entries (entry_id, txn_key, kind, at_ms, memo,"
                       " reverses) VALUES (?, ?, ?, ?, ?, ?)", heads)  # fmt: skip
        tx.executemany("INSERT INTO ledger_postings (entry_id, seq, account, amount_fen)"
                       " VALUES (?, ?, ?, ?)", postings)  # fmt: skip
