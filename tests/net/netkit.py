"""Helpers shared by the network tests: a raw frame client and a server starter."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kassa.net import FrameServer

TPDU = bytes.fromhex("6000030000")
Handler = Callable[[bytes], Awaitable[bytes | None]]


def frame(body: bytes) -> bytes:
    """A body with its 2-byte big-endian length prefix (reference §1.1)."""
    return len(body).to_bytes(2, "big") + body


async def echo(body: bytes) -> bytes:
    """Answer with a marker and the request, so a test can tell answer from request."""
    return b"ok:" + body


class Client:
    """A raw TCP (or TLS) client that writes frames and reads frames, nothing more."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext | None = None) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        return cls(reader, writer)

    async def send(self, *bodies: bytes) -> None:
        self.writer.write(b"".join(frame(body) for body in bodies))
        await self.writer.drain()

    async def recv(self, timeout_s: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout_s):
            size = int.from_bytes(await self.reader.readexactly(2), "big")
            return await self.reader.readexactly(size)

    async def hung_up(self, timeout_s: float = 5.0) -> bool:
        """True when the server closes the connection (EOF or reset) within the timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.reader.read(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self.writer.wait_closed()


class Harness:
    """Starts servers and clients for one test and stops every one of them afterwards."""

    def __init__(self) -> None:
        self.servers: list[FrameServer] = []
        self.clients: list[Client] = []
        self.errors: list[tuple[str, str]] = []

    async def server(self, handler: Handler = echo, **options: Any) -> FrameServer:
        options.setdefault("on_error", lambda kind, detail: self.errors.append((kind, detail)))
        server = FrameServer(handler, host="127.0.0.1", port=options.pop("port", 0), **options)
        self.servers.append(server)
        await server.start()
        return server

    async def client(self, port: int, context: ssl.SSLContext | None = None) -> Client:
        client = await Client.open(port, context)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for server in self.servers:
            await server.stop(grace_s=1.0)


@contextlib.asynccontextmanager
async def harness() -> AsyncIterator[Harness]:
    kit = Harness()
    try:
        yield kit
    finally:
        await kit.close()


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until `condition()` holds (polling), or fail the test."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)
