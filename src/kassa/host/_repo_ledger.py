"""The ledger in the host's store: entries and postings appended, account balances
moved with them (deferred to COMMIT, in account order), and the read-back of both.
Re-exported by `kassa.host.repo`, where callers find them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kassa.host.records import CardKind
from kassa.ledger import EntryKind, LedgerEntry, Posting
from kassa.store import Transaction, TransientError

ACCOUNTS = "accounts"  # the kind of the deferred balance changes (`append_entry`)


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
        tx.defer(ACCOUNTS, p.account, p.amount_fen, _move_balances)


def balance(tx: Transaction, account: str) -> int:
    """The account's balance as this transaction sees it: the stored projection plus what
    this transaction's entries have moved so far (deferred to its COMMIT)."""
    row = tx.fetchone("SELECT balance_fen FROM accounts WHERE account = ?", (account,))
    stored = int(row[0]) if row else 0
    tx.note_read(ACCOUNTS, account, stored)  # decided on: see _refuse_overdraft_race
    return stored + tx.deferred(ACCOUNTS, account)


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
    read = tx.reads(ACCOUNTS)
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
