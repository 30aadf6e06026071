"""The host's TCP/TLS server: UnionPay frames in, handler, frames out (reference §1).

`FrameServer` only cuts the byte stream into frame bodies (2-byte big-endian length
prefix) and hands each body to an async handler; decoding, MAC checks and business rules
belong to the host core behind the handler. Per connection, requests are pipelined: every
complete frame runs as its own task, at most `max_in_flight_per_conn` at once, and each
response is written as soon as it is ready, so responses may come back in a different
order than the requests (UnionPay terminals match them by STAN, field 11).

Bad input costs only its own connection: a length prefix out of bounds or a handler that
raises is reported through `on_error(kind, detail)` and that connection is closed. Kinds:
"bad-frame", "handler-error", "connection-limit". Resets and idle closes are normal and
not reported.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import logging
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from kassa import limits
from kassa.net._connection import Connection, Handler

ErrorSink = Callable[[str, str], None]

_log = logging.getLogger(__name__)
# Pending connections the kernel queues while the loop is busy (it caps this at somaxconn).
_BACKLOG = 4096


def _log_error(kind: str, detail: str) -> None:
    _log.warning("%s: %s", kind, detail)


class _LeanTLS(asyncio.sslproto.SSLProtocol):
    """asyncio's own TLS layer, with a 32 KiB read buffer instead of 256 KiB.

    Python 3.11's SSLProtocol allocates `max_size` bytes per connection up front: 10,000
    idle TLS terminals would pin 2.5 GB for nothing (UnionPay frames are < 1 KiB).
    Measured: 1,000 TLS connections cost 62 KB each with 32 KiB instead of 280 KB.
    This builds exactly what `loop.create_server(ssl=...)` builds, minus that buffer.
    """

    max_size = 32 * 1024


class FrameServer:
    """An asyncio server for UnionPay-framed requests.

    `handler(body) -> response body | None` receives one frame body (TPDU + header +
    message, without the length prefix) and returns the response body, to which the server
    adds the prefix, or None to send nothing. `max_frame_bytes` bounds the length prefix.
    """

    loop: asyncio.AbstractEventLoop

    def __init__(
        self,
        handler: Handler,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        max_frame_bytes: int = limits.message_size_max_bytes,
        max_in_flight_per_conn: int = limits.requests_in_flight_per_connection_max,
        idle_timeout_s: float = limits.connection_idle_timeout_ms / 1000,
        max_connections: int = limits.connections_max,
        on_error: ErrorSink | None = None,
        reuse_port: bool = False,
    ) -> None:
        if max_in_flight_per_conn < 1 or max_frame_bytes < 1 or idle_timeout_s <= 0:
            raise ValueError("bounds must be positive")
        self.handler = handler
        self.max_frame_bytes = max_frame_bytes
        self.max_in_flight = max_in_flight_per_conn
        self.idle_timeout_s = idle_timeout_s
        self.draining = False
        # SO_REUSEPORT: several processes listen on one address and the kernel spreads
        # the connections among them (`kassa host serve --workers N`; Linux). Read at
        # `start`, so it may be set after construction.
        self.reuse_port = reuse_port
        self._host, self._port = host, port
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._on_error = on_error or _log_error
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._bound_port: int | None = None
        self._stopped = asyncio.Event()
        self._emptied: asyncio.Event | None = None

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            return
        self.loop = asyncio.get_running_loop()
        self._server = await self.loop.create_server(
            self._protocol, self._host, self._port, backlog=_BACKLOG, reuse_port=self.reuse_port
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]

    def _protocol(self) -> asyncio.BaseProtocol:
        if self._ssl_context is None:
            return Connection(self)
        return _LeanTLS(
            self.loop,
            Connection(self),
            self._ssl_context,
            None,  # type: ignore[arg-type]  # no waiter, as in asyncio's own accept path
            server_side=True,
            # A terminal gives up connecting after this long, TLS handshake included.
            ssl_handshake_timeout=max(1, limits.connect_timeout_ms // 1000),
        )

    @property
    def port(self) -> int:
        """The bound port (the real one when port 0 was asked)."""
        if self._bound_port is None:
            raise RuntimeError("the server is not started")
        return self._bound_port

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def serve_forever(self) -> None:
        """Serve until `stop()` has finished (starting first if needed)."""
        await self.start()
        await self._stopped.wait()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop gracefully: refuse new connections and new requests, let the handlers in
        flight finish and their answers be written, then close every connection.

        Handlers still running after `grace_s` are cancelled and the remaining connections
        aborted.
        """
        if self._server is None:
            return
        if self.draining:  # a second caller waits for the first stop to finish
            await self._stopped.wait()
            return
        self.draining = True
        self._server.close()
        for connection in list(self._connections):
            connection.drain()
        deadline = self.loop.time() + grace_s
        while self._tasks and (left := deadline - self.loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)
        for task in list(self._tasks):
            task.cancel()
        await self._close_connections(max(deadline - self.loop.time(), 0.1))
        await self._server.wait_closed()
        self._stopped.set()

    async def _close_connections(self, flush_s: float) -> None:
        self._emptied = asyncio.Event()
        for connection in list(self._connections):
            connection.close()  # writes what is buffered, then closes
        if self._connections:
            try:
                await asyncio.wait_for(self._emptied.wait(), flush_s)
            except TimeoutError:
                for connection in list(self._connections):
                    connection.close(abort=True)  # a peer that does not read its answers
        if self._tasks:  # cancelled handlers end at once, unless one swallows the cancel
            await asyncio.wait(set(self._tasks), timeout=flush_s)

    # The connections' side (see kassa.net._connection.Owner)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(work)
        self._tasks.add(task)  # a strong reference, or the task could be collected mid-way
        task.add_done_callback(self._tasks.discard)

    def report(self, kind: str, detail: str) -> None:
        self._on_error(kind, detail)

    def opened(self, connection: Connection) -> bool:
        if self.draining:
            return False
        if len(self._connections) >= self._max_connections:
            self.report("connection-limit", f"{self._max_connections} connections open")
            return False
        self._connections.add(connection)
        return True

    def closed(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if self._emptied is not None and not self._connections:
            self._emptied.set()
