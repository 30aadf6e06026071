"""The host as a running server: frames from the network, group commits to the store.

Requests are queued; one worker thread takes everything waiting (up to a bound), handles
them inside ONE database transaction, commits once, and only then releases the responses
(a request that fails with a bug has the group redone with a savepoint per request, so it
alone goes unanswered). Durability therefore costs one fsync per group, not per sale,
and no terminal ever hears "approved" for something that is not on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import partial

from kassa.clock import SYSTEM, Clock
from kassa.errors import StoreError
from kassa.host.core import HostCore
from kassa.metrics import KassaMetrics
from kassa.net.server import FrameServer
from kassa.store import Database, TransientError

log = logging.getLogger("kassa.host")

group_size_max = 512
group_retries_max = 3
_GIL_SWITCH_S = 0.001
_Item = tuple[bytes, "asyncio.Future[bytes | None]", float]


class _RequestFailed(Exception):
    """A request of an optimistic group raised (a bug): the group is redone, isolated."""


class GroupCommitter:
    """Feeds frames to the core in grouped transactions on a dedicated thread."""

    def __init__(
        self,
        db: Database,
        core: HostCore,
        clock: Clock = SYSTEM,
        metrics: KassaMetrics | None = None,
        turns: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self.db = db
        self.core = core
        self.clock = clock
        self.metrics = metrics
        # Held around each group transaction: several processes writing one SQLite file
        # take turns by it (`kassa.host._writelock`); nothing by default.
        self.turns = turns
        self.groups = 0
        self.requests = 0
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kassa-commit")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, body: bytes) -> bytes | None:
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        await self._queue.put((body, future, self.clock.monotonic_s()))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self._queue.get()]
            while len(group) < group_size_max and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                answers = await loop.run_in_executor(self._pool, self._commit_retrying, group)
            except StoreError as exc:
                answers = self._failed(group, exc)
            done_s = self.clock.monotonic_s()
            for (_, future, started_s), (answer, outcome) in zip(group, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
                if self.metrics is not None and outcome is not None:
                    self._count(outcome, done_s - started_s)

    def _failed(
        self, group: list[_Item], exc: StoreError
    ) -> list[tuple[bytes | None, tuple[str, str] | None]]:
        """The answers to a group whose transaction did not commit. Failed before COMMIT:
        nothing of it stands, so an authorisation is told 96 at once (the cashier knows
        it was not charged; the rest gets no answer and is sent again). Failed AT COMMIT:
        it may stand or not, so nothing is said and the terminals reverse, as after a
        cut line."""
        log.error("group of %d not committed (%s): %s", len(group),
                  "at COMMIT" if exc.at_commit else "before COMMIT", exc)  # fmt: skip
        if exc.at_commit:
            return [(None, None)] * len(group)
        return [(self.core.refusal(body, "96"), None) for body, _, _ in group]

    def _count(self, outcome: tuple[str, str], seconds: float) -> None:
        assert self.metrics is not None
        kind, code = outcome
        if kind == "reversal":
            self.metrics.reversal(code)
        elif kind not in ("management", "settlement"):
            self.metrics.authorisation(kind, code, seconds)

    def _commit_retrying(
        self, group: list[_Item]
    ) -> list[tuple[bytes | None, tuple[str, str] | None]]:
        """A group aborted by a deadlock or serialization failure (two host nodes on one
        PostgreSQL) committed nothing: it is simply handled again, a few times."""
        for attempt in range(group_retries_max):
            try:
                return self._commit(group)
            except TransientError as exc:
                log.warning("group of %d retried (%d): %s", len(group), attempt + 1, exc)
                time.sleep(0.005 * (attempt + 1))
        return self._commit(group)

    def _commit(self, group: list[_Item]) -> list[tuple[bytes | None, tuple[str, str] | None]]:
        answers = self.handle_group([body for body, _, _ in group], self.clock.now_ms())
        self.groups += 1
        self.requests += len(group)
        return answers

    def handle_group(
        self, bodies: list[bytes], now_ms: int
    ) -> list[tuple[bytes | None, tuple[str, str] | None]]:
        """Handle `bodies` in one transaction and commit it; (answer, outcome) for each.

        Optimistic: no savepoint per request (on PostgreSQL a SAVEPOINT/RELEASE pair costs
        two round trips per request). The core raises for a bug only; when it does, the
        whole transaction is rolled back (nothing of the group stands, nothing was sent)
        and the group is handled again with a savepoint around each request, so that the
        failing request alone goes unanswered and the others commit. A StoreError fails the
        group either way (a TransientError is retried by the caller).
        """
        try:
            return self._transaction(bodies, now_ms, isolate=False)
        except _RequestFailed as exc:
            log.warning("group of %d redone request by request: %s", len(bodies), exc.__cause__)
            return self._transaction(bodies, now_ms, isolate=True)

    def _transaction(
        self, bodies: list[bytes], now_ms: int, *, isolate: bool
    ) -> list[tuple[bytes | None, tuple[str, str] | None]]:
        answers: list[tuple[bytes | None, tuple[str, str] | None]] = []
        core = self.core
        with self.turns(), self.db.transaction() as tx:
            for body in bodies:
                core.last = None
                if not isolate:
                    try:
                        answer = core.handle(tx, body, now_ms)
                    except StoreError:
                        raise
                    except Exception as exc:
                        raise _RequestFailed(type(exc).__name__) from exc
                    answers.append((answer, core.last))
                    continue
                try:
                    with tx.savepoint():
                        answer = core.handle(tx, body, now_ms)
                    answers.append((answer, core.last))
                except StoreError:
                    raise
                except Exception:
                    log.exception("request failed inside the host core; connection closed")
                    answers.append((None, None))
        return answers

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=True)


class HostServer:
    """The host as `kassa host serve` runs it: risk counters warmed from the feed, SQLite
    checkpoints off the commit path, the group committer, the frame server. `start` gives
    the port; `stop` is graceful (in-flight requests answered)."""

    def __init__(
        self,
        db: Database,
        core: HostCore,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        metrics: KassaMetrics | None = None,
    ) -> None:
        self.db = db
        self.core = core
        self.committer = GroupCommitter(db, core, metrics=metrics)
        self.server = FrameServer(self.committer.submit, host=host, port=port,
                                  ssl_context=ssl_context)  # fmt: skip
        self._resources = contextlib.ExitStack()

    async def start(self) -> int:
        # The commit thread runs Python for a whole group while the event loop waits for
        # the GIL to read the next frame or to send an answer; a shorter switch interval
        # than the default 5 ms lets the loop in sooner.
        sys.setswitchinterval(_GIL_SWITCH_S)
        feed = self.core.financial.feed
        if feed is not None:  # the risk counters as the feed left them (restart, other nodes)
            now_ms = SYSTEM.now_ms()
            warm = partial(self.db.run_in_transaction, lambda tx: feed.warm(tx, now_ms))
            replayed = await asyncio.to_thread(warm)
            log.info("risk counters warmed", extra={"fields": {"observations": replayed}})
        self._resources.enter_context(self.db.background_checkpoints())
        self.committer.start()
        await self.server.start()
        log.info("host listening", extra={"fields": {"port": self.server.port, "pid": os.getpid()}})
        return self.server.port

    async def stop(self) -> None:
        try:
            await self.server.stop(grace_s=5.0)
            await self.committer.stop()
        finally:
            self._resources.close()
        log.info("host stopped", extra={"fields": {"requests": self.committer.requests}})


async def serve(
    db: Database,
    core: HostCore,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    metrics: KassaMetrics | None = None,
) -> None:
    """Run the host until `stop` is set (or forever); graceful on the way out."""
    running = HostServer(db, core, host, port, ssl_context, metrics)
    bound = await running.start()
    if ready is not None:
        ready(bound)
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await running.stop()
