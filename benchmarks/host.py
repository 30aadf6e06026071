"""Host benchmark (issues 3, 5, 9): terminals on real TCP connections against the host.

For each database (SQLite in a file on the real disk; PostgreSQL, the suite's throw-away
server, with its cluster on the real disk, and optionally on tmpfs), in one run:
1. the host (`hostproc.py kassa`, its own process: the real `open_host` + group commit +
   frame server) with the shipped risk rules; N terminals connect and sign on, then each
   runs the mix (sales, balance inquiries, voids, reversals with real PIN blocks and
   MACs) as fast as the host answers, N in `--levels`;
2. the same at half the best throughput, paced, for latency under normal load;
3. the host with an empty rules file (`--risk-rules` with no rules: the engine runs,
   nothing fires) at one level, for the cost of the risk rules;
4. the echo floor (`hostproc.py echo`: asyncio + pyiso8583, decode, build a 0210,
   encode) driven by the same generator with the same frames, at every level;
5. the storage floor: the same rows a sale writes (txn, ledger entry, 2 postings,
   2 account balances, RRN counter, terminal touch), each in a savepoint, in durable
   group commits of the host's own mean group size, into the same database;
6. idle terminals (`--idle`, 10,000 by default): a fresh host, that many connections
   signed on and left idle; host RSS before and after; then every one of them sends one
   sale at once (a burst).
Then `kassa host check` on the database. Every loop is bounded by `--requests` and
`--seconds`. CPU is given in % of one core for the host, the load generator and
PostgreSQL (2 cores in all: the sides compete, so read ratios within one run).

With `--workers N` (N >= 2) the host is `kassa host serve --workers N` (the shipped
supervisor and N worker processes on one SO_REUSEPORT address): host CPU and RSS are the
sum over the supervisor and its workers, and the group size is not known ("-").

    .venv/bin/python benchmarks/host.py [--quick] [--db sqlite,pg,pg-shm]
        [--levels 10,100,1000] [--idle 10000] [--seconds 10] [--requests 8000]
        [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import benchkit as bk
import hostload as hl
import storagefloor
from hostparts import DISK_DEFAULT, HEADERS, Backend, Row, Server, Workdir, backends
from kassa.iso8583.keys import WorkingKeys


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.cards: Iterator[int] = iter(range(10**9))
        self.known: dict[int, hl.SimTerminal] = {}

    def terminals(self, count: int) -> list[hl.SimTerminal]:
        """Terminals 0..count-1, the same objects from phase to phase: a terminal's STAN
        goes on across host restarts, or the host would rightly answer 94 (a STAN reused
        in the batch with other content)."""
        out = []
        for i in range(count):
            term = self.known.setdefault(i, hl.SimTerminal(i))
            term.reader = term.writer = None
            out.append(term)
        return out

    def kassa(self, backend: Backend, *extra: str) -> Server:
        """The host process (the supervisor of its workers with `--workers`)."""
        workers = ["--workers", str(self.args.workers)] if self.args.workers > 1 else []
        return Server.start("kassa", "--db", backend.url, "--home", str(backend.home),
                            *extra, *workers)  # fmt: skip

    def label(self, text: str) -> str:
        workers: int = self.args.workers
        return text.replace("kassa", f"kassa x{workers}", 1) if workers > 1 else text

    # -- one measured run -------------------------------------------------------------

    async def measure(self, backend: Backend, server: Server, label: str,
                      terms: list[hl.SimTerminal], pace_s: float = 0.0,
                      cycle_to: int = 0) -> Row:  # fmt: skip
        row = Row(backend.name, self.label(label), len(terms))
        before = server.stats()
        cpu0 = (bk.tree_cpu_s(server.proc.pid), bk.self_cpu_s(), self.db_cpu(backend, label))
        started = time.monotonic()
        deadline = started + self.args.seconds
        n = len(terms)
        await asyncio.gather(*(hl.drive(t, row.tally, deadline, pace_s, pace_s * i / n, cycle_to)
                               for i, t in enumerate(terms)))  # fmt: skip
        row.seconds = time.monotonic() - started
        row.host_cpu = bk.tree_cpu_s(server.proc.pid) - cpu0[0]  # with its workers
        row.gen_cpu = bk.self_cpu_s() - cpu0[1]
        row.db_cpu = self.db_cpu(backend, label) - cpu0[2]
        row.rss_mb = bk.tree_rss_mb(server.proc.pid)
        row.done = row.tally.done
        row.sales = row.tally.ops["sale"]
        after = server.stats()
        if "groups" in after:
            groups = after["groups"] - before.get("groups", 0)
            row.group = (after["requests"] - before.get("requests", 0)) / max(groups, 1)
        self.rows.append(row)
        bk.print_table(f"{backend.name}: {label}, N={row.n}", HEADERS, [row.cells()])
        tally = row.tally
        print(f"approved {dict(tally.approved)}; declined {dict(tally.declined)};"
              f" errors {dict(tally.errors)}")  # fmt: skip
        if tally.errors:
            self.notes.append(f"{backend.name}: {label}, N={row.n}: errors {dict(tally.errors)}")
        return row

    def db_cpu(self, backend: Backend, label: str) -> float:
        if backend.db_pid is None or label == "echo":
            return 0.0
        return bk.tree_cpu_s(backend.db_pid)

    def build(self, terms: list[hl.SimTerminal], per_terminal: int) -> float:
        started = time.perf_counter()
        for term in terms:
            hl.build_script(term, per_terminal, self.cards)
        return time.perf_counter() - started

    def per_terminal(self, n: int) -> int:
        requests: int = self.args.requests
        return max(8, -(-requests // n))

    # -- phases ------------------------------------------------------------------------

    async def kassa_levels(self, backend: Backend, rules: Path | None, label: str,
                           levels: list[int]) -> list[Row]:  # fmt: skip
        """A host process; the largest level's terminals sign on; each level runs."""
        extra = ["--risk-rules", str(rules)] if rules else []
        server = self.kassa(backend, *extra)
        terms = self.terminals(max(levels))
        try:
            problems = await hl.connect_all(terms, server.port)
            if problems:
                raise SystemExit(f"sign-on failed for {len(problems)}: {problems[0]}")
            rows = []
            for level in levels:
                self.build(terms[:level], self.per_terminal(level))
                rows.append(await self.measure(backend, server, label, terms[:level]))
            return rows
        finally:
            for term in terms:
                await term.close()
            server.stop()

    async def half_load(self, backend: Backend, best: Row, level: int) -> Row:
        rate = best.rate / 2
        pace = level / rate  # seconds between two requests of one terminal
        server = self.kassa(backend)
        terms = self.terminals(level)
        try:
            await hl.connect_all(terms, server.port)
            count = min(self.per_terminal(level), int(self.args.seconds / pace) + 1)
            self.build(terms, count)
            label = f"kassa, paced {rate:,.0f}/s"
            return await self.measure(backend, server, label, terms, pace_s=pace)
        finally:
            for term in terms:
                await term.close()
            server.stop()

    async def echo_levels(self, backend: Backend, levels: list[int]) -> dict[int, Row]:
        server = Server.start("echo")
        out: dict[int, Row] = {}
        try:
            for level in levels:
                terms = [hl.SimTerminal(i, keys=_FAKE_KEYS) for i in range(level)]
                for term in terms:
                    await term.connect(server.port)
                self.build(terms, 8)
                budget = max(8, self.args.requests * 4 // level)
                out[level] = await self.measure(backend, server, "echo", terms, cycle_to=budget)
                for term in terms:
                    await term.close()
        finally:
            server.stop()
        return out

    async def idle(self, backend: Backend, count: int) -> None:
        limit = bk.raise_nofile(count + 1000)
        if limit < count + 100:
            self.notes.append(f"open-file limit {limit}: idle test limited to {limit - 100}")
            count = limit - 100
        server = self.kassa(backend)
        terms = self.terminals(count)
        try:
            base = bk.tree_rss_mb(server.proc.pid)
            started = time.monotonic()
            problems = await hl.connect_all(terms, server.port)
            sign_on_s = time.monotonic() - started
            await asyncio.sleep(1.0)
            rss = bk.tree_rss_mb(server.proc.pid)
            connected = server.stats().get("connections", 0)
            per = (rss - base) * 1024 / max(connected, 1)
            self.notes.append(
                f"{backend.name}: {connected} idle signed-on terminals: host RSS {base:.0f} MB"
                f" -> {rss:.0f} MB ({per:.1f} KB per terminal; goal: all in <= 1024 MB:"
                f" {'met' if rss <= 1024 else 'MISSED'}); connect + sign-on of all took"
                f" {sign_on_s:.1f} s; {len(problems)} failed"
                + (f" (first: {problems[0]})" if problems else "")
            )  # fmt: skip
            live = [t for t in terms if t.keys is not None]
            for term in live:
                term.cursor = 0  # MIX[0]: every terminal's one request is a sale
            self.build(live, 1)
            await self.measure(backend, server, "kassa, burst: 1 sale each", live)
        finally:
            for term in terms:
                await term.close()
            server.stop()

    # -- a whole database -----------------------------------------------------------------

    async def run_backend(self, backend: Backend) -> None:
        args = self.args
        self.known = {}  # a new database: its terminals start afresh
        terminals = max(*args.levels, args.idle)
        cards = max(2000, args.requests * 2)
        self.cards = itertools.cycle(range(cards))  # each card a few times: risk holds at 5/h
        load_s = bk.load_host_db(backend.url, backend.home, terminals, cards)
        self.notes.append(f"{backend.name}: reference ({terminals} terminals, {cards} cards)"
                          f" loaded in {load_s:.1f} s")  # fmt: skip
        on = await self.kassa_levels(backend, None, "kassa, risk on", args.levels)
        best = max(on, key=lambda r: r.rate)
        mid = min(args.levels, key=lambda n: abs(n - 100))
        empty = backend.home / "no-rules.toml"
        empty.write_text("# no rules: the engine runs, nothing fires\n")
        off = (await self.kassa_levels(backend, empty, "kassa, risk off", [mid]))[0]
        again = (await self.kassa_levels(backend, None, "kassa, risk on", [mid]))[0]
        echo = await self.echo_levels(backend, args.levels)
        half = await self.half_load(backend, best, mid)
        floor = storagefloor.run(backend.url, round(best.group or 1), args.requests,
                                 args.seconds)  # fmt: skip
        self.rows.append(Row(backend.name, f"storage floor ({floor.note})", 0, floor.requests,
                             floor.seconds, floor.requests, db_cpu=0.0))  # fmt: skip
        await self.idle(backend, args.idle)
        check = bk.check_host_db(backend.url, backend.home)
        self.summary(backend, on, best, off, again, echo, half, floor, check)

    def summary(self, backend: Backend, on: list[Row], best: Row, off: Row, again: Row,
                echo: dict[int, Row], half: Row, floor: storagefloor.Floor, check: str) -> None:  # fmt: skip
        name = backend.name
        for row in on:
            if row.n in echo and echo[row.n].rate:
                ratio = row.rate / echo[row.n].rate
                self.notes.append(f"{name}: N={row.n}: kassa / echo floor = {ratio:.3f}"
                                  f" (goal >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'})")  # fmt: skip
        on_mean = (next(r for r in on if r.n == off.n).rate + again.rate) / 2
        cost = 1 - on_mean / off.rate if off.rate else 0.0  # on slower than off: positive
        p99 = bk.Latency.of(half.tally.latencies).p99_ms
        self.notes += [
            f"{name}: best {best.rate:,.0f} req/s, {best.sales_rate:,.0f} sales/s at N={best.n}"
            f" (goal >= 5,000 durable sales/s: {'met' if best.sales_rate >= 5000 else 'MISSED'})",
            f"{name}: storage floor {floor.rate:,.0f} sale-writes/s ({floor.note});"
            f" kassa best / floor = {best.rate / floor.rate:.3f}",
            f"{name}: risk rules cost {100 * cost:.1f}% of throughput at N={off.n} (on: mean of"
            f" two runs {on_mean:,.0f} req/s, off: {off.rate:,.0f}; goal < 10%:"
            f" {'met' if cost < 0.10 else 'MISSED'})",
            f"{name}: half load ({half.server}, N={half.n}): p99 {p99:.1f} ms (goal <= 20 ms:"
            f" {'met' if p99 <= 20 else 'MISSED'})",
            f"{name}: kassa host check after the run: {check}",
        ]  # fmt: skip


_FAKE_KEYS = WorkingKeys(bytes(range(16)), bytes(range(8)), None)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--db", default="sqlite,pg", help="sqlite, pg (disk), pg-shm")
    parser.add_argument("--levels", default="10,100,1000")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=8000, help="per level, at most")
    parser.add_argument("--workers", type=int, default=1,
                        help="the host as kassa host serve --workers N")  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=DISK_DEFAULT,
                        help="on a real disk (not tmpfs)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.levels, args.idle, args.seconds, args.requests = "4,16", 100, 2.0, 200
    args.levels = sorted(int(n) for n in args.levels.split(","))
    args.db = args.db.split(",")
    return args


async def main_async(args: argparse.Namespace) -> None:
    import contextlib

    bk.raise_nofile(args.idle + 2000)
    work = Workdir(Path(tempfile.mkdtemp(prefix="kassa-bench-", dir=args.workdir)))
    bench = Bench(args)
    print(f"host benchmark: {os.cpu_count()} cores, {args.workers} host worker(s),"
          f" levels {args.levels}, idle {args.idle},"
          f" {args.seconds:g} s / {args.requests} requests per level, work in {work.root}")  # fmt: skip
    try:
        with contextlib.ExitStack() as stack:
            for backend in backends(args.db, work, stack):
                await bench.run_backend(backend)
    finally:
        shutil.rmtree(work.root, ignore_errors=True)
    bk.print_table("host benchmark: every run", HEADERS, [r.cells() for r in bench.rows])
    print("\n## findings")
    for note in bench.notes:
        print(f"- {note}")


def main() -> None:
    asyncio.run(main_async(parse_args()))


if __name__ == "__main__":
    main()
