"""SQL for the host: reads and appends inside a caller's transaction (`tx`).

Every function takes the open `Transaction`; the caller decides the boundaries (the
server's group commit puts many requests in one transaction, each in a savepoint).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kassa.host.records import Card, CardKind, Merchant, Status, Terminal, TxnRow, TxnStatus
from kassa.ledger import EntryKind, LedgerEntry, Posting, card_account
from kassa.store import Transaction, TransientError

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


def terminal_and_merchant(tx: Transaction, tid: str) -> tuple[Terminal | None, Merchant | None]:
    """The terminal and its merchant in one query (one round trip instead of two)."""
    row = tx.fetchone(_TERMINAL_MERCHANT_SQL, (tid,))
    if row is None:
        return None, None
    head, tail = row[:_TERMINAL_COUNT], row[_TERMINAL_COUNT:]
    return _terminal(head), (_merchant(tail) if tail[0] is not None else None)


def card_by_hash(tx: Transaction, pan_hash: str) -> Card | None:
    row = tx.fetchone(f"SELECT {_CARD_COLS} FROM cards WHERE pan_hash = ?", (pan_hash,))
    return _card(row) if row else None


_CARD_BALANCE_SQL = (
    "SELECT "
    + ", ".join(f"c.{c.strip()}" for c in _CARD_COLS.split(","))
    + ", a.balance_fen FROM cards c"
    # the card's available-funds account, named as kassa.ledger.card_account names it
    + " LEFT JOIN accounts a ON a.account = 'card:' || c.card_ref WHERE c.pan_hash = ?"
)


def card_with_balance(tx: Transaction, pan_hash: str) -> tuple[Card | None, int]:
    """The card and the balance of its available-funds account in one query: the same
    two values as `card_by_hash` and `balance` (what this transaction deferred included)."""
    row = tx.fetchone(_CARD_BALANCE_SQL, (pan_hash,))
    if row is None:
        return None, 0
    card, account, stored = _card(row[:-1]), card_account(row[0]), int(row[-1] or 0)
    tx.note_read(_ACCOUNTS, account, stored)  # decided on: see _refuse_overdraft_race
    return card, stored + tx.deferred(_ACCOUNTS, account)


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


def txn_by_identity(tx: Transaction, tid: str, batch: str, stan: str, mti: str) -> TxnRow | None:
    row = tx.fetchone(
        f"SELECT {_TXN_COLS} FROM txns WHERE tid = ? AND batch = ? AND stan = ? AND mti = ?",
        (tid, batch, stan, mti),
    )
    return _txn(row) if row else None


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


def card_day_usage(tx: Transaction, card_ref: str, settle_date: str) -> tuple[int, int]:
    """(count, amount) of the card's approved debits on one settlement date."""
    row = tx.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM txns WHERE card_ref = ?"
        " AND settle_date = ? AND status IN ('approved', 'completed')"
        " AND txn_type IN ('sale', 'preauth', 'completion', 'offline_sale', 'offline_upload')",
        (card_ref, settle_date),
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


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


def orphan_reversal(tx: Transaction, tid: str, batch: str, stan: str) -> bool:
    row = tx.fetchone(
        "SELECT 1 FROM orphan_reversals WHERE tid = ? AND batch = ? AND stan = ?",
        (tid, batch, stan),
    )
    return row is not None


# Ledger -------------------------------------------------------------------------------


def append_entry(tx: Transaction, entry: LedgerEntry) -> None:
    """Append one entry and move the account balances (the projection) with it.

    The entry and its postings are written now; the balance changes are deferred to the
    transaction's COMMIT (`Transaction.defer`), where each account the transaction moved
    is upserted once, in account order. So a host node's group transaction holds no
    account row lock while it handles its requests, and all groups of all nodes lock
    accounts in one order: they may wait for each other, never in a cycle (deadlock).
    `balance` adds what is deferred: reads in this transaction see its own entries.
    """
    tx.execute(
        "INSERT INTO ledger_entries (entry_id, txn_key, kind, at_ms, memo, reverses)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (entry.entry_id, entry.txn_key, entry.kind.value, entry.at_ms, entry.memo, entry.reverses),
    )
    tx.executemany(
        "INSERT INTO ledger_postings (entry_id, seq, account, amount_fen) VALUES (?, ?, ?, ?)",
        [(entry.entry_id, i, p.account, p.amount_fen) for i, p in enumerate(entry.postings)],
    )
    for p in entry.postings:
        tx.defer(_ACCOUNTS, p.account, p.amount_fen, _move_balances)


def balance(tx: Transaction, account: str) -> int:
    """The account's balance as this transaction sees it: the stored projection plus what
    this transaction's entries have moved so far (deferred to its COMMIT)."""
    row = tx.fetchone("SELECT balance_fen FROM accounts WHERE account = ?", (account,))
    stored = int(row[0]) if row else 0
    tx.note_read(_ACCOUNTS, account, stored)  # decided on: see _refuse_overdraft_race
    return stored + tx.deferred(_ACCOUNTS, account)


def entry(tx: Transaction, entry_id: str) -> LedgerEntry | None:
    entries = list(entries_where(tx, "e.entry_id = ?", (entry_id,)))
    return entries[0] if entries else None


