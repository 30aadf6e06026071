"""Deferred deltas: integer changes to keyed rows, kept in memory and applied at COMMIT.

Why: a transaction that holds many units (a host node's group commit, one savepoint per
request) would otherwise lock each row it changes from the change until COMMIT. Two such
transactions (two host nodes on one PostgreSQL) that change the same rows in different
orders, even in different units, then wait on each other in a cycle: a deadlock, and one
of them is aborted. Deferred, a transaction locks those rows only at the very end, all in
one global order (kind, then key), so waits between transactions can never form a cycle,
and it holds them only for the flush and the COMMIT.

The sums follow savepoints: what a unit deferred is forgotten when its savepoint rolls
back, exactly as its statements are undone.

Rows to append (`append`) are deferred the same way, for a cheaper reason: one
`executemany` at COMMIT instead of one statement (one round trip on PostgreSQL) per unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kassa.store._tx import Transaction

Flush = Callable[["Transaction", list[tuple[str, int]]], None]
"""Applies one kind's deltas: `(key, total)` pairs in key order, every key added (a
total may be 0: the unit's changes cancelled out, the row is still written)."""

RowsFlush = Callable[["Transaction", list[tuple[Any, ...]]], None]
"""Writes one kind's appended rows, in the order they were appended."""


class Deferred:
    """The deferred sums of one transaction, with an undo log for savepoints."""

    __slots__ = ("_flush", "_reads", "_rows", "_rows_flush", "_sums", "_undo")

    def __init__(self) -> None:
        self._sums: dict[str, dict[str, int]] = {}
        self._flush: dict[str, Flush] = {}
        # kind, key (None: an appended row), delta, key was new
        self._undo: list[tuple[str, str | None, int, bool]] = []
        self._reads: dict[str, dict[str, set[int]]] = {}  # kind -> key -> stored values read
        self._rows: dict[str, list[tuple[Any, ...]]] = {}
        self._rows_flush: dict[str, RowsFlush] = {}

    def note_read(self, kind: str, key: str, stored: int) -> None:
        """Remember a stored value this transaction decided on (see `reads`)."""
        self._reads.setdefault(kind, {}).setdefault(key, set()).add(stored)

    def reads(self, kind: str) -> dict[str, set[int]]:
        """The stored values read per key: a flush can tell whether another transaction
        changed a row after this one decided on it (two nodes approving from one balance)."""
        return self._reads.get(kind, {})

    def add(self, kind: str, key: str, delta: int, flush: Flush) -> None:
        if self._flush.setdefault(kind, flush) != flush:  # == : a bound method is a new object
            raise AssertionError(f"deferred {kind!r} flushed by two different functions")
        sums = self._sums.setdefault(kind, {})
        new = key not in sums
        sums[key] = sums.get(key, 0) + delta
        self._undo.append((kind, key, delta, new))

    def append(self, kind: str, row: tuple[Any, ...], flush: RowsFlush) -> None:
        """Defer appending `row`; `flush` writes all of `kind`'s rows at COMMIT."""
        if self._rows_flush.setdefault(kind, flush) != flush:
            raise AssertionError(f"deferred rows {kind!r} flushed by two different functions")
        self._rows.setdefault(kind, []).append(row)
        self._undo.append((kind, None, 0, False))  # None: the last row of `kind`

    def pending(self, kind: str, key: str) -> int:
        sums = self._sums.get(kind)
        return sums.get(key, 0) if sums else 0

    def mark(self) -> int:
        """A point to come back to (`undo_to`) when a savepoint rolls back."""
        return len(self._undo)

    def undo_to(self, mark: int) -> None:
        while len(self._undo) > mark:
            kind, key, delta, new = self._undo.pop()
            if key is None:
                self._rows[kind].pop()
            elif new:
                del self._sums[kind][key]
            else:
                self._sums[kind][key] -= delta

    def drain(self) -> list[tuple[Flush, list[tuple[str, int]]]]:
        """Every kind's flush with its sums in key order, kinds in name order; emptied."""
        batches = [(self._flush[kind], sorted(self._sums[kind].items()))
                   for kind in sorted(self._sums) if self._sums[kind]]  # fmt: skip
        self._sums.clear()
        self._undo.clear()
        return batches

    def drain_rows(self) -> list[tuple[RowsFlush, list[tuple[Any, ...]]]]:
        """Every kind's appended rows with its flush, kinds in name order; emptied."""
        batches = [(self._rows_flush[kind], self._rows[kind])
                   for kind in sorted(self._rows) if self._rows[kind]]  # fmt: skip
        self._rows = {}
        return batches
