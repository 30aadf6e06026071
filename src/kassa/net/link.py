"""The terminal's link to its acquirer hosts: persistent connection, failover, typed outcomes.

`HostLink.exchange(body)` sends one frame body and returns the response body. The
connection stays open between exchanges and is reopened on demand; exchanges are
serialised (one request outstanding per connection, as UnionPay terminals work). When the
connection breaks, it tries the addresses in order (failover); once on a backup it goes
back to the primary after `primary_retry_s`.

Errors say whether the request may have been sent (`LinkError.sent`, see
`kassa.net._base`): `ConnectFailed` (never sent, every address's failure in `.attempts`),
or `ResponseTimeout`, `ConnectionLost`, `BadFrame` (sent: outcome unknown, reverse). After
any of the latter the connection is dropped, so a late answer can never be read as the
answer to the next request.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence

from kassa import limits
from kassa.errors import EncodeError
from kassa.net import _channel
from kassa.net._base import (
    Attempt,
    BadFrame,
    ConnectFailed,
    ConnectionLost,
    HostAddress,
    ResponseTimeout,
)
from kassa.net._channel import Broken, Channel, ProbeResult, Unreachable
from kassa.net.tls import client_context

# How long a terminal stays on a backup host before trying the primary again.
PRIMARY_RETRY_S = 300.0

__all__ = ["PRIMARY_RETRY_S", "HostLink", "ProbeResult"]


class HostLink:
    """A terminal's persistent, failing-over connection to its hosts (primary first)."""

    def __init__(
        self,
        addresses: Sequence[HostAddress],
        *,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout_s: float = limits.connect_timeout_ms / 1000,
        response_timeout_s: float = limits.response_timeout_ms / 1000,
        primary_retry_s: float = PRIMARY_RETRY_S,
        max_frame_bytes: int = limits.message_size_max_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`ssl_context` is used for the addresses marked `tls` (default: system CAs)."""
        if not addresses:
            raise ValueError("HostLink needs at least one host address")
        self._addresses = tuple(addresses)
        self._ssl_context = ssl_context
        self._connect_timeout_s = connect_timeout_s
        self._response_timeout_s = response_timeout_s
        self._primary_retry_s = primary_retry_s
        self._max_frame_bytes = max_frame_bytes
        self._clock = clock
        self._channel: Channel | None = None
        self._index: int | None = None  # which address the link uses (or last used)
        self._backup_since = 0.0
        self._failed: tuple[Attempt, ...] = ()
        self._lock = asyncio.Lock()

    @property
    def addresses(self) -> tuple[HostAddress, ...]:
        return self._addresses

    @property
    def current_address(self) -> HostAddress | None:
        """The address in use or last used; None before the first connection."""
        return None if self._index is None else self._addresses[self._index]

    @property
    def failed_attempts(self) -> tuple[Attempt, ...]:
        """The addresses that failed during the last (re)connection, in the order tried."""
        return self._failed

    @property
    def connected(self) -> bool:
        return self._channel is not None and self._channel.usable

    async def exchange(self, body: bytes, *, timeout_s: float | None = None) -> bytes:
        """Send one frame body, return the response body (see the module docstring)."""
        if not 0 < len(body) <= self._max_frame_bytes:
            raise EncodeError(f"frame body of {len(body)} bytes is out of bounds", "length")
        timeout = self._response_timeout_s if timeout_s is None else timeout_s
        async with self._lock:
            channel = await self._ready()
            done = False
            try:
                response = await channel.round_trip(body, timeout)
                done = True
                return response
            except TimeoutError:
                raise ResponseTimeout(channel.address, timeout) from None
            except Broken as exc:
                if exc.bad_frame:
                    raise BadFrame(channel.address, str(exc)) from None
                raise ConnectionLost(channel.address, str(exc)) from None
            finally:
                if not done:  # also on cancellation: the answer may still come, unasked for
                    await self._drop()

    async def probe(self, address: HostAddress) -> ProbeResult:
        """Connect to `address` once, timing TCP and trying TLS; never raises LinkError."""
        context = self._context() if address.tls else None
        return await _channel.probe(
            address, context, self._connect_timeout_s, self._max_frame_bytes
        )

    async def close(self) -> None:
        """Close the connection; a later exchange opens a new one."""
        async with self._lock:
            await self._drop()

    async def _ready(self) -> Channel:
        due = self._primary_due()
        if self._channel is not None and self._channel.usable and not due:
            return self._channel
        await self._drop()
        start = 0 if self._index is None or due else self._index
        count = len(self._addresses)
        attempts: list[Attempt] = []
        for index in [(start + step) % count for step in range(count)]:
            try:
                self._channel = await self._open(self._addresses[index])
            except Unreachable as exc:
                attempts.append(exc.attempt)
                continue
            if index != 0 and (due or index != self._index):
                self._backup_since = self._clock()  # failed over, or the primary still down
            self._index = index
            self._failed = tuple(attempts)
            return self._channel
        self._failed = tuple(attempts)
        raise ConnectFailed(self._failed)

    def _primary_due(self) -> bool:
        on_backup = self._index is not None and self._index != 0
        return on_backup and self._clock() - self._backup_since >= self._primary_retry_s

    async def _open(self, address: HostAddress) -> Channel:
        loop = asyncio.get_running_loop()
        started = loop.time()
        channel = await _channel.open_tcp(address, self._connect_timeout_s, self._max_frame_bytes)
        if address.tls:
            # One budget for TCP and TLS together: what a cashier waits is their sum.
            left = max(self._connect_timeout_s - (loop.time() - started), 0.001)
            try:
                await _channel.start_tls(channel, self._context(), left)
            except Unreachable:
                await channel.close()
                raise
        return channel

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = client_context(None, verify=True)
        return self._ssl_context

    async def _drop(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
