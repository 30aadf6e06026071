"""MemoryLink: the same promises as HostLink, with faults injected on schedule."""

from __future__ import annotations

import asyncio

import pytest

from kassa.errors import EncodeError
from kassa.net import (
    BadFrame,
    ConnectFailed,
    ConnectionLost,
    Fault,
    FaultSchedule,
    HostLink,
    Link,
    LinkError,
    MemoryLink,
    ResponseTimeout,
    Step,
)
from kassa.net.memory import MEMORY_ADDRESS

pytestmark = pytest.mark.anyio


class CountingHost:
    """A stand-in host core: books each request once, answers repeats identically."""

    def __init__(self) -> None:
        self.booked: dict[bytes, bytes] = {}

    def __call__(self, body: bytes) -> bytes | None:
        if body == b"mute":
            return None
        if body not in self.booked:
            self.booked[body] = b"answer-" + str(len(self.booked)).encode()
        return self.booked[body]


async def test_both_links_satisfy_the_protocol() -> None:
    memory = MemoryLink(CountingHost())
    assert isinstance(memory, Link)
    assert isinstance(HostLink([MEMORY_ADDRESS]), Link)
    assert memory.current_address == MEMORY_ADDRESS


async def test_no_fault_is_a_plain_call() -> None:
    host = CountingHost()
    link = MemoryLink(host)
    assert await link.exchange(b"sale") == b"answer-0"
    assert await link.exchange(b"void") == b"answer-1"
    assert link.delivered == [b"sale", b"void"] and link.stray == []


async def test_a_lost_request_never_reaches_the_host() -> None:
    host = CountingHost()
    link = MemoryLink(host, schedule=FaultSchedule().lose_next_request())
    with pytest.raises(ConnectFailed) as caught:
        await link.exchange(b"sale")
    assert caught.value.sent is False
    assert host.booked == {} and link.delivered == []
    assert await link.exchange(b"sale") == b"answer-0"  # the schedule is used up


async def test_a_lost_response_was_booked_by_the_host() -> None:
    host = CountingHost()
    link = MemoryLink(host, schedule=FaultSchedule().lose_next_response())
    with pytest.raises(ResponseTimeout) as caught:
        await link.exchange(b"sale", timeout_s=7)
    assert (caught.value.sent, caught.value.timeout_s) == (True, 7)
    assert host.booked == {b"sale": b"answer-0"}
    assert link.stray == [b"answer-0"]


@pytest.mark.parametrize(
    ("fault", "error"), [(Fault.LOSE_CONNECTION, ConnectionLost), (Fault.BAD_FRAME, BadFrame)]
)
async def test_faults_after_delivery_leave_the_outcome_unknown(
    fault: Fault, error: type[LinkError]
) -> None:
    link = MemoryLink(CountingHost(), schedule=FaultSchedule([fault]))
    with pytest.raises(error) as caught:
        await link.exchange(b"sale")
    assert caught.value.sent is True
    assert link.delivered == [b"sale"]


async def test_duplicate_delivery_shows_the_host_repeat() -> None:
    host = CountingHost()
    link = MemoryLink(host, schedule=FaultSchedule().add(Fault.DUPLICATE))
    assert await link.exchange(b"sale") == b"answer-0"
    assert link.delivered == [b"sale", b"sale"]
    assert link.stray == [b"answer-0"]  # the host answered the repeat identically


async def test_delay_within_and_beyond_the_timeout() -> None:
    link = MemoryLink(CountingHost(), schedule=FaultSchedule().delay_next(0.05).delay_next(5))
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await link.exchange(b"sale") == b"answer-0"
    assert loop.time() - began >= 0.04
    began = loop.time()
    with pytest.raises(ResponseTimeout):
        await link.exchange(b"void", timeout_s=1)
    assert loop.time() - began < 0.5  # a lost answer costs no wall-clock time


async def test_a_host_that_does_not_answer_is_a_timeout() -> None:
    link = MemoryLink(CountingHost())
    with pytest.raises(ResponseTimeout):
        await link.exchange(b"mute")


async def test_a_host_answer_out_of_bounds_is_a_lost_connection() -> None:
    link = MemoryLink(lambda body: bytes(5000))
    with pytest.raises(ConnectionLost):
        await link.exchange(b"sale")


async def test_schedule_runs_in_order_then_delivers_normally() -> None:
    schedule = FaultSchedule([None, Fault.DROP_RESPONSE, Step(Fault.DELAY, 0.0)])
    schedule.add(Fault.DROP_REQUEST, times=2)
    assert len(schedule) == 5
    link = MemoryLink(CountingHost(), schedule=schedule)
    outcomes: list[str] = []
    for number in range(7):
        try:
            await link.exchange(b"r%d" % number)
            outcomes.append("ok")
        except LinkError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes == [
        "ok",
        "ResponseTimeout",
        "ok",
        "ConnectFailed",
        "ConnectFailed",
        "ok",
        "ok",
    ]
    assert len(schedule) == 0


async def test_bounds_and_bad_schedules() -> None:
    link = MemoryLink(CountingHost())
    with pytest.raises(EncodeError):
        await link.exchange(b"")
    with pytest.raises(ValueError, match="negative"):
        FaultSchedule().add(Fault.DELAY, delay_s=-1)
    await link.close()
