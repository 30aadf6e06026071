"""SQL for the host: reads and appends inside a caller's transaction (`tx`).

Every function takes the open `Transaction`; the caller decides the boundaries (the
server's group commit puts many requests in one transaction). Reads of what this module
defers to COMMIT (account balances, the SQLite RRN counter) add what is deferred.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# The ledger's part of the store lives in its own module; the host's callers find it here.
from kassa.host._repo_ledger import ACCOUNTS
from kassa.host._repo_ledger import append_entry as append_entry  # noqa: PLC0414
from kassa.host._repo_ledger import balance as balance  # noqa: PLC0414
from kassa.host._repo_ledger import entries_where as entries_where  # noqa: PLC0414
from kassa.host._repo_ledger import entry as entry  # noqa: PLC0414
from kassa.host.records import Card, CardKind, Merchant, Status, Terminal, TxnRow, TxnStatus
from kassa.ledger import card_account
from kassa.store import Transaction

_MERCHANT_COLS = (
    "mid, name, mcc, fee_rate_ppm, fee_fixed_fen, fee_min_fen, fee_max_fen, credit_allowed,"
    " txn_limit_fen, daily_limit_fen, status"
)
_TERMINAL_COLS = (
    "tid, mid, tmk_sealed, status, batch, key_mode, keys_sealed, keys_ms, signed_on,"
    " last_seen_ms, software_version"
)
_CARD_COLS = (
    "card_ref, pan_hash, pan_masked, expiry, pvv, kind, credit_limit_fen, status,"
    " daily_limit_fen, daily_count_max, wrong_pin_count"
)
_TXN_COLS = (
    "id, tid, batch, stan, mti, txn_type, content_hash, mid, card_ref, pan_masked, amount_fen,"
    " rrn, auth_code, response_code, status, orig_id, entry_id, settle_date, created_ms, response"
)


def _merchant(row: Any) -> Merchant:
    r = list(row)
    r[7], r[10] = bool(r[7]), Status(r[10])
    return Merchant(*r)


def _terminal(row: Any) -> Terminal:
    r = list(row)
    r[2] = bytes(r[2])
    r[3] = Status(r[3])
    r[6] = bytes(r[6]) if r[6] is not None else None
    r[8] = bool(r[8])
    return Terminal(*r)


def _card(row: Any) -> Card:
    r = list(row)
    r[5], r[7] = CardKind(r[5]), Status(r[7])
    return Card(*r)


def _txn(row: Any) -> TxnRow:
    r = list(row)
    r[14], r[19] = TxnStatus(r[14]), bytes(r[19])
    return TxnRow(*r)


def merchant(tx: Transaction, mid: str) -> Merchant | None:
    row = tx.fetchone(f"SELECT {_MERCHANT_COLS} FROM merchants WHERE mid = ?", (mid,))
    return _merchant(row) if row else None


def terminal(tx: Transaction, tid: str) -> Terminal | None:
    row = tx.fetchone(f"SELECT {_TERMINAL_COLS} FROM terminals WHERE tid = ?", (tid,))
    return _terminal(row) if row else None


_TERMINAL_MERCHANT_SQL = (
    "SELECT "
    + ", ".join(f"t.{c.strip()}" for c in _TERMINAL_COLS.split(","))
    + ", "
    + ", ".join(f"m.{c.strip()}" for c in _MERCHANT_COLS.split(","))
    + " FROM terminals t LEFT JOIN merchants m ON m.mid = t.mid WHERE t.tid = ?"
)
_TERMINAL_COUNT = len(_TERMINAL_COLS.split(","))


_LOCKING_TERMINAL_MERCHANT_SQL = (  # PostgreSQL: lock, note as seen and read in one go
    f"WITH t AS (UPDATE terminals SET last_seen_ms = ? WHERE tid = ? RETURNING {_TERMINAL_COLS})"
    " SELECT "
    + ", ".join(f"t.{c.strip()}" for c in _TERMINAL_COLS.split(","))
    + ", "
    + ", ".join(f"m.{c.strip()}" for c in _MERCHANT_COLS.split(","))
    + " FROM t LEFT JOIN merchants m ON m.mid = t.mid"
)


def claim_terminal(
    tx: Transaction, tid: str, now_ms: int
) -> tuple[Terminal | None, Merchant | None]:
    """The terminal and its merchant (one query), the terminal's row locked until this
    transaction ends and noted as seen now (`lock_terminal`, whose reason holds here:
    call this before the idempotency look-up). PostgreSQL: one statement, so the lock
    costs no round trip of its own and the row is read under it. SQLite: the read, then
    `lock_terminal` (the transaction already holds the write lock)."""
    if tx.dialect == "postgresql":
        return _terminal_and_merchant(tx.fetchone(_LOCKING_TERMINAL_MERCHANT_SQL, (now_ms, tid)))
    found = _terminal_and_merchant(tx.fetchone(_TERMINAL_MERCHANT_SQL, (tid,)))
    if found[0] is not None:
        lock_terminal(tx, tid, now_ms)
    return found


def _terminal_and_merchant(row: Any) -> tuple[Terminal | None, Merchant | None]:
    if row is None:
        return None, None
    head, tail = row[:_TERMINAL_COUNT], row[_TERMINAL_COUNT:]
    return _terminal(head), (_merchant(tail) if tail[0] is not None else None)


def card_by_hash(tx: Transaction, pan_hash: str) -> Card | None:
    row = tx.fetchone(f"SELECT {_CARD_COLS} FROM cards WHERE pan_hash = ?", (pan_hash,))
    return _card(row) if row else None


# Approved debits (`txns u`) of one settlement date: what the daily limits count.
_DEBITS_OF_DAY = (
    "u.settle_date = ? AND u.status IN ('approved', 'completed')"
    " AND u.txn_type IN ('sale', 'preauth', 'completion', 'offline_sale', 'offline_upload')"
)
_DAY_USAGE_WHERE = f"FROM txns u WHERE u.card_ref = c.card_ref AND {_DEBITS_OF_DAY}"
_CARD_STATE_SQL = (
    "SELECT "
    + ", ".join(f"c.{c.strip()}" for c in _CARD_COLS.split(","))
    + f", (SELECT COUNT(*) {_DAY_USAGE_WHERE}), (SELECT COALESCE(SUM(u.amount_fen), 0)"
    + f" {_DAY_USAGE_WHERE}), a.balance_fen FROM cards c"
    # the card's available-funds account, named as kassa.ledger.card_account names it
    + " LEFT JOIN accounts a ON a.account = 'card:' || c.card_ref WHERE c.pan_hash = ?"
)


@dataclass(frozen=True, slots=True)
class CardState:
    """A card as a transaction decides on it: the card, the balance of its available-funds
    account (what this transaction deferred included) and its usage on the settlement
    date: (count, amount) of its approved debits (sales, pre-authorisations, completions,
    offline sales), for its daily limits."""

    card: Card
    balance: int
    day_usage: tuple[int, int]


def card_state(tx: Transaction, pan_hash: str, settle_date: str) -> CardState | None:
    """The card with this PAN hash, its balance and its day's usage in one query (one round
    trip instead of three)."""
    row = tx.fetchone(_CARD_STATE_SQL, (settle_date, settle_date, pan_hash))
    if row is None:
        return None
    width = len(row) - 3
    card, account, stored = _card(row[:width]), card_account(row[0]), int(row[-1] or 0)
    tx.note_read(ACCOUNTS, account, stored)  # decided on: see _refuse_overdraft_race
    usage = (int(row[width]), int(row[width + 1]))
    return CardState(card, stored + tx.deferred(ACCOUNTS, account), usage)


def card_by_ref(tx: Transaction, card_ref: str) -> Card | None:
    row = tx.fetchone(f"SELECT {_CARD_COLS} FROM cards WHERE card_ref = ?", (card_ref,))
    return _card(row) if row else None


def set_wrong_pins(tx: Transaction, card_ref: str, count: int) -> None:
    tx.execute("UPDATE cards SET wrong_pin_count = ? WHERE card_ref = ?", (count, card_ref))


def set_keys(
    tx: Transaction, tid: str, mode: str, sealed: bytes, now_ms: int, version: str | None
) -> None:
    tx.execute(
        "UPDATE terminals SET key_mode = ?, keys_sealed = ?, keys_ms = ?, signed_on = 1,"
        " last_seen_ms = ?, software_version = COALESCE(?, software_version) WHERE tid = ?",
        (mode, sealed, now_ms, now_ms, version, tid),
    )


def set_signed_off(tx: Transaction, tid: str, now_ms: int) -> None:
    tx.execute("UPDATE terminals SET signed_on = 0, last_seen_ms = ? WHERE tid = ?", (now_ms, tid))


def touch_terminal(tx: Transaction, tid: str, now_ms: int) -> None:
    """Note the terminal as seen now (sign-on, echo, ...); takes its row lock, see
    `lock_terminal` for the call that is there for that lock."""
    tx.execute("UPDATE terminals SET last_seen_ms = ? WHERE tid = ?", (now_ms, tid))


def set_terminal_batch(tx: Transaction, tid: str, batch: str) -> None:
    tx.execute("UPDATE terminals SET batch = ? WHERE tid = ?", (batch, tid))


def next_counter(tx: Transaction, name: str) -> int:
    """Increment counter `name` and return its new value. The UPDATE locks the counter's
    row until the transaction ends: every transaction taking it is serialised behind the
    others (see `next_rrn`, which avoids that on PostgreSQL)."""
    row = tx.fetchone(
        "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", (name,)
    )
    assert row is not None, f"counter {name} missing"
    return int(row[0])


# Transactions -------------------------------------------------------------------------


_TXN_AND_ORPHAN_SQL = (
    "SELECT EXISTS(SELECT 1 FROM orphan_reversals WHERE tid = ? AND batch = ? AND stan = ?), "
    + ", ".join(f"t.{c.strip()}" for c in _TXN_COLS.split(","))
    + " FROM (SELECT 1 AS one) AS probe LEFT JOIN txns t"
    " ON t.tid = ? AND t.batch = ? AND t.stan = ? AND t.mti = ?"
)


def txn_and_orphan(
    tx: Transaction, tid: str, batch: str, stan: str, mti: str
) -> tuple[TxnRow | None, bool]:
    """The stored request with this identity (TID+batch+STAN+MTI), if any, and whether a
    reversal of TID+batch+STAN came before its original (an orphan reversal): one
    query, one round trip."""
    row = tx.fetchone(_TXN_AND_ORPHAN_SQL, (tid, batch, stan, tid, batch, stan, mti))
    assert row is not None  # the probe row is always there
    return (_txn(row[1:]) if row[1] is not None else None), bool(row[0])


def txns_by_stan(tx: Transaction, tid: str, batch: str, stan: str) -> list[TxnRow]:
    rows = tx.fetchall(
        f"SELECT {_TXN_COLS} FROM txns WHERE tid = ? AND batch = ? AND stan = ?"
        " AND mti IN ('0100', '0200', '0220')",
        (tid, batch, stan),
    )
    return [_txn(r) for r in rows]


def txn_by_id(tx: Transaction, txn_id: int) -> TxnRow | None:
    row = tx.fetchone(f"SELECT {_TXN_COLS} FROM txns WHERE id = ?", (txn_id,))
    return _txn(row) if row else None


def txns_by_rrn(tx: Transaction, rrn: str) -> list[TxnRow]:
    rows = tx.fetchall(f"SELECT {_TXN_COLS} FROM txns WHERE rrn = ?", (rrn,))
    return [_txn(r) for r in rows]


def txns_by_auth(tx: Transaction, card_ref: str, auth_code: str) -> list[TxnRow]:
    rows = tx.fetchall(
        f"SELECT {_TXN_COLS} FROM txns WHERE card_ref = ? AND auth_code = ?", (card_ref, auth_code)
    )
    return [_txn(r) for r in rows]


def insert_txn(tx: Transaction, values: dict[str, Any]) -> int:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    row = tx.fetchone(
        f"INSERT INTO txns ({cols}) VALUES ({marks}) RETURNING id", tuple(values.values())
    )
    assert row is not None
    return int(row[0])


def set_txn_status(tx: Transaction, txn_id: int, status: TxnStatus, now_ms: int) -> None:
    tx.execute(
        "UPDATE txns SET status = ?, updated_ms = ? WHERE id = ?", (status.value, now_ms, txn_id)
    )


def refunded_fen(tx: Transaction, orig_id: int) -> int:
    row = tx.fetchone(
        "SELECT COALESCE(SUM(amount_fen), 0) FROM txns WHERE orig_id = ? AND txn_type = 'refund'"
        " AND status = 'approved'",
        (orig_id,),
    )
    return int(row[0]) if row else 0


def merchant_day_fen(tx: Transaction, mid: str, settle_date: str) -> int:
    """The amount of the merchant's approved debits on one settlement date."""
    row = tx.fetchone(
        f"SELECT COALESCE(SUM(u.amount_fen), 0) FROM txns u WHERE u.mid = ? AND {_DEBITS_OF_DAY}",
        (mid, settle_date),
    )
    return int(row[0]) if row else 0


