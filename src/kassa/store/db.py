"""`Database`: one thin synchronous interface over SQLite (sqlite3) and PostgreSQL (psycopg).

Conventions for the whole project:
- SQL is written once, with ``?`` placeholders, and runs on both (see `kassa.store._sql`).
- Rows come back as plain tuples (the drivers' fastest form).
- Bytes are ``{blob}`` columns: bytes in, bytes out on both.
- Integers are 64-bit signed (``{bigint}``); money is integer fen, never a float.
- Timestamps are integer UTC milliseconds since the Unix epoch in ``{bigint}`` columns,
  named ``*_ms``; no SQL date types, no time zones, no database clock.
- Booleans are 0/1 integers. Generated keys come back with ``INSERT ... RETURNING id``.

Every statement runs inside ``with db.transaction() as tx:``; leaving the block commits,
an exception rolls back. Several logical units can share one transaction (what a
group-commit writer does to pay one fsync for many units), each inside
``with tx.savepoint():`` so a failing unit is undone alone while the others commit::

    with db.transaction() as tx:
        for unit in batch:
            try:
                with tx.savepoint():
                    unit.apply(tx)
            except ConstraintError:
                unit.refuse()

A row that many units change (a balance) can be changed with ``tx.defer(...)`` instead:
the sums are kept in memory (following the savepoints) and written in one sorted batch
right before COMMIT, so concurrent transactions lock those rows late, briefly and in
one global order, and cannot deadlock on them (see `kassa.store._deferred`).

Threading model: a `Database` is one driver connection. It may be shared by threads, but
runs one transaction at a time (an internal lock; other threads wait). For parallel work
open one `Database` per thread. Opening a nested transaction in the same thread is a bug
(AssertionError): nest with savepoints.

Driver errors about the database become one-line `StoreError`s: `TransientError` (lock,
serialization conflict, deadlock: retry, which `run_in_transaction` does),
`ConstraintError`, or a plain `StoreError` (unreachable, disk full, unreadable). If a
PostgreSQL connection breaks, the next transaction reconnects; the outcome of a COMMIT
whose connection broke is unknown, so what we write must be idempotent (it is by design).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from kassa.errors import StoreError
from kassa.store._checkpoint import WalCheckpointer
from kassa.store._errors import TransientError, translate
from kassa.store._open import open_postgresql, open_sqlite
from kassa.store._tx import Cursor, Transaction
from kassa.store.url import DbUrl, Dialect, parse_db_url

T = TypeVar("T")
Isolation = Literal["read committed", "repeatable read", "serializable"]

busy_timeout_ms_default = 5_000
connect_timeout_ms_default = 5_000
retries_default = 5
_BACKOFF_FIRST_S = 0.002
_BACKOFF_MAX_S = 0.2

__all__ = ["Cursor", "Database", "Isolation", "Transaction", "connect"]


def connect(
    url: str | DbUrl,
    *,
    durable: bool = True,
    busy_timeout_ms: int = busy_timeout_ms_default,
    connect_timeout_ms: int = connect_timeout_ms_default,
) -> Database:
    """Open the database at `url` (text is parsed with `parse_db_url`).

    `durable=True` makes every COMMIT wait for the disk (SQLite synchronous=FULL,
    PostgreSQL synchronous_commit=on). Raises `ConfigError` for a bad URL and `StoreError`
    when the database cannot be opened.
    """
    parsed = parse_db_url(url) if isinstance(url, str) else url
    return Database(parsed, durable, busy_timeout_ms, connect_timeout_ms)


class Database:
    """One connection to a SQLite file or a PostgreSQL database; see the module docstring."""

    def __init__(
        self, url: DbUrl, durable: bool, busy_timeout_ms: int, connect_timeout_ms: int
    ) -> None:
        self.url = url
        self.dialect: Dialect = url.kind
        self.durable = durable
        self._busy_timeout_ms = busy_timeout_ms
        self._connect_timeout_ms = connect_timeout_ms
        self._lock = threading.Lock()
        self._owner: int | None = None  # thread id holding the open transaction
        self._closed = False
        self._conn: Any = self._open()

    def _open(self) -> Any:
        if self.dialect == "sqlite":
            return open_sqlite(self.url, self.durable, self._busy_timeout_ms)
        return open_postgresql(self.url, self.durable, self._connect_timeout_ms)

    def __repr__(self) -> str:
        return f"Database({self.url.display!r})"

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(
        self, *, write: bool = True, isolation: Isolation = "read committed"
    ) -> Iterator[Transaction]:
        """A transaction: commits when the block ends, rolls back if it raises.

        `write=False` declares a read-only transaction (PostgreSQL enforces it; SQLite
        takes no write lock). On SQLite a write transaction takes the write lock at once
        (BEGIN IMMEDIATE), so it never fails half-way for lack of it, and every isolation
        level is serializable. On PostgreSQL `isolation` is used as given.
        """
        me = threading.get_ident()
        if self._owner == me:
            raise AssertionError("transaction already open on this Database; nest with savepoint")
        with self._lock:
            self._owner = me
            try:
                yield from self._transaction(write, isolation)
            finally:
                self._owner = None

    def _transaction(self, write: bool, isolation: Isolation) -> Iterator[Transaction]:
        if self._closed:
            raise AssertionError(f"{self!r} is closed")
        conn = self._connection()
        if self.dialect == "sqlite":
            self._guard(conn.execute, "BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
        else:
            self._begin_postgresql(conn, write, isolation)
        tx = Transaction(self.dialect, self.url, conn)
        try:
            yield tx
            tx.flush_deferred()  # the deferred row changes, locked in one global order
            tx.close()
            try:
                self._guard(self._commit_fn(conn))
            except StoreError as exc:
                exc.at_commit = True  # the outcome is not known: see StoreError
                raise
        except BaseException:
            tx.close()
            self._rollback(conn)
            raise

    @contextmanager
    def background_checkpoints(self, interval_s: float = 0.5) -> Iterator[None]:
        """While the block runs, SQLite WAL checkpoints happen on a thread and connection
        of their own instead of inside a commit (`kassa.store._checkpoint`); nothing
        changes on PostgreSQL. For a long-running writer such as the host server."""
        if self.dialect != "sqlite":
            yield
            return

        def writer_pragma(sql: str) -> None:
            with self._lock:
                self._guard(self._conn.execute, sql)

        checkpointer = WalCheckpointer(
            lambda: open_sqlite(self.url, self.durable, self._busy_timeout_ms),
            writer_pragma,
            interval_s,
        )
        checkpointer.start()
        try:
            yield
        finally:
            checkpointer.stop()

    def _connection(self) -> Any:
        if self.dialect == "postgresql" and (self._conn.closed or self._conn.broken):
            self._conn.close()
            self._conn = self._open()
        return self._conn

    def _begin_postgresql(self, conn: Any, write: bool, isolation: Isolation) -> None:
        import psycopg

        level = psycopg.IsolationLevel[isolation.upper().replace(" ", "_")]
        if conn.isolation_level != level:  # setting it costs nothing; psycopg sends BEGIN
            conn.isolation_level = level
        if conn.read_only != (not write):
            conn.read_only = not write

    def _commit_fn(self, conn: Any) -> Callable[[], object]:
        if self.dialect == "sqlite":
            return lambda: conn.execute("COMMIT")
        return conn.commit  # type: ignore[no-any-return]

    def _rollback(self, conn: Any) -> None:
        try:
            if self.dialect == "sqlite":
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            elif not conn.closed:
                conn.rollback()
        except Exception:  # a failed rollback must not hide the error that caused it:
            pass  # SQLite rolls back on its own; a broken PG connection is replaced next time

    def _guard(self, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except Exception as exc:
            error = translate(exc, self.url)
            if error is None:
                raise
            raise error from exc

    def run_in_transaction(
        self,
        fn: Callable[[Transaction], T],
        *,
        retries: int = retries_default,
        write: bool = True,
        isolation: Isolation = "read committed",
        on_retry: Callable[[int, TransientError], None] | None = None,
    ) -> T:
        """`fn(tx)` in a transaction, run again (up to `retries` more times) on a conflict.

        A conflict is a `TransientError`: serialization failure or deadlock (PostgreSQL),
        database is locked (SQLite). The database has rolled back the failed attempt, so
        `fn` must have no effects outside `tx` (or idempotent ones). Between attempts it
        sleeps a short, growing, jittered time; `on_retry(attempt, error)` is called first.
        Raises the last `TransientError` once retries are used up.
        """
        attempt = 0
        while True:
            try:
                with self.transaction(write=write, isolation=isolation) as tx:
                    return fn(tx)
            except TransientError as exc:
                attempt += 1
                if attempt > retries:
                    raise TransientError(f"gave up after {attempt} attempts: {exc}") from exc
                if on_retry is not None:
                    on_retry(attempt, exc)
                time.sleep(_backoff_s(attempt))

    def close(self) -> None:
        """Close the connection (waits for a transaction running in another thread)."""
        if self._owner == threading.get_ident():
            raise AssertionError("close() inside a transaction on the same Database")
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


def _backoff_s(attempt: int) -> float:
    # Jitter keeps two conflicting writers from retrying in lockstep.
    base = min(_BACKOFF_FIRST_S * (1 << min(attempt - 1, 16)), _BACKOFF_MAX_S)
    return base * (0.5 + random.random())
