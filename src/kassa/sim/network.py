"""The faulty network between the terminals and the host.

Each terminal gets a `SimLink` (a `kassa.net.Link`). Before every exchange the shared
`Network` draws its fate from the seed's random stream: delivered, or one of the faults of
`kassa.net.MemoryLink` (dropped request or response, lost connection, garbled answer,
duplicate delivery, answer past the timeout), or held in the network and delivered to the
host later (a retransmission that turns up after the terminal gave up), or lost in a host
that went down before committing (sent, never booked, no answer). A terminal can
be cut off for a stretch of simulated time (a partition): its exchanges fail to connect.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kassa.clock import Clock
from kassa.net import (
    Attempt,
    ConnectFailed,
    ConnectionLost,
    Fault,
    HostAddress,
    MemoryLink,
    ResponseTimeout,
)
from kassa.net.memory import SyncHandler
from kassa.sim.model import FaultKind

Note = Callable[[FaultKind | None, str], None]
ADDRESS = HostAddress("sim-host", 5000)
_MEMORY_FAULTS = {
    FaultKind.DROP_REQUEST: Fault.DROP_REQUEST,
    FaultKind.DROP_RESPONSE: Fault.DROP_RESPONSE,
    FaultKind.LOSE_CONNECTION: Fault.LOSE_CONNECTION,
    FaultKind.BAD_FRAME: Fault.BAD_FRAME,
    FaultKind.DUPLICATE: Fault.DUPLICATE,
    FaultKind.DELAY: Fault.DELAY,
}
_KINDS = (*_MEMORY_FAULTS, FaultKind.LATE_DELIVERY, FaultKind.HOST_CRASH)
_WEIGHTS = (4, 4, 2, 2, 2, 2, 2, 1)
_LATE_ARRIVAL_CHANCE = 0.25  # per exchange, for each request held in the network


def message_type(body: bytes) -> str:
    """The MTI of a frame body (TPDU 5 bytes + header 6 bytes + BCD MTI), for the trace."""
    return body[11:13].hex() if len(body) >= 13 else "????"


class Network:
    """Decides the fate of every exchange; `fault_rate` is the chance of a fault."""

    def __init__(self, rng: random.Random, host: SyncHandler, clock: Clock, note: Note) -> None:
        self.rng = rng
        self.host = host
        self.clock = clock
        self.note = note
        self.fault_rate = 0.0
        self.calm = False  # no new faults, partitions lifted: lets the day end
        self.held: list[bytes] = []
        self.cut_until_ms: dict[str, int] = {}

    def link(self, name: str, response_timeout_s: float) -> SimLink:
        return SimLink(self, name, response_timeout_s)

    def cut(self, name: str, until_ms: int) -> None:
        """Cut terminal `name` off from the host until `until_ms` (host clock)."""
        self.cut_until_ms[name] = until_ms
        self.note(FaultKind.PARTITION, f"{name} cut off")

    def partitioned(self, name: str) -> bool:
        if self.calm:
            return False
        return self.clock.now_ms() < self.cut_until_ms.get(name, 0)

    def deliver_late(self) -> None:
        """Requests held in the network may reach the host now; their answers are lost."""
        for body in list(self.held):
            if self.rng.random() < _LATE_ARRIVAL_CHANCE:
                self.held.remove(body)
                self.note(None, f"late arrival at host({message_type(body)})")
                self.host(body)

    def fate(self, name: str) -> FaultKind | None:
        if self.calm or self.rng.random() >= self.fault_rate:
            return None
        return self.rng.choices(_KINDS, _WEIGHTS)[0]


class SimLink:
    """One terminal's `Link`: a `MemoryLink` to the host core, with the network's faults."""

    def __init__(self, net: Network, name: str, response_timeout_s: float) -> None:
        self.net = net
        self.name = name
        self.exchanges = 0
        self._timeout_s = response_timeout_s
        self._memory = MemoryLink(net.host, address=ADDRESS, response_timeout_s=response_timeout_s)

    @property
    def current_address(self) -> HostAddress | None:
        return ADDRESS

    async def exchange(self, body: bytes, *, timeout_s: float | None = None) -> bytes:
        net, mti = self.net, message_type(body)
        self.exchanges += 1
        net.deliver_late()
        if net.partitioned(self.name):
            net.note(None, f"partitioned({mti})")
            raise ConnectFailed((Attempt(ADDRESS, "unreachable", "partition (injected)"),))
        fate = net.fate(self.name)
        if fate is None:
            return await self._memory.exchange(body, timeout_s=timeout_s)
        net.note(fate, mti)
        timeout = self._timeout_s if timeout_s is None else timeout_s
        if fate is FaultKind.LATE_DELIVERY:
            net.held.append(body)
            raise ResponseTimeout(ADDRESS, timeout)
        if fate is FaultKind.HOST_CRASH:  # its transaction rolled back: as if never received
            raise ConnectionLost(ADDRESS, "host went down mid-request (injected)")
        self._memory.schedule.add(_MEMORY_FAULTS[fate], delay_s=timeout + 1.0)
        return await self._memory.exchange(body, timeout_s=timeout_s)

    async def close(self) -> None:
        await self._memory.close()
