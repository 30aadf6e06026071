"""One terminal-side connection: a Protocol that holds at most one awaited response."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass

from kassa.errors import DecodeError
from kassa.iso8583.framing import LENGTH_SIZE, FrameBuffer
from kassa.net._base import Attempt, ConnectReason, HostAddress

_CLOSE_WAIT_S = 1.0  # how long `close` waits for a TLS close_notify before aborting


class Unreachable(Exception):
    """Opening a channel failed; carries the attempt to record."""

    def __init__(self, attempt: Attempt) -> None:
        super().__init__(str(attempt))
        self.attempt = attempt


class Broken(Exception):
    """The channel broke while a response was awaited: `bad_frame` or a lost connection."""

    def __init__(self, detail: str, bad_frame: bool = False) -> None:
        super().__init__(detail)
        self.bad_frame = bad_frame


class Channel(asyncio.Protocol):
    """A persistent connection to one host address.

    A frame that arrives while nobody waits (a late answer to an exchange that timed out)
    makes the channel unusable: reusing it could hand that stale answer to the next
    request.
    """

    def __init__(self, address: HostAddress, max_frame_bytes: int) -> None:
        self.address = address
        self.transport: asyncio.Transport | None = None
        self._frames = FrameBuffer(max_frame_bytes)
        self._waiter: asyncio.Future[bytes] | None = None
        self._usable = True
        self._closed = asyncio.get_running_loop().create_future()

    @property
    def usable(self) -> bool:
        return (
            self._usable
            and self._frames.pending_bytes == 0
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            bodies = self._frames.feed(data)
        except DecodeError as exc:
            self._break(Broken(str(exc), bad_frame=True))
            return
        for body in bodies:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(body)
            else:
                self._usable = False

    def eof_received(self) -> bool:
        self._break(Broken("the host closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._break(Broken(str(exc) if exc else "connection closed"))
        if not self._closed.done():
            self._closed.set_result(None)

    def _break(self, why: Broken) -> None:
        self._usable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(why)
        if why.bad_frame and self.transport is not None:
            self.transport.abort()

    async def round_trip(self, body: bytes, timeout_s: float) -> bytes:
        """Send one body, await one response body. Raises Broken or TimeoutError."""
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(len(body).to_bytes(LENGTH_SIZE, "big") + body)
            async with asyncio.timeout(timeout_s):
                return await self._waiter
        finally:
            self._waiter = None

    async def close(self) -> None:
        if self.transport is None:
            return
        self.transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), _CLOSE_WAIT_S)
        except TimeoutError:
            # No close_notify from the peer, or a transport that asyncio replaced during a
            # failed TLS upgrade and never reports back: drop it without waiting further.
            self.transport.abort()
            await asyncio.sleep(0)


async def open_tcp(address: HostAddress, timeout_s: float, max_frame_bytes: int) -> Channel:
    """Connect TCP (no TLS yet). Raises Unreachable with the reason."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            _, channel = await loop.create_connection(
                lambda: Channel(address, max_frame_bytes), address.host, address.port
            )
    except TimeoutError:
        raise _unreachable(address, "timeout", f"no answer within {timeout_s:g} s") from None
    except socket.gaierror as exc:
        raise _unreachable(address, "dns", exc.strerror or str(exc)) from None
    except ConnectionRefusedError as exc:
        raise _unreachable(address, "refused", exc.strerror or str(exc)) from None
    except OSError as exc:
        raise _unreachable(address, "unreachable", exc.strerror or str(exc)) from None
    return channel


async def start_tls(channel: Channel, context: ssl.SSLContext, timeout_s: float) -> None:
    """Upgrade an open channel to TLS (closing it on failure). Raises Unreachable("tls")."""
    loop = asyncio.get_running_loop()
    assert channel.transport is not None
    try:
        async with asyncio.timeout(timeout_s):
            transport = await loop.start_tls(
                channel.transport, channel, context, server_hostname=channel.address.host
            )
    except TimeoutError:
        raise _unreachable(channel.address, "tls", "handshake timed out") from None
    except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError; resets during handshake
        detail = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        raise _unreachable(channel.address, "tls", str(detail)) from None
    assert isinstance(transport, asyncio.Transport)
    channel.transport = transport


def _unreachable(address: HostAddress, reason: ConnectReason, detail: str) -> Unreachable:
    return Unreachable(Attempt(address, reason, detail))


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What `probe` learnt: TCP connect time, whether TLS works, and the first error."""

    address: HostAddress
    tcp_ms: float | None
    tls_ok: bool | None  # None when the address does not use TLS or TCP failed
    error: str | None


async def probe(
    address: HostAddress, context: ssl.SSLContext | None, timeout_s: float, max_frame_bytes: int
) -> ProbeResult:
    """Connect once (and handshake TLS when the address uses it), then hang up."""
    started = time.perf_counter()
    try:
        channel = await open_tcp(address, timeout_s, max_frame_bytes)
    except Unreachable as exc:
        return ProbeResult(address, None, None, f"{exc.attempt.reason}: {exc.attempt.detail}")
    tcp_ms = (time.perf_counter() - started) * 1000
    try:
        if not address.tls or context is None:
            return ProbeResult(address, tcp_ms, None, None)
        await start_tls(channel, context, timeout_s)
        return ProbeResult(address, tcp_ms, True, None)
    except Unreachable as exc:
        return ProbeResult(address, tcp_ms, False, f"tls: {exc.attempt.detail}")
    finally:
        await channel.close()
