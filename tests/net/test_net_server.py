"""FrameServer over real TCP on 127.0.0.1: framing, pipelining, bounds, timeouts, stop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from netkit import TPDU, Client, Harness, harness, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kit() -> AsyncIterator[Harness]:
    async with harness() as opened:
        yield opened


async def test_echo_round_trip(kit: Harness) -> None:
    server = await kit.server()
    assert server.port > 0
    client = await kit.client(server.port)
    body = TPDU + bytes.fromhex("603100310001") + b"\x08\x00payload"
    await client.send(body)
    assert await client.recv() == b"ok:" + body
    await until(lambda: server.connection_count == 1)


async def test_200_connections_pipelining_20_frames_each_get_their_own_answers(
    kit: Harness,
) -> None:
    shuffle = random.Random(8583)

    async def jittery(body: bytes) -> bytes:
        await asyncio.sleep(shuffle.random() / 500)  # so answers overtake one another
        return b"ok:" + body

    server = await kit.server(jittery)
    clients = await asyncio.gather(*(kit.client(server.port) for _ in range(200)))

    async def talk(number: int, client: Client) -> None:
        bodies = [TPDU + f"c{number:03d}r{request:02d}".encode() for request in range(20)]
        await client.send(*bodies)  # all 20 in one write: pipelined
        answers = [await client.recv() for _ in bodies]
        assert sorted(answers) == sorted(b"ok:" + body for body in bodies)

    await asyncio.gather(*(talk(number, client) for number, client in enumerate(clients)))
    assert server.connection_count == 200


async def test_answers_leave_in_completion_order_not_request_order(kit: Harness) -> None:
    async def slow_first(body: bytes) -> bytes:
        await asyncio.sleep(0.2 if body.endswith(b"slow") else 0)
        return body

    server = await kit.server(slow_first)
    client = await kit.client(server.port)
    await client.send(TPDU + b"slow", TPDU + b"fast")
    assert [await client.recv(), await client.recv()] == [TPDU + b"fast", TPDU + b"slow"]


async def test_a_frame_written_one_byte_at_a_time(kit: Harness) -> None:
    seen: list[bytes] = []

    async def record(body: bytes) -> bytes:
        seen.append(body)
        return body

    server = await kit.server(record)
    client = await kit.client(server.port)
    body = TPDU + b"\x02\x00" + bytes(range(40))
    for byte in len(body).to_bytes(2, "big") + body:
        client.writer.write(bytes([byte]))
        await client.writer.drain()
        await asyncio.sleep(0.001)
    assert await client.recv() == body
    assert seen == [body]


@pytest.mark.parametrize("prefix", [b"\x00\x00", b"\xff\xff", (4095).to_bytes(2, "big")])
async def test_a_bad_length_prefix_closes_only_that_connection(kit: Harness, prefix: bytes) -> None:
    server = await kit.server()
    good, bad = await kit.client(server.port), await kit.client(server.port)
    await good.send(TPDU + b"before")
    assert await good.recv() == b"ok:" + TPDU + b"before"
    bad.writer.write(prefix + b"\x60" * 8)
    assert await bad.hung_up()
    await good.send(TPDU + b"after")
    assert await good.recv() == b"ok:" + TPDU + b"after"
    assert [kind for kind, _ in kit.errors] == ["bad-frame"]
    assert "127.0.0.1:" in kit.errors[0][1]


async def test_the_largest_allowed_frame_passes(kit: Harness) -> None:
    async def same(request: bytes) -> bytes:
        return request

    server = await kit.server(same, max_frame_bytes=4094)
    client = await kit.client(server.port)
    body = TPDU + bytes(4094 - len(TPDU))
    await client.send(body)
    assert await client.recv() == body


async def test_idle_connections_are_closed_and_busy_ones_are_not(kit: Harness) -> None:
    server = await kit.server(idle_timeout_s=0.3)
    silent, trickling, chatty = [await kit.client(server.port) for _ in range(3)]
    trickling.writer.write(b"\x00\x20")  # a frame that never completes

    async def chat() -> None:
        for number in range(8):
            await chatty.send(TPDU + bytes([number]))
            await chatty.recv()
            await asyncio.sleep(0.1)

    async def trickle() -> None:
        for _ in range(8):  # bytes keep coming, a frame never does: that is idle too
            trickling.writer.write(b"\x60")
            await asyncio.sleep(0.1)

    results = await asyncio.gather(silent.hung_up(2), trickling.hung_up(2), chat(), trickle())
    assert list(results[:2]) == [True, True]
    await chatty.send(TPDU + b"still here")
    assert await chatty.recv() == b"ok:" + TPDU + b"still here"
    assert kit.errors == []


async def test_a_slow_handler_is_not_idle(kit: Harness) -> None:
    async def slow(body: bytes) -> bytes:
        await asyncio.sleep(0.5)
        return body

    server = await kit.server(slow, idle_timeout_s=0.2)
    client = await kit.client(server.port)
    await client.send(TPDU + b"x")
    assert await client.recv() == TPDU + b"x"


async def test_in_flight_bound_per_connection(kit: Harness) -> None:
    running = peak = 0

    async def counted(body: bytes) -> bytes:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return body

    server = await kit.server(counted, max_in_flight_per_conn=3)
    first, second = await kit.client(server.port), await kit.client(server.port)
    bodies = [TPDU + bytes([number]) for number in range(30)]
    await first.send(*bodies)
    assert sorted([await first.recv() for _ in bodies]) == sorted(bodies)
    assert peak == 3
    # The bound is per connection: two connections together reach twice as many.
    peak = 0
    await asyncio.gather(first.send(*bodies), second.send(*bodies))
    for client in (first, second):
        assert sorted([await client.recv() for _ in bodies]) == sorted(bodies)
    assert peak == 6


async def test_a_handler_that_raises_costs_only_its_connection(kit: Harness) -> None:
    async def fragile(body: bytes) -> bytes:
        if body.endswith(b"boom"):
            raise RuntimeError("bug in the handler")
        return body

    server = await kit.server(fragile)
    victim, bystander = await kit.client(server.port), await kit.client(server.port)
    await victim.send(TPDU + b"boom")
    assert await victim.hung_up()
    await bystander.send(TPDU + b"fine")
    assert await bystander.recv() == TPDU + b"fine"
    assert kit.errors[0][0] == "handler-error"
    assert "bug in the handler" in kit.errors[0][1]


async def test_no_answer_keeps_the_connection(kit: Harness) -> None:
    async def picky(body: bytes) -> bytes | None:
        return None if body.endswith(b"ignore") else body

    server = await kit.server(picky)
    client = await kit.client(server.port)
    await client.send(TPDU + b"ignore", TPDU + b"answer")
    assert await client.recv() == TPDU + b"answer"


async def test_half_closed_client_still_gets_its_answer(kit: Harness) -> None:
    async def slow(body: bytes) -> bytes:
        await asyncio.sleep(0.1)
        return body

    server = await kit.server(slow)
    client = await kit.client(server.port)
    await client.send(TPDU + b"last")
    client.writer.write_eof()
    assert await client.recv() == TPDU + b"last"
    assert await client.hung_up()


async def test_connection_limit(kit: Harness) -> None:
    server = await kit.server(max_connections=2)
    first, second = await kit.client(server.port), await kit.client(server.port)
    await until(lambda: server.connection_count == 2)
    third = await kit.client(server.port)
    assert await third.hung_up()
    assert [kind for kind, _ in kit.errors] == ["connection-limit"]
    for client in (first, second):
        await client.send(TPDU + b"x")
        assert await client.recv() == b"ok:" + TPDU + b"x"


async def test_graceful_stop_waits_for_the_slow_handler_and_delivers_its_answer(
    kit: Harness,
) -> None:
    started = asyncio.Event()

    async def slow(body: bytes) -> bytes:
        started.set()
        await asyncio.sleep(0.4)
        return b"done:" + body

    server = await kit.server(slow)
    client = await kit.client(server.port)
    await client.send(TPDU + b"sale")
    await started.wait()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await server.stop(grace_s=5)
    assert loop.time() - began >= 0.3
    assert await client.recv() == b"done:" + TPDU + b"sale"
    assert await client.hung_up()
    assert server.connection_count == 0
    with pytest.raises(OSError):
        await Client.open(server.port)


async def test_stop_gives_up_on_a_handler_after_the_grace(kit: Harness) -> None:
    cancelled = asyncio.Event()

    async def stuck(body: bytes) -> bytes:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return body

    server = await kit.server(stuck)
    client = await kit.client(server.port)
    await client.send(TPDU + b"x")
    await until(lambda: server.connection_count == 1)
    await asyncio.sleep(0.05)
    async with asyncio.timeout(3):
        await server.stop(grace_s=0.2)
    assert cancelled.is_set()
    assert await client.hung_up()


async def test_serve_forever_returns_after_stop(kit: Harness) -> None:
    server = await kit.server()
    serving = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.01)
    assert not serving.done()
    await server.stop()
    async with asyncio.timeout(1):
        await serving


async def test_client_resets_are_not_errors(kit: Harness) -> None:
    server = await kit.server()
    client = await kit.client(server.port)
    await until(lambda: server.connection_count == 1)
    client.writer.transport.abort()
    await until(lambda: server.connection_count == 0)
    assert kit.errors == []
