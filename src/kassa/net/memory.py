"""An in-memory `Link` for tests and the deterministic simulator, with scheduled faults.

`MemoryLink(handler)` hands each request body straight to a synchronous handler (the pure
host core) and returns its answer, raising the same `LinkError`s as `HostLink`. A
`FaultSchedule` says what goes wrong on the next exchanges, in order::

    schedule = FaultSchedule().lose_next_response()
    link = MemoryLink(host.handle, schedule=schedule)
    await link.exchange(sale)   # the host booked it; raises ResponseTimeout (sent=True)

Faults that lose something raise at once, without waiting out the timeout: no wall-clock
time passes, the simulator keeps its own clock (the error carries `timeout_s`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from kassa import limits
from kassa.errors import EncodeError
from kassa.net._base import (
    Attempt,
    BadFrame,
    ConnectFailed,
    ConnectionLost,
    HostAddress,
    ResponseTimeout,
)

SyncHandler = Callable[[bytes], bytes | None]
MEMORY_ADDRESS = HostAddress("memory", 1)


class Fault(StrEnum):
    """What goes wrong with one exchange."""

    DROP_REQUEST = "drop-request"  # never reaches the host: ConnectFailed, sent=False
    DROP_RESPONSE = "drop-response"  # the host handles it, the answer is lost: ResponseTimeout
    LOSE_CONNECTION = "lose-connection"  # the host handles it, then the line drops
    BAD_FRAME = "bad-frame"  # the host handles it, its answer arrives garbled: BadFrame
    DUPLICATE = "duplicate"  # the host receives it twice; the first answer comes back
    DELAY = "delay"  # the answer comes `delay_s` late (ResponseTimeout if not in time)


@dataclass(frozen=True, slots=True)
class Step:
    """The fate of one exchange: no fault, or one fault (with its delay for DELAY)."""

    fault: Fault | None = None
    delay_s: float = 0.0


class FaultSchedule:
    """Faults for the coming exchanges, consumed one per exchange; none left means none."""

    def __init__(self, steps: Iterable[Step | Fault | None] = ()) -> None:
        self._steps: deque[Step] = deque()
        for step in steps:
            self._steps.append(step if isinstance(step, Step) else Step(step))

    def add(self, fault: Fault | None, *, delay_s: float = 0.0, times: int = 1) -> FaultSchedule:
        """Append `times` exchanges with `fault` (None: delivered normally); chainable."""
        if delay_s < 0 or times < 0:
            raise ValueError("delay_s and times must not be negative")
        self._steps.extend(Step(fault, delay_s) for _ in range(times))
        return self

    def lose_next_request(self) -> FaultSchedule:
        return self.add(Fault.DROP_REQUEST)

    def lose_next_response(self) -> FaultSchedule:
        return self.add(Fault.DROP_RESPONSE)

    def delay_next(self, delay_s: float) -> FaultSchedule:
        return self.add(Fault.DELAY, delay_s=delay_s)

    def take(self) -> Step:
        """The next exchange's fate (no fault once the schedule is used up)."""
        return self._steps.popleft() if self._steps else Step()

    def __len__(self) -> int:
        return len(self._steps)


class MemoryLink:
    """A `Link` whose host is a function call.

    `delivered` lists every body the host received (a duplicate twice); `stray` every
    answer the host produced that never reached the caller (lost, or the second of a
    duplicate): a test can check that the host answered a repeat identically.
    """

    def __init__(
        self,
        handler: SyncHandler,
        *,
        schedule: FaultSchedule | None = None,
        address: HostAddress = MEMORY_ADDRESS,
        response_timeout_s: float = limits.response_timeout_ms / 1000,
        max_frame_bytes: int = limits.message_size_max_bytes,
    ) -> None:
        self.schedule = schedule if schedule is not None else FaultSchedule()
        self.delivered: list[bytes] = []
        self.stray: list[bytes | None] = []
        self._handler = handler
        self._address = address
        self._response_timeout_s = response_timeout_s
        self._max_frame_bytes = max_frame_bytes
        self._lock = asyncio.Lock()

    @property
    def current_address(self) -> HostAddress | None:
        return self._address

    async def exchange(self, body: bytes, *, timeout_s: float | None = None) -> bytes:
        """Deliver `body` to the handler unless the schedule says otherwise."""
        if not 0 < len(body) <= self._max_frame_bytes:
            raise EncodeError(f"frame body of {len(body)} bytes is out of bounds", "length")
        timeout = self._response_timeout_s if timeout_s is None else timeout_s
        async with self._lock:
            step = self.schedule.take()
            if step.fault is Fault.DROP_REQUEST:
                attempt = Attempt(self._address, "unreachable", "request dropped (injected)")
                raise ConnectFailed((attempt,))
            response = self._deliver(body)
            if step.fault is Fault.DUPLICATE:
                self.stray.append(self._deliver(body))
            lost = self._lost(step, response, timeout)
            if lost is not None:
                self.stray.append(response)
                raise lost
            if step.fault is Fault.DELAY:
                await asyncio.sleep(step.delay_s)
            assert response is not None
            return response

    async def close(self) -> None:
        """Nothing to close; present so MemoryLink and HostLink are interchangeable."""

    def _deliver(self, body: bytes) -> bytes | None:
        self.delivered.append(body)
        return self._handler(body)

    def _lost(self, step: Step, response: bytes | None, timeout: float) -> Exception | None:
        """The error the caller sees when the answer does not reach it, else None."""
        address = self._address
        if step.fault is Fault.LOSE_CONNECTION:
            return ConnectionLost(address, "connection dropped (injected)")
        if step.fault is Fault.BAD_FRAME:
            return BadFrame(address, "garbled answer (injected)")
        late = step.fault is Fault.DELAY and step.delay_s >= timeout
        if step.fault is Fault.DROP_RESPONSE or late or response is None:
            return ResponseTimeout(address, timeout)
        if not 0 < len(response) <= self._max_frame_bytes:
            # What the real server does with an answer it cannot frame: it hangs up.
            return ConnectionLost(address, f"host answer of {len(response)} bytes out of bounds")
        return None