def entries_where(
    tx: Transaction, where: str, params: Iterable[Any] = (), problems: list[str] | None = None
) -> Iterator[LedgerEntry]:
    """Entries in the order they were appended. An entry that no longer balances (the
    store was tampered with) is reported in `problems` when given, else raised."""
    rows = tx.fetchall(
        "SELECT e.entry_id, e.txn_key, e.kind, e.at_ms, e.memo, e.reverses, p.account,"
        " p.amount_fen FROM ledger_entries e JOIN ledger_postings p ON p.entry_id = e.entry_id"
        f" WHERE {where} ORDER BY e.seq, p.seq",
        tuple(params),
    )
    current: list[Any] | None = None
    postings: list[Posting] = []
    for r in [*rows, None]:
        if current is not None and (r is None or r[0] != current[0]):
            try:
                yield _entry(current, postings)
            except ValueError as exc:
                if problems is None:
                    raise
                problems.append(f"entry_malformed: {exc}")
        if r is None:
            break
        if current is None or r[0] != current[0]:
            current, postings = list(r[:6]), []
        postings.append(Posting(r[6], int(r[7])))


def _entry(head: list[Any], postings: list[Posting]) -> LedgerEntry:
    return LedgerEntry(
        head[0], head[1], EntryKind(head[2]), tuple(postings), int(head[3]), head[4], head[5]
    )


def log_event(
    tx: Transaction, now_ms: int, tid: str | None, kind: str, code: str | None, detail: str
) -> None:
    tx.execute(
        "INSERT INTO events (at_ms, tid, kind, code, detail) VALUES (?, ?, ?, ?, ?)",
        (now_ms, tid, kind, code, detail),
    )


# Cross-node locking (several host nodes on one PostgreSQL) ------------------------------

_ACCOUNTS = "accounts"  # the kind of the deferred balance changes (`append_entry`)


def _move_balances(tx: Transaction, totals: list[tuple[str, int]]) -> None:
    """Apply a transaction's deferred balance changes: one upsert per account, in the
    account order `Transaction.flush_deferred` gives (the global lock order). A total of
    0 still writes the row, so an account exists once anything was posted to it."""
    tx.executemany(
        "INSERT INTO accounts (account, balance_fen) VALUES (?, ?) ON CONFLICT (account)"
        " DO UPDATE SET balance_fen = accounts.balance_fen + excluded.balance_fen",
        totals,
    )
    if tx.dialect == "postgresql":  # SQLite: one writer, no other node to race with
        _refuse_overdraft_race(tx, totals)


def _refuse_overdraft_race(tx: Transaction, totals: list[tuple[str, int]]) -> None:
    """Two nodes approving from one balance: refuse the second.

    Each node's funds check reads the committed balance; two groups at two nodes can both
    read 100 yuan and approve 80 each. Here, with every account row of this group locked
    (the upserts above, in order), a card debited by this group whose stored balance is
    not the one every decision of this group was made on (another node committed in
    between) and that is now overdrawn makes the group a transient conflict: it is rolled back and handled
    again by the group committer, and then sees the other node's debit (51).
    """
    read = tx.reads(_ACCOUNTS)
    debited = {a: t for a, t in totals if t < 0 and a in read and a.startswith("card:")}
    if not debited:
        return
    marks = ", ".join("?" for _ in debited)
    rows = tx.fetchall(
        "SELECT a.account, a.balance_fen, c.kind, c.credit_limit_fen FROM accounts a"
        f" JOIN cards c ON a.account = 'card:' || c.card_ref WHERE a.account IN ({marks})",
        tuple(debited),
    )
    for account, balance_fen, kind, credit_limit_fen in rows:
        base = int(balance_fen) - debited[account]  # what was stored before this flush
        floor = -int(credit_limit_fen) if kind == CardKind.CREDIT.value else 0
        if read[account] != {base} and int(balance_fen) < floor:
            raise TransientError(
                f"{account} was debited at another host node after this group read it;"
                " the group is handled again"
            )


def next_rrn(tx: Transaction) -> int:
    """The next retrieval reference number, unique across every host node.

    PostgreSQL: `nextval('rrn_seq')` (host schema 3), which takes no row lock, so the
    group transactions of several nodes never queue or deadlock on it; numbers of a
    rolled-back transaction are skipped (RRNs need not be gapless, only unique).
    SQLite has one writer process and its write lock serialises transactions anyway:
    the `counters` row stays the source there.
    """
    if tx.dialect == "postgresql":
        row = tx.fetchone("SELECT nextval('rrn_seq')")
        assert row is not None
        return int(row[0])
    return next_counter(tx, "rrn")


def lock_terminal(tx: Transaction, tid: str, now_ms: int) -> None:
    """Lock the terminal's row until this transaction ends (noting it as seen now).

    Load-bearing: `HostCore._gate` calls this BEFORE the idempotency look-up. The same
    request sent to two host nodes at once (a retry on the other node) then runs one
    after the other: the second node waits here until the first commits, and its
    look-up (read committed, a fresh snapshot per statement) finds the stored answer and
    replays it instead of booking the sale twice (or failing on the unique identity).
    The UPDATE takes the row lock on both dialects (PostgreSQL: FOR NO KEY UPDATE; on
    SQLite the transaction already holds the database's write lock).
    """
    tx.execute("UPDATE terminals SET last_seen_ms = ? WHERE tid = ?", (now_ms, tid))