def batch_txns(tx: Transaction, tid: str, batch: str) -> Iterator[TxnRow]:
    rows = tx.fetchall(
        f"SELECT {_TXN_COLS} FROM txns WHERE tid = ? AND batch = ? ORDER BY id", (tid, batch)
    )
    return (_txn(r) for r in rows)


# Orphan reversals: an 0400 for a request the host never saw --------------------------


def add_orphan_reversal(
    tx: Transaction, tid: str, batch: str, stan: str, amount: int, now_ms: int
) -> None:
    tx.execute(
        "INSERT INTO orphan_reversals (tid, batch, stan, amount_fen, created_ms)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (tid, batch, stan, amount, now_ms),
    )


def log_event(
    tx: Transaction, now_ms: int, tid: str | None, kind: str, code: str | None, detail: str
) -> None:
    tx.execute(
        "INSERT INTO events (at_ms, tid, kind, code, detail) VALUES (?, ?, ?, ?, ?)",
        (now_ms, tid, kind, code, detail),
    )


def next_rrn(tx: Transaction) -> int:
    """The next retrieval reference number, unique across every host node.

    PostgreSQL: `nextval('rrn_seq')` (host schema 3), which takes no row lock, so the
    group transactions of several nodes never queue or deadlock on it; taken
    `_RRN_BLOCK` at a time per transaction (a group), the numbers it does not use, or
    used by a rolled-back unit, are skipped (RRNs need not be gapless, only unique).
    SQLite: the `counters` row, read once per transaction and moved by a deferred delta
    written at COMMIT (one statement per group instead of one per sale). Safe because a
    SQLite transaction begins IMMEDIATE: it holds the database's write lock from its
    first statement, so no other writer (another process) moves the row in between; a
    rolled-back savepoint takes its numbers back with its delta, and they were never
    answered (nothing of a rolled-back unit is sent).
    """
    if tx.dialect == "postgresql":
        block = tx.joined(_RrnBlock, _RrnBlock)
        if not block.numbers:  # one round trip for the next `_RRN_BLOCK` answers
            rows = tx.fetchall(
                "SELECT nextval('rrn_seq') FROM generate_series(1, ?)", (_RRN_BLOCK,)
            )
            block.numbers.extend(sorted(int(r[0]) for r in rows))
        return block.numbers.popleft()
    seen = tx.reads(_COUNTERS).get("rrn")
    if seen:
        (stored,) = seen
    else:
        row = tx.fetchone("SELECT value FROM counters WHERE name = 'rrn'")
        assert row is not None, "counter rrn missing"
        stored = int(row[0])
        tx.note_read(_COUNTERS, "rrn", stored)
    tx.defer(_COUNTERS, "rrn", 1, _move_counters)
    return stored + tx.deferred(_COUNTERS, "rrn")


