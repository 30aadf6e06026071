"""Crashable storage for a terminal journal: power cuts and a full disk at chosen writes.

`FaultyDatabase` stands in for the journal's `Database`. It counts write transactions
(every persistence point of the terminal is one) and, when the plan says so for the
k-th one, either

- raises `PowerCut` before COMMIT: the transaction rolls back, exactly what a power cut
  between the last commit and the next leaves on disk (SQLite with synchronous=FULL keeps
  every committed transaction and nothing of an uncommitted one);
- raises `PowerCut` right after COMMIT: the write landed, the program died before using it;
- raises `StoreError` before COMMIT: the disk is full, the transaction rolls back, the
  program goes on (and must cope).

`PowerCut` is a `BaseException`, so no `except Exception` in the terminal can swallow it:
like a real power cut, nothing after it runs. The simulator then reopens the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kassa.errors import StoreError
from kassa.sim.model import FaultKind
from kassa.store import Database, Isolation, Transaction


class PowerCut(BaseException):
    """The terminal lost power at a persistence point."""


@dataclass(slots=True)
class DiskPlan:
    """Which coming write transactions fail, and how; `note` tells the simulator."""

    note: Callable[[FaultKind, str], None]
    writes: int = 0
    crash_at: int | None = None
    crash_after_commit: bool = False
    full: range = range(0)  # the write numbers the disk refuses

    def arm_crash(self, after_writes: int, after_commit: bool) -> None:
        """A power cut at the `after_writes`-th write from now (1 = the next one)."""
        self.crash_at = self.writes + after_writes
        self.crash_after_commit = after_commit

    def arm_full(self, after_writes: int, count: int) -> None:
        """The disk refuses `count` writes, starting with the `after_writes`-th from now."""
        first = self.writes + after_writes
        self.full = range(first, first + count)

    def disarm(self) -> None:
        self.crash_at = None
        self.full = range(0)

    def next_write(self) -> FaultKind | None:
        """Count one write transaction; the fault it must suffer, if any."""
        self.writes += 1
        n = self.writes
        if n == self.crash_at:
            self.crash_at = None
            kind = (
                FaultKind.CRASH_AFTER_COMMIT
                if self.crash_after_commit
                else FaultKind.CRASH_BEFORE_COMMIT
            )
            self.note(kind, f"write {n}")
            return kind
        if n in self.full:
            self.note(FaultKind.DISK_FULL, f"write {n}")
            return FaultKind.DISK_FULL
        return None


class FaultyDatabase(Database):
    """A `Database` whose write transactions fail as its `DiskPlan` says; reads pass."""

    def __init__(self, inner: Database, plan: DiskPlan) -> None:  # no super(): a wrapper
        self.url = inner.url
        self.dialect = inner.dialect
        self.durable = inner.durable
        self.inner = inner
        self.plan = plan

    @contextmanager
    def transaction(
        self, *, write: bool = True, isolation: Isolation = "read committed"
    ) -> Iterator[Transaction]:
        if not write:
            with self.inner.transaction(write=False, isolation=isolation) as tx:
                yield tx
            return
        fault = self.plan.next_write()
        with self.inner.transaction(write=True, isolation=isolation) as tx:
            yield tx
            if fault is FaultKind.DISK_FULL:
                raise StoreError("database or disk is full (injected): free space and retry")
            if fault is FaultKind.CRASH_BEFORE_COMMIT:
                raise PowerCut("power cut before commit (injected)")
        if fault is FaultKind.CRASH_AFTER_COMMIT:
            raise PowerCut("power cut after commit (injected)")

    def close(self) -> None:
        self.inner.close()
