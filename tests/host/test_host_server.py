"""The host as a server: real TCP (and TLS) on loopback, group commits, bad input."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostkit import HEADER, PAN, TMK_HEX, TPDU, open_host

from kassa.card import CardInput
from kassa.host.core import HostCore
from kassa.host.service import GroupCommitter
from kassa.iso8583 import decode
from kassa.iso8583.framing import Frame, FrameBuffer, split_body
from kassa.iso8583.keys import KeyMode, unwrap_working_keys
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.net import FrameServer
from kassa.net.tls import make_self_signed, server_context
from kassa.store import Database
from kassa.terminal import requests as rq

pytestmark = pytest.mark.anyio
WHO = rq.Identity("12345678", "123456789012345")


@pytest.fixture
def host(db_url: str) -> Iterator[tuple[Database, HostCore]]:
    db, core = open_host(db_url)
    try:
        yield db, core
    finally:
        db.close()


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = FrameBuffer()
        self.pending: list[bytes] = []

    def send(self, raw: bytes) -> None:
        self.writer.write(Frame(TPDU, HEADER, raw).to_bytes())

    async def receive(self) -> bytes:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            if not data:
                raise ConnectionError("closed")
            self.pending += self.buffer.feed(data)
        return self.pending.pop(0)


async def serving(db: Database, core: HostCore, context: ssl.SSLContext | None = None
                  ) -> tuple[FrameServer, GroupCommitter]:  # fmt: skip
    committer = GroupCommitter(db, core)
    committer.start()
    server = FrameServer(committer.submit, host="127.0.0.1", port=0, ssl_context=context)
    await server.start()
    return server, committer


async def connect(port: int, context: ssl.SSLContext | None = None) -> Client:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    return Client(reader, writer)


async def sign_on(client: Client, stan: str = "000001") -> bytes:
    client.send(rq.seal(rq.sign_on(WHO, stan, "000001", KeyMode.DOUBLE), None))
    reply = decode(split_body(await client.receive()).message)
    keys, ok = unwrap_working_keys(bytes.fromhex(TMK_HEX), bytes.fromhex(reply[62]), KeyMode.DOUBLE)
    assert ok
    return keys.mak, keys.pik  # type: ignore[return-value]


def sale(stan: str, amount: int, mak: bytes, pik: bytes) -> bytes:
    card = CardInput.from_swipe(f";{PAN}=26121010000012345?")
    msg = rq.financial(
        TxnType.SALE, WHO, stan, "000001", amount, card, make_pin_block(pik, "1234", PAN)
    )
    return rq.seal(msg, mak)


async def test_pipelined_sales_on_one_connection_are_all_answered(
    host: tuple[Database, HostCore],
) -> None:
    server, committer = await serving(*host)
    try:
        client = await connect(server.port)
        mak, pik = await sign_on(client)
        for n in range(2, 42):
            client.send(sale(f"{n:06d}", 100, mak, pik))  # 40 requests before any answer
        answers = [decode(split_body(await client.receive()).message) for _ in range(40)]
        assert sorted(a[11] for a in answers) == [f"{n:06d}" for n in range(2, 42)]
        assert {a[39] for a in answers} == {"00"}
        assert committer.groups < committer.requests  # several requests shared a commit
        client.writer.close()
    finally:
        await server.stop()
        await committer.stop()


async def test_malformed_message_gets_30_and_the_server_keeps_serving(
    host: tuple[Database, HostCore],
) -> None:
    server, committer = await serving(*host)
    try:
        bad = await connect(server.port)
        good = await connect(server.port)
        bad.send(bytes.fromhex("0200") + bytes(8) + b"\xff")  # bitmap says nothing, junk follows
        answer = decode(split_body(await bad.receive()).message)
        assert answer.mti == "0210" and answer[39] == "30"
        bad.writer.write(b"\xff\xff" + b"x" * 10)  # an impossible length: that line is dropped
        with pytest.raises((ConnectionError, asyncio.TimeoutError)):
            await bad.receive()
        mak, pik = await sign_on(good)
        good.send(sale("000002", 500, mak, pik))
        assert decode(split_body(await good.receive()).message)[39] == "00"
    finally:
        for client in (bad, good):
            client.writer.close()
        await server.stop()
        await committer.stop()


async def test_tls_round_trip(host: tuple[Database, HostCore], tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    server, committer = await serving(*host, context=server_context(cert, key))
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        client = await connect(server.port, client_ctx)
        mak, pik = await sign_on(client)
        client.send(sale("000002", 700, mak, pik))
        assert decode(split_body(await client.receive()).message)[39] == "00"
        client.writer.close()
    finally:
        await server.stop()
        await committer.stop()


async def test_graceful_stop_answers_what_is_in_flight(host: tuple[Database, HostCore]) -> None:
    server, committer = await serving(*host)
    client = await connect(server.port)
    mak, pik = await sign_on(client)
    for n in range(2, 12):
        client.send(sale(f"{n:06d}", 100, mak, pik))
    await asyncio.sleep(0.01)
    stopping = asyncio.ensure_future(server.stop(grace_s=5))
    got = 0
    try:
        while got < 10:
            await client.receive()
            got += 1
    except ConnectionError:
        pass
    await stopping
    await committer.stop()
    client.writer.close()
    db, _ = host
    with db.transaction(write=False) as tx:
        stored = tx.fetchone("SELECT COUNT(*) FROM txns WHERE txn_type = 'sale'")
    assert stored is not None and stored[0] == got  # every answer sent is on disk, and only those


async def test_metrics_count_what_the_server_answers(host: tuple[Database, HostCore]) -> None:
    from kassa.metrics import KassaMetrics

    db, core = host
    metrics = KassaMetrics()
    committer = GroupCommitter(db, core, metrics=metrics)
    committer.start()
    server = FrameServer(committer.submit, host="127.0.0.1", port=0)
    await server.start()
    try:
        client = await connect(server.port)
        mak, pik = await sign_on(client)
        for n in range(2, 5):
            client.send(sale(f"{n:06d}", 100, mak, pik))
            await client.receive()
        client.writer.close()
    finally:
        await server.stop()
        await committer.stop()
    text = metrics.render().decode()
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("kassa_authorisations_total{") and 'code="00"' in x
    )
    assert 'txn_type="sale"' in line and line.endswith(" 3.0")
    assert "kassa_authorisation_seconds_bucket" in text
