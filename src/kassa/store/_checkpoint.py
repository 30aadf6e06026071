"""SQLite WAL checkpoints off the commit path: a thread of their own, a connection of
their own.

By default SQLite checkpoints inside the COMMIT that pushes the WAL past 1,000 pages: that
commit copies the WAL back into the database file and fsyncs it, ~15 ms on a virtual disk,
and every request of a host's group waits for it (measured: ~5% of requests at half load
took 15-20 ms, the rest ~2 ms). Here the writer's automatic checkpoints are turned off
and a background thread runs PASSIVE checkpoints, which never block the writer or readers
(they copy what no reader still needs, and give up on the rest until the next round).
Durability is unchanged: a commit is durable once its WAL frames are synced
(synchronous=FULL); the checkpoint only moves them into the main file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kassa.store")

_DEFAULT_AUTOCHECKPOINT_PAGES = 1000  # SQLite's own default, restored on stop


class WalCheckpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval_s` on `open_conn()`'s
    connection until `stop`; `writer` is told to leave checkpoints to it meanwhile."""

    def __init__(
        self,
        open_conn: Callable[[], sqlite3.Connection],
        writer: Callable[[str], object],
        interval_s: float = 0.2,
    ) -> None:
        self._open_conn = open_conn
        self._writer = writer
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def start(self) -> None:
        conn = self._open_conn()  # fails here, in the caller, if the file cannot be opened
        self._writer("PRAGMA wal_autocheckpoint=0")
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="kassa-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, give the writer its automatic checkpoints back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._writer(f"PRAGMA wal_autocheckpoint={_DEFAULT_AUTOCHECKPOINT_PAGES}")

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while not self._stop.wait(self._interval_s):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            row: Any = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.rounds += 1
            if row is not None and row[0]:
                log.debug("checkpoint busy: %s", row)
        except sqlite3.Error as exc:  # the writer goes on; the WAL just grows meanwhile
            log.warning("background WAL checkpoint failed: %s", exc)
