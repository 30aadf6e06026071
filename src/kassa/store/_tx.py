"""`Transaction`: what the body of ``with db.transaction() as tx:`` works with."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from kassa.store._deferred import Deferred, Flush, RowsFlush
from kassa.store._errors import translate
from kassa.store._sql import checked_qmark, split_script, to_psycopg
from kassa.store.url import DbUrl, Dialect

Row = tuple[Any, ...]
Params = Sequence[Any]
log = logging.getLogger("kassa.store")


class Undoable(Protocol):
    """An undo log of memory kept outside the database (see `Transaction.joined`)."""

    def mark(self) -> int: ...

    def undo_to(self, mark: int) -> None: ...


_U = TypeVar("_U", bound=Undoable)


class Cursor(Protocol):
    """The part of a DB-API cursor both drivers share; rows are tuples."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Transaction:
    """Statements inside one open transaction. Valid only inside its ``with`` block.

    SQL uses ``?`` placeholders and a sequence of parameters (never a mapping).
    """

    __slots__ = ("_conn", "_deferred", "_flushed", "_joined", "_open", "_prepare",
                 "_savepoints", "_url", "dialect")  # fmt: skip

    def __init__(self, dialect: Dialect, url: DbUrl, conn: Any) -> None:
        self.dialect = dialect
        self._url = url
        self._conn = conn
        # SQLite runs ? natively (still checked); psycopg needs %s (translated once, cached).
        self._prepare = checked_qmark if dialect == "sqlite" else to_psycopg
        self._open = True
        self._savepoints = 0
        self._deferred = Deferred()
        self._joined: dict[object, Undoable] = {}  # owner -> its undo log (`joined`)
        self._flushed = False  # the deferred writes are done: COMMIT comes next

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement; the cursor gives its rows and `rowcount`."""
        if not self._open:
            raise AssertionError("statement on a transaction that has ended")
        try:
            cursor: Cursor = self._conn.execute(self._prepare(sql), params)
        except Exception as exc:
            error = translate(exc, self._url)
            if error is None:
                raise  # not about the database: a bug in our SQL, keep its traceback
            raise error from exc
        return cursor

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of `sql`, or None when there is none."""
        row: Row | None = self.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of `sql`."""
        return self.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run `sql` once per parameter row (batched by the driver); rows affected."""
        if not self._open:
            raise AssertionError("statement on a transaction that has ended")
        try:
            if self.dialect == "sqlite":
                count: int = self._conn.executemany(self._prepare(sql), rows).rowcount
            else:
                cursor = self._conn.cursor()
                with cursor:
                    cursor.executemany(self._prepare(sql), rows)
                    count = cursor.rowcount
        except Exception as exc:
            error = translate(exc, self._url)
            if error is None:
                raise  # not about the database: a bug in our SQL, keep its traceback
            raise error from exc
        return count

    def executescript(self, script: str) -> None:
        """Run a parameterless script of several statements (schema, migrations).

        The script is not placeholder-translated, so it may hold ``%`` and ``?`` freely.
        """
        if not self._open:
            raise AssertionError("statement on a transaction that has ended")
        try:
            if self.dialect == "sqlite":  # sqlite3 runs one statement per call
                for statement in split_script(script):
                    self._conn.execute(statement)
            else:  # psycopg runs a whole script when given no parameters (none parsed)
                self._conn.execute(script)
        except Exception as exc:
            error = translate(exc, self._url)
            if error is None:
                raise  # not about the database: a bug in our SQL, keep its traceback
            raise error from exc

    def defer(self, kind: str, key: str, delta: int, flush: Flush) -> None:
        """Add `delta` to row `key` of `kind`, written at COMMIT, not now.

        Just before COMMIT, `flush(tx, [(key, total), ...])` runs once per kind with every
        key in sorted order (kinds in name order), so every transaction locks deferred
        rows in the same global order, late and briefly (see `kassa.store._deferred`).
        A read of such a row inside this transaction must add `deferred(kind, key)`.
        """
        self._deferred.add(kind, key, delta, flush)

    def note_read(self, kind: str, key: str, stored: int) -> None:
        """Remember that this transaction decided on row `key`'s stored value `stored`; its
        flush can then see whether another transaction moved the row meanwhile."""
        self._deferred.note_read(kind, key, stored)

    def reads(self, kind: str) -> dict[str, set[int]]:
        """The stored values noted per key of `kind` (see `note_read`)."""
        return self._deferred.reads(kind)

    def deferred(self, kind: str, key: str) -> int:
        """What this transaction has deferred so far for row `key` of `kind` (0: nothing)."""
        return self._deferred.pending(kind, key)

    def append_deferred(self, kind: str, row: tuple[Any, ...], flush: RowsFlush) -> None:
        """Append `row` of `kind` at COMMIT, not now: `flush(tx, rows)` runs once with all
        of the kind's rows in order (one `executemany` instead of a statement per unit).
        Savepoints drop what their unit appended. Nothing in this transaction reads them."""
        self._deferred.append(kind, row, flush)

    def flush_deferred(self) -> None:
        """Write what was deferred (`Database` calls this right before COMMIT)."""
        for write_rows, appended in self._deferred.drain_rows():
            write_rows(self, appended)
        for flush, rows in self._deferred.drain():
            flush(self, rows)
        if self._deferred.mark():
            raise AssertionError("a deferred flush deferred more changes")
        self._flushed = True

    def joined(self, owner: object, make: Callable[[], _U]) -> _U:
        """The undo log `owner` keeps of its memory for this transaction: made by `make()`
        on first use, and from then on following the transaction as its rows do. A
        savepoint that rolls back calls `undo_to(m)` with the log's `mark()` of when the
        savepoint opened (0 for a log made inside it); a transaction that ends without
        committing (before COMMIT, or its COMMIT failed: it may stand or not) calls
        `undo_to(0)`, newest log first. A committed transaction calls nothing.

        For what a unit also changes in memory (the host's risk counters): the owner
        writes in the log what it held before each change, and gives it back on undo."""
        undo = self._joined.get(owner)
        if undo is None:
            undo = self._joined[owner] = make()
        return undo  # type: ignore[return-value]  # `make` made it: an _U

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit: if the block raises, only its own statements (and what it
        deferred) are undone."""
        self._savepoints += 1
        name = f"kassa_sp{self._savepoints}"
        mark = self._deferred.mark()
        marks = {id(undo): undo.mark() for undo in self._joined.values()}
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._deferred.undo_to(mark)
            self._undo_joined(marks)
            if self._open:
                self.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.execute(f"RELEASE SAVEPOINT {name}")

    def close(self) -> None:
        """Mark the transaction ended; any later statement is a bug. `Database` closes it
        right before COMMIT (after `flush_deferred`) and on the way to ROLLBACK (once more
        when the COMMIT failed): the joined undo logs are undone on the way to ROLLBACK."""
        committing = self._open and self._flushed
        self._open = False
        if not committing and self._joined:
            self._undo_joined({})
            self._joined.clear()

    def _undo_joined(self, marks: dict[int, int]) -> None:
        """Each joined log back to its mark in `marks` (0 when absent), newest first. An
        undo that raises is a bug, logged: the database's own rollback must still run."""
        for undo in reversed(list(self._joined.values())):
            try:
                undo.undo_to(marks.get(id(undo), 0))
            except Exception:
                log.exception("undoing %r failed; its memory may be off", undo)