_COUNTERS = "counters"  # the kind of the deferred counter moves (`next_rrn` on SQLite)
_RRN_BLOCK = 16


class _RrnBlock:
    """Sequence numbers this transaction took and has not used yet (PostgreSQL). Joined
    to the transaction (`Transaction.joined`) for its lifetime only; nothing to undo: a
    number once taken is never given out again, used or not."""

    __slots__ = ("numbers",)

    def __init__(self) -> None:
        self.numbers: deque[int] = deque()

    def mark(self) -> int:
        return 0

    def undo_to(self, mark: int) -> None:
        """Numbers of a rolled-back unit stay taken (skipped), as `nextval`'s are."""


def _move_counters(tx: Transaction, totals: list[tuple[str, int]]) -> None:
    tx.executemany(
        "UPDATE counters SET value = value + ? WHERE name = ?",
        [(total, name) for name, total in totals],
    )


def lock_terminal(tx: Transaction, tid: str, now_ms: int) -> None:
    """Lock the terminal's row until this transaction ends (noting it as seen now).

    Load-bearing: `HostCore._gate` takes it (`claim_terminal`) BEFORE the idempotency
    look-up. The same request sent to two host nodes at once (a retry on the other node)
    then runs one after the other: the second node waits here until the first commits,
    and its look-up (read committed, a fresh snapshot per statement) finds the stored answer and
    replays it instead of booking the sale twice (or failing on the unique identity).
    PostgreSQL: the UPDATE takes the row lock (FOR NO KEY UPDATE). SQLite: the
    transaction already holds the database's write lock (BEGIN IMMEDIATE), so only the
    "seen" time is left to write: deferred to COMMIT, one `executemany` per group.
    """
    if tx.dialect == "postgresql":
        tx.execute("UPDATE terminals SET last_seen_ms = ? WHERE tid = ?", (now_ms, tid))
    else:
        tx.append_deferred(_SEEN, (now_ms, tid), _write_seen)


_SEEN = "terminals.last_seen_ms"


def _write_seen(tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
    latest = {tid: at for at, tid in rows}  # in order: the last one of each terminal
    tx.executemany(
        "UPDATE terminals SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?) WHERE tid = ?",
        [(at, tid) for tid, at in sorted(latest.items())],
    )
