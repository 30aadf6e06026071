"""Terminal benchmark: the cashier's wait, start-up recovery, store-and-forward upload.

Through the real `Terminal` (journal in SQLite on the real disk, WAL, synchronous=FULL)
and the real `HostLink`, against the real host in its own process on loopback
(`hostproc.py kassa`, SQLite on disk):
1. confirm -> approved: `Terminal.transact(sale)` from the call (the PIN block is ready:
   the cashier has just pressed confirm) to the outcome, one sale after another (p50/p99);
2. start-up recovery: a journal of `--journal-rows` records (a realistic mix: approved,
   voided, declined, reversed, uploaded offline sales over 40 batches; 100 left pending
   by a power cut) filled by direct inserts in one transaction; then the terminal is
   opened (`Terminal(...)`) and `recover()` runs: timed to the first frame it sends, and
   to the end, once with the host reachable and once with it down (goal: < 1 s);
3. store-and-forward: `--saf` offline sales stored (direct inserts of the sealed 0220
   advices the terminal itself builds), the host comes back, `sign_on()` uploads them:
   rows per second.
Recovery and upload also report the journal transactions the terminal opened (commits,
each an fsync, and reads): counts that do not depend on how busy the disk is.

    .venv/bin/python benchmarks/terminal.py [--quick] [--sales 300] [--journal-rows 100000]
        [--saf 500]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import benchkit as bk
from hostparts import DISK_DEFAULT, Server
from journalfill import fill_journal, fill_offline
from kassa.card import CardInput
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.net import HostAddress, HostLink, Link
from kassa.store import Isolation, Transaction
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal
from kassa.terminal.pos import Terminal
from kassa.terminal.service import TxnRequest
from kassa.terminal.states import State

DEVICE_KEY = bytes(range(100, 132))


class FirstSend:
    """A Link that notes when the first frame goes out, then passes everything on."""

    def __init__(self, inner: Link) -> None:
        self.inner = inner
        self.first: float | None = None
        self.sent = 0

    async def exchange(self, body: bytes, *, timeout_s: float | None = None) -> bytes:
        if self.first is None:
            self.first = time.perf_counter()
        self.sent += 1
        return await self.inner.exchange(body, timeout_s=timeout_s)

    @property
    def current_address(self) -> HostAddress | None:
        return self.inner.current_address

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Counts:
    """Journal transactions opened: writes (each one a durable commit, an fsync) and reads."""

    writes: int = 0
    reads: int = 0


def count_transactions(journal: Journal) -> Counts:
    """Count every transaction the terminal opens on its journal from now on."""
    counts, inner = Counts(), journal.db.transaction

    @contextmanager
    def counted(
        *, write: bool = True, isolation: Isolation = "read committed"
    ) -> Iterator[Transaction]:
        if write:
            counts.writes += 1
        else:
            counts.reads += 1
        with inner(write=write, isolation=isolation) as tx:
            yield tx

    journal.db.transaction = counted  # type: ignore[method-assign]
    return counts


def config_for(port: int) -> TerminalConfig:
    return TerminalConfig(tid=bk.tid_for(0), mid=bk.mid_for(0), merchant_name="基准商户0",
                          hosts=(f"127.0.0.1:{port}",), connect_timeout_ms=2000,
                          response_timeout_ms=10_000, floor_limit_fen=100_000,
                          saf_count_max=100_000, saf_total_max_fen=10**12)  # fmt: skip


def open_terminal(path: Path, port: int, first: bool = False) -> tuple[Terminal, FirstSend]:
    journal = Journal.open(str(path), DEVICE_KEY)
    if first:
        journal.save_config(config_for(port))
        journal.set_tmk(bytes.fromhex(bk.TMK_HEX))
    else:
        journal.save_config(replace(journal.config(), hosts=(f"127.0.0.1:{port}",)))
    link = FirstSend(HostLink([HostAddress("127.0.0.1", port)], connect_timeout_s=2.0))
    return Terminal(journal, link), link


def sale(terminal: Terminal, n: int) -> TxnRequest:
    keys = terminal.journal.keys()
    assert keys is not None
    pan = bk.pan_for(n)
    card = CardInput.from_swipe(f";{pan}={bk.EXPIRY}1010000012345?")
    return TxnRequest(TxnType.SALE, 1000 + n, card, make_pin_block(keys.pik, bk.PIN, pan))


async def confirm_to_approved(terminal: Terminal, count: int, seconds: float) -> list[str]:
    waits, codes = [], []
    deadline = time.monotonic() + seconds
    for n in range(count):
        if time.monotonic() > deadline:
            break
        request = sale(terminal, n)
        started = time.perf_counter()
        outcome = await terminal.transact(request)
        waits.append(time.perf_counter() - started)
        codes.append(outcome.code)
    lat = bk.Latency.of(waits)
    approved = codes.count("00")
    return [f"confirm -> approved, {lat.count} sales one after another: p50 {lat.p50_ms:.1f} ms,"
            f" p95 {lat.p95_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms, max {lat.max_ms:.1f} ms;"
            f" {approved} approved, other codes {sorted(set(codes) - {'00'})}"]  # fmt: skip


async def recovery(path: Path, port: int, rows: int, reachable: bool) -> str:
    """Fill, reopen, recover; timings. The journal is copied first so both runs start alike."""
    filled = fill_journal(path, DEVICE_KEY, rows, pending=100)
    started = time.perf_counter()
    terminal, link = open_terminal(path, port if reachable else bk_closed_port())
    opened = time.perf_counter()
    counts = count_transactions(terminal.journal)
    found = await terminal.recover()
    ended = time.perf_counter()
    to_send = (link.first - started) * 1000 if link.first else float("nan")
    left = len(terminal.journal.in_states(State.IN_DOUBT))
    terminal.journal.close()
    where = "host reachable" if reachable else "host down"
    total_ms = (ended - started) * 1000
    return (f"recovery, {where}: journal of {filled:,} rows ({len(found)} pending at the cut)"
            f": open {1000 * (opened - started):.0f} ms, to the first frame sent {to_send:.0f} ms,"
            f" recover() done {total_ms:.0f} ms ({link.sent} frames sent, {left} still in doubt;"
            f" {counts.writes} journal commits, {counts.reads} reads;"
            f" goal < 1000 ms to sending: {'met' if to_send < 1000 else 'MISSED'})")  # fmt: skip


def bk_closed_port() -> int:
    import socket

    with socket.socket() as probe:  # bound and closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def store_and_forward(path: Path, port: int, count: int) -> str:
    stored = fill_offline(path, DEVICE_KEY, count)
    terminal, link = open_terminal(path, port)
    counts = count_transactions(terminal.journal)
    started = time.perf_counter()
    result = await terminal.sign_on()
    elapsed = time.perf_counter() - started
    left = len(terminal.journal.in_states(State.OFFLINE))
    uploaded = len(terminal.journal.in_states(State.UPLOADED))
    terminal.journal.close()
    return (f"store-and-forward: {stored} offline sales uploaded by sign_on() in {elapsed:.2f} s"
            f" = {(stored - left) / elapsed:,.0f} rows/s ({uploaded} uploaded, {left} left;"
            f" sign-on {result.code}, {link.sent} frames; {counts.writes} journal commits,"
            f" {counts.reads} reads)")  # fmt: skip


async def main_async(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="kassa-bench-term-", dir=args.workdir))
    home = work / "host"
    home.mkdir()
    url = f"sqlite:///{home / 'host.db'}"
    bk.load_host_db(url, home, terminals=2, cards=max(args.sales, 100))
    server = Server.start("kassa", "--db", url, "--home", str(home))
    lines: list[str] = []
    try:
        path = work / "journal.db"
        terminal, _ = open_terminal(path, server.port, first=True)
        signed = await terminal.sign_on()
        assert signed.ok, signed
        lines += await confirm_to_approved(terminal, args.sales, args.seconds)
        terminal.journal.close()
        for reachable in (True, False):
            copy = work / f"journal-{reachable}.db"
            shutil.copy(path, copy)
            lines.append(await recovery(copy, server.port, args.journal_rows, reachable))
        lines.append(await store_and_forward(path, server.port, args.saf))
    finally:
        server.stop()
        lines.append(f"host check after the run: {bk.check_host_db(url, home)}")
        shutil.rmtree(work, ignore_errors=True)
    bk.print_table("terminal benchmark", ("figure",), [(line,) for line in lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sales", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--journal-rows", type=int, default=100_000)
    parser.add_argument("--saf", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=DISK_DEFAULT)
    args = parser.parse_args()
    if args.quick:
        args.sales, args.journal_rows, args.saf, args.seconds = 20, 3000, 20, 10.0
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
