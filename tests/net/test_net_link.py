"""HostLink against real FrameServers on 127.0.0.1: failover and what `sent` promises."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from netkit import TPDU, Harness, harness, until

from kassa.errors import ConfigError, EncodeError
from kassa.net import (
    BadFrame,
    ConnectFailed,
    ConnectionLost,
    HostAddress,
    HostLink,
    Link,
    LinkError,
    ResponseTimeout,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kit() -> AsyncIterator[Harness]:
    async with harness() as opened:
        yield opened


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused at once."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        yield blocker.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose accept queue is full: a connection attempt gets no answer."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())  # takes the one slot of the queue
        yield listener.getsockname()[1]


def tagged(name: bytes) -> Callable[[bytes], Awaitable[bytes]]:
    """A handler that says which server answered."""

    async def handler(body: bytes) -> bytes:
        return name + b":" + body

    return handler


def at(port: int) -> HostAddress:
    return HostAddress("127.0.0.1", port)


async def test_exchange_keeps_one_connection_open(kit: Harness) -> None:
    server = await kit.server(tagged(b"main"))
    link = HostLink([at(server.port)])
    try:
        assert link.current_address is None
        for number in range(3):
            body = TPDU + bytes([number])
            assert await link.exchange(body) == b"main:" + body
        assert server.connection_count == 1
        assert link.current_address == at(server.port)
        assert isinstance(link, Link)
    finally:
        await link.close()
    await until(lambda: server.connection_count == 0)


async def test_failover_from_a_refused_primary_to_a_live_backup(
    kit: Harness, refused_port: int
) -> None:
    backup = await kit.server(tagged(b"backup"))
    link = HostLink([at(refused_port), at(backup.port)])
    try:
        assert await link.exchange(TPDU + b"x") == b"backup:" + TPDU + b"x"
        assert link.current_address == at(backup.port)
        [attempt] = link.failed_attempts
        assert (attempt.address, attempt.reason) == (at(refused_port), "refused")
    finally:
        await link.close()


async def test_nothing_reachable_means_never_sent(refused_port: int, silent_port: int) -> None:
    addresses = [at(refused_port), at(silent_port), HostAddress("no-such-host.invalid", 5000)]
    link = HostLink(addresses, connect_timeout_s=0.2)
    try:
        with pytest.raises(ConnectFailed) as caught:
            await link.exchange(TPDU + b"x")
    finally:
        await link.close()
    failure = caught.value
    assert failure.sent is False
    assert [attempt.address for attempt in failure.attempts] == addresses
    assert [attempt.reason for attempt in failure.attempts] == ["refused", "timeout", "dns"]
    assert failure.reason == "dns"
    assert failure.address == addresses[-1]
    assert str(refused_port) in str(failure)


async def test_no_answer_is_a_response_timeout_with_sent_true(kit: Harness) -> None:
    async def mute(body: bytes) -> bytes | None:
        return None if body.endswith(b"mute") else body

    server = await kit.server(mute)
    link = HostLink([at(server.port)], response_timeout_s=0.15)
    try:
        with pytest.raises(ResponseTimeout) as caught:
            await link.exchange(TPDU + b"mute")
        assert caught.value.sent is True
        assert caught.value.timeout_s == 0.15
        # The connection was dropped; the next exchange opens a new one and works.
        assert await link.exchange(TPDU + b"next") == TPDU + b"next"
    finally:
        await link.close()


async def test_a_late_answer_is_never_taken_for_the_next_one(kit: Harness) -> None:
    async def late_once(body: bytes) -> bytes:
        if body.endswith(b"first"):
            await asyncio.sleep(0.3)
        return body

    server = await kit.server(late_once)
    link = HostLink([at(server.port)])
    try:
        with pytest.raises(ResponseTimeout):
            await link.exchange(TPDU + b"first", timeout_s=0.1)
        await asyncio.sleep(0.3)  # the late answer is on its way now
        assert await link.exchange(TPDU + b"second") == TPDU + b"second"
    finally:
        await link.close()


async def test_server_closing_mid_exchange_is_connection_lost(kit: Harness) -> None:
    async def crashing(body: bytes) -> bytes:
        raise RuntimeError("host core bug")

    server = await kit.server(crashing)
    link = HostLink([at(server.port)])
    try:
        with pytest.raises(ConnectionLost) as caught:
            await link.exchange(TPDU + b"x")
    finally:
        await link.close()
    assert caught.value.sent is True
    assert caught.value.address == at(server.port)


async def test_garbage_from_the_host_is_a_bad_frame() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"\x00\x00HTTP/1.1 400")
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    link = HostLink([at(server.sockets[0].getsockname()[1])])
    try:
        with pytest.raises(BadFrame) as caught:
            await link.exchange(TPDU + b"x")
        assert caught.value.sent is True
    finally:
        await link.close()
        server.close()
        await server.wait_closed()


async def test_reconnects_to_the_backup_when_the_primary_goes_away(kit: Harness) -> None:
    primary = await kit.server(tagged(b"primary"))
    backup = await kit.server(tagged(b"backup"))
    link = HostLink([at(primary.port), at(backup.port)])
    try:
        assert (await link.exchange(TPDU)).startswith(b"primary:")
        await primary.stop()
        await until(lambda: not link.connected)
        assert (await link.exchange(TPDU)).startswith(b"backup:")
        assert [attempt.reason for attempt in link.failed_attempts] == ["refused"]
    finally:
        await link.close()


async def test_goes_back_to_the_primary_after_the_interval(kit: Harness) -> None:
    now = [1000.0]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        primary_port = blocker.getsockname()[1]
        backup = await kit.server(tagged(b"backup"))
        link = HostLink(
            [at(primary_port), at(backup.port)], primary_retry_s=60, clock=lambda: now[0]
        )
        assert (await link.exchange(TPDU)).startswith(b"backup:")
        now[0] += 30
        assert (await link.exchange(TPDU)).startswith(b"backup:")
    try:
        await kit.server(tagged(b"primary"), port=primary_port)  # the primary is back
        now[0] += 29
        assert (await link.exchange(TPDU)).startswith(b"backup:")  # not yet time to look
        assert backup.connection_count == 1
        now[0] += 1
        assert (await link.exchange(TPDU)).startswith(b"primary:")
        assert link.current_address == at(primary_port)
        await until(lambda: backup.connection_count == 0)
    finally:
        await link.close()


async def test_primary_still_down_at_retry_keeps_the_backup_for_another_interval(
    kit: Harness,
) -> None:
    now = [0.0]
    backup = await kit.server(tagged(b"backup"))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        primary_port = blocker.getsockname()[1]
        link = HostLink(
            [at(primary_port), at(backup.port)], primary_retry_s=10, clock=lambda: now[0]
        )
        await link.exchange(TPDU)
        now[0] = 10
        assert (await link.exchange(TPDU)).startswith(b"backup:")  # tried the primary again
        assert [attempt.address for attempt in link.failed_attempts] == [at(primary_port)]
    try:
        await kit.server(tagged(b"primary"), port=primary_port)
        now[0] = 19  # a new interval began at 10: the primary is not looked at before 20
        assert (await link.exchange(TPDU)).startswith(b"backup:")
        now[0] = 20
        assert (await link.exchange(TPDU)).startswith(b"primary:")
    finally:
        await link.close()


async def test_a_cancelled_exchange_drops_the_connection(kit: Harness) -> None:
    async def slow(body: bytes) -> bytes:
        await asyncio.sleep(0.2)
        return body

    server = await kit.server(slow)
    link = HostLink([at(server.port)])
    try:
        task = asyncio.create_task(link.exchange(TPDU + b"x"))
        await until(lambda: server.connection_count == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not link.connected
        assert await link.exchange(TPDU + b"y") == TPDU + b"y"
    finally:
        await link.close()


async def test_bodies_outside_the_frame_bounds_are_refused_before_sending() -> None:
    link = HostLink([HostAddress("127.0.0.1", 9)])
    for body in (b"", bytes(4095)):
        with pytest.raises(EncodeError):
            await link.exchange(body)
    assert link.current_address is None


async def test_probe(kit: Harness, refused_port: int) -> None:
    server = await kit.server()
    link = HostLink([at(server.port)])
    live = await link.probe(at(server.port))
    assert live.tcp_ms is not None and live.tcp_ms >= 0
    assert (live.tls_ok, live.error) == (None, None)
    dead = await link.probe(at(refused_port))
    assert (dead.tcp_ms, dead.tls_ok) == (None, None)
    assert dead.error is not None and dead.error.startswith("refused")
    await until(lambda: server.connection_count == 0)


def test_every_link_error_says_whether_it_was_sent() -> None:
    address = HostAddress("h", 1)
    assert ResponseTimeout(address, 1).sent and ConnectionLost(address, "x").sent
    assert BadFrame(address, "x").sent
    assert issubclass(ConnectFailed, LinkError) and ConnectFailed.sent is False


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("10.0.0.1:5000", HostAddress("10.0.0.1", 5000)),
        ("tls://host.example:443", HostAddress("host.example", 443, tls=True)),
        ("[::1]:7000", HostAddress("::1", 7000)),
    ],
)
def test_host_address_text(text: str, address: HostAddress) -> None:
    assert HostAddress.parse(text) == address
    assert str(address) == text


@pytest.mark.parametrize("text", ["host", "host:", "host:http", ":5000", "host:70000"])
def test_bad_host_address_text(text: str) -> None:
    with pytest.raises(ConfigError):
        HostAddress.parse(text)
