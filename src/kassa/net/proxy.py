"""A fault-injecting TCP proxy for drills and chaos runs, on loopback.

It forwards whole frames between terminals and a host and can, on command: cut the line
right after a request reaches the host (the answer is lost: the terminal must reverse),
refuse connections (the host looks down), or delay answers. Faults are counted by kind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from enum import StrEnum

from kassa.iso8583.framing import FrameBuffer


class ProxyFault(StrEnum):
    CUT_AFTER_REQUEST = (
        "cut_after_request"  # the request reaches the host, the answer never returns
    )
    REFUSE = "refuse"  # new connections are closed at once (host unreachable)
    DELAY = "delay"  # answers held for `delay_s`


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.faults: Counter[str] = Counter()
        self._cut_next = 0
        self.refusing = False
        self.delay_s = 0.0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    def cut_next_response(self, count: int = 1) -> None:
        self._cut_next += count

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.close()  # the pumps see end-of-stream and finish by themselves
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.faults[ProxyFault.REFUSE] += 1
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers |= {writer, up_writer}
        try:
            await self._pump(reader, writer, up_reader, up_writer)
        except OSError:
            pass  # a reset line is a normal end here
        finally:
            self._tasks.discard(task)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:  # fmt: skip
        """Both directions at once, so a close on either side reaches the other at once."""
        upstream = asyncio.ensure_future(self._forward(reader, up_writer, False))
        downstream = asyncio.ensure_future(self._forward(up_reader, writer, True))
        done, pending = await asyncio.wait(
            {upstream, downstream}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                task.result()  # a reset line is a normal end; never leave it unretrieved
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       answers: bool) -> None:  # fmt: skip
        frames = FrameBuffer()
        while data := await reader.read(65536):
            for body in frames.feed(data):
                if answers and self._cut_next:
                    self._cut_next -= 1
                    self.faults[ProxyFault.CUT_AFTER_REQUEST] += 1
                    return  # the host has done its work; the terminal hears nothing
                if answers and self.delay_s:
                    self.faults[ProxyFault.DELAY] += 1
                    await asyncio.sleep(self.delay_s)
                writer.write(len(body).to_bytes(2, "big") + body)
                await writer.drain()
