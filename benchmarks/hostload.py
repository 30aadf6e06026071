"""The load side of benchmarks/host.py: simulated terminals on real TCP connections.

Each `SimTerminal` is one connection and one terminal identity (TID, STAN, batch,
working keys from its own sign-on), with one request outstanding at a time, as a
UnionPay terminal works. Its requests are real: PIN blocks under its PIK, MACs under its
MAK, built with the terminal's own request builders. They are built before the timed
window (`build_script`), so that the load generator, which shares the machine's two
cores with the host, spends as little as possible while the host is measured.

The mix, repeated: sale, sale, balance inquiry, sale + void of it, sale, sale + reversal
of it (the reversal reason 98, as after a lost answer): 5 sales, 1 balance, 1 void,
1 reversal in 8 requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import iso8583
from benchkit import EXPIRY, HEADER, PIN, TMK_HEX, TPDU, mid_for, pan_for, tid_for
from kassa.card import CardInput
from kassa.iso8583 import Message, decode
from kassa.iso8583.dialect import PYISO_SPEC
from kassa.iso8583.fields import Field60
from kassa.iso8583.keys import KeyMode, WorkingKeys, unwrap_working_keys
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.terminal import requests as rq

MIX = ("sale", "sale", "balance", "sale", "void", "sale", "sale", "reversal")
# Answers that mean the host did not process the request: errors, not business declines.
ERROR_CODES = frozenset({"30", "96", "A0", "C1", "77", "97", "03", "94"})
RESPONSE_TIMEOUT_S = 30.0


def frame(raw: bytes) -> bytes:
    body = TPDU + HEADER + raw
    return len(body).to_bytes(2, "big") + body


@dataclass
class Tally:
    """What a run saw: latencies per op, answers by code, errors by kind."""

    latencies: list[float] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)
    approved: Counter[str] = field(default_factory=Counter)
    declined: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass
class SimTerminal:
    index: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    keys: WorkingKeys | None = None
    batch: str = "000001"
    stan: int = 0
    cursor: int = 0  # position in MIX
    script: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def who(self) -> rq.Identity:
        return rq.Identity(tid_for(self.index), mid_for(self.index % 50))

    def next_stan(self) -> str:
        self.stan = self.stan % 999_999 + 1
        return f"{self.stan:06d}"

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)

    async def exchange(self, wire: bytes) -> bytes:
        assert self.reader is not None and self.writer is not None
        self.writer.write(wire)
        size = int.from_bytes(await self.reader.readexactly(2), "big")
        return await self.reader.readexactly(size)

    async def sign_on(self) -> None:
        msg = rq.sign_on(self.who, self.next_stan(), self.batch, KeyMode.DOUBLE)
        body = await asyncio.wait_for(self.exchange(frame(rq.seal(msg, None))), 60)
        reply = decode(body[11:])
        if reply.get(39) != "00":
            raise RuntimeError(f"sign-on of {self.who.tid} answered {reply.get(39)}")
        tmk = bytes.fromhex(TMK_HEX)
        self.keys, ok = unwrap_working_keys(tmk, bytes.fromhex(reply[62]), KeyMode.DOUBLE)
        assert ok, "working key check values do not match"
        self.batch = Field60.parse(reply[60]).batch

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()


def card(n: int) -> CardInput:
    return CardInput.from_swipe(f";{pan_for(n)}={EXPIRY}1010000012345?")


def build_script(term: SimTerminal, count: int, cards: Iterator[int]) -> None:
    """`count` sealed request frames in the mix order, each with its own STAN."""
    assert term.keys is not None
    keys, who, out = term.keys, term.who, []
    last: tuple[Message, int, str, int] | None = None  # sale msg, amount, stan, card
    for _ in range(count):
        op = MIX[term.cursor % len(MIX)]
        term.cursor += 1
        if op in ("void", "reversal") and last is None:
            op = "sale"
        if op == "reversal" and last is not None:
            msg = rq.reversal(last[0], "98")
        elif op == "void" and last is not None:
            original = rq.Original(term.batch, last[2])
            n, amount = last[3], last[1]
            msg = rq.financial(TxnType.VOID, who, term.next_stan(), term.batch, amount, card(n),
                               make_pin_block(keys.pik, PIN, pan_for(n)), original)  # fmt: skip
        else:
            n = next(cards)
            sale = op == "sale"
            stan = term.next_stan()
            block = make_pin_block(keys.pik, PIN, pan_for(n))
            txn = TxnType.SALE if sale else TxnType.BALANCE
            msg = rq.financial(txn, who, stan, term.batch, 100 + n % 50_000 if sale else None,
                               card(n), block)  # fmt: skip
            if sale:
                last = (msg, 100 + n % 50_000, stan, n)
        if op in ("void", "reversal"):
            last = None
        out.append((op, frame(rq.seal(msg, keys.mak))))
    term.script = out


def response_code(body: bytes) -> str:
    fields, _ = iso8583.decode(body[11:], PYISO_SPEC)
    return str(fields.get("39", ""))


async def drive(term: SimTerminal, tally: Tally, deadline: float, pace_s: float = 0.0,
                offset_s: float = 0.0, cycle_to: int = 0) -> None:  # fmt: skip
    """Send the terminal's script, one request at a time, until done or past `deadline`
    (monotonic); with `pace_s`, request k is not sent before start + offset + k * pace.
    `cycle_to` > 0 repeats the script up to that many requests (for the echo server, which
    does not care that a STAN comes again)."""
    start = time.monotonic()
    script = itertools.islice(itertools.cycle(term.script), cycle_to) if cycle_to else term.script
    for k, (op, wire) in enumerate(script):
        if pace_s:
            wait = start + offset_s + k * pace_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        if time.monotonic() >= deadline:
            return
        sent = time.perf_counter()
        try:
            body = await asyncio.wait_for(term.exchange(wire), RESPONSE_TIMEOUT_S)
        except TimeoutError:
            tally.errors["timeout"] += 1
            return  # the connection state is unknown now: this terminal stops
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            tally.errors["connection lost"] += 1
            return
        tally.latencies.append(time.perf_counter() - sent)
        tally.ops[op] += 1
        code = response_code(body)
        if code in ERROR_CODES:
            tally.errors[f"code {code}"] += 1
        elif code == "00":
            tally.approved[op] += 1
        else:
            tally.declined[f"{op} {code}"] += 1
    term.script = []


async def connect_all(terms: list[SimTerminal], port: int, parallel: int = 200) -> list[str]:
    """Connect and sign on every terminal, `parallel` at a time; problems as text."""
    gate = asyncio.Semaphore(parallel)
    problems: list[str] = []

    async def one(term: SimTerminal) -> None:
        async with gate:
            try:
                await term.connect(port)
                await term.sign_on()
            except (OSError, RuntimeError, TimeoutError, asyncio.IncompleteReadError) as exc:
                problems.append(f"{term.who.tid}: {type(exc).__name__} {exc}")

    await asyncio.gather(*(one(t) for t in terms))
    return problems
