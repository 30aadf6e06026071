"""The simulated network: each fault does to the host and the terminal what it says."""

from __future__ import annotations

import asyncio
import random

import pytest

from kassa.clock import FixedClock
from kassa.net import ConnectFailed, LinkError, ResponseTimeout
from kassa.sim.model import FaultKind
from kassa.sim.network import Network, message_type

BODY = bytes.fromhex("60000300006031003100000200") + b"rest of the message"
ANSWER = bytes.fromhex("60000300006031003100000210") + b"answer"


class Rigged(Network):
    """A network whose next fates are given by the test."""

    def __init__(self, fates: list[FaultKind | None]) -> None:
        self.received: list[bytes] = []
        self.noted: list[FaultKind | None] = []
        self.clock = FixedClock(1_000_000)
        super().__init__(random.Random(1), self._host, self.clock, self._note)
        self.fates = fates

    def _host(self, body: bytes) -> bytes:
        self.received.append(body)
        return ANSWER

    def _note(self, kind: FaultKind | None, _detail: str) -> None:
        self.noted.append(kind)

    def fate(self, name: str) -> FaultKind | None:
        return self.fates.pop(0) if self.fates else None


def exchange(net: Network) -> bytes:
    return asyncio.run(net.link("T1", 60.0).exchange(BODY))


def test_message_type_is_read_from_the_frame() -> None:
    assert message_type(BODY) == "0200" and message_type(b"short") == "????"


def test_no_fault_delivers_once() -> None:
    net = Rigged([None])
    assert exchange(net) == ANSWER and net.received == [BODY]


@pytest.mark.parametrize(
    ("fault", "error", "deliveries"),
    [
        (FaultKind.DROP_REQUEST, ConnectFailed, 0),
        (FaultKind.DROP_RESPONSE, ResponseTimeout, 1),
        (FaultKind.LOSE_CONNECTION, LinkError, 1),
        (FaultKind.BAD_FRAME, LinkError, 1),
        (FaultKind.DELAY, ResponseTimeout, 1),
        (FaultKind.HOST_CRASH, LinkError, 0),
    ],
)
def test_faults_that_lose_the_answer(
    fault: FaultKind, error: type[Exception], deliveries: int
) -> None:
    net = Rigged([fault])
    with pytest.raises(error) as caught:
        exchange(net)
    assert len(net.received) == deliveries and net.noted == [fault]
    sent = fault is not FaultKind.DROP_REQUEST  # the terminal cannot tell a host crash
    assert isinstance(caught.value, LinkError) and caught.value.sent == sent


def test_duplicate_reaches_the_host_twice_and_answers_once() -> None:
    net = Rigged([FaultKind.DUPLICATE])
    assert exchange(net) == ANSWER and net.received == [BODY, BODY]


def test_late_delivery_is_held_then_reaches_the_host_later() -> None:
    net = Rigged([FaultKind.LATE_DELIVERY])
    with pytest.raises(ResponseTimeout) as caught:
        exchange(net)
    assert caught.value.sent and net.received == [] and net.held == [BODY]
    for _ in range(200):  # each exchange gives every held request a chance to arrive
        if not net.held:
            break
        net.deliver_late()
    assert net.held == [] and net.received == [BODY]


def test_partition_refuses_until_it_ends_and_calm_lifts_it() -> None:
    net = Rigged([])
    net.cut("T1", net.clock.now_ms() + 60_000)
    with pytest.raises(ConnectFailed):
        exchange(net)
    net.clock.advance(60_000)
    assert exchange(net) == ANSWER
    net.cut("T1", net.clock.now_ms() + 60_000)
    net.calm = True
    assert exchange(net) == ANSWER
    assert net.noted == [FaultKind.PARTITION, None, FaultKind.PARTITION]


def test_fate_follows_the_fault_rate() -> None:
    net = Network(random.Random(3), lambda body: body, FixedClock(0), lambda k, d: None)
    assert all(net.fate("T1") is None for _ in range(100))  # rate 0
    net.fault_rate = 1.0
    kinds = {net.fate("T1") for _ in range(500)}
    assert None not in kinds and FaultKind.LATE_DELIVERY in kinds and len(kinds) == 8
