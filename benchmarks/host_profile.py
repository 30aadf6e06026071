"""Where a host sale's time goes: the core alone, in process, no network.

Signed-on terminals' sales (real PIN blocks and MACs, built before timing) go through
`HostCore.handle` in grouped transactions, by `GroupCommitter.handle_group` itself, on
SQLite in a file on the real disk (or `--db URL`). Prints:
1. sales per second and µs per sale, plain (the ceiling of one host process's core);
2. every SQL statement a sale runs: count per sale and µs each (timed around
   `Transaction.execute`);
3. the same sales under cProfile: the functions with the most time of their own;
4. the building blocks alone, µs per call (codec, MAC, Message, sealed keys);
5. the risk rules' cost: the shipped rules against an empty rules file, two databases,
   alternating rounds in one process, median CPU time per sale (CPU, not wall time: the
   machine is shared and wall time swings by 2x from minute to minute).

    .venv/bin/python benchmarks/host_profile.py [--sales 3000] [--group 100] [--db URL]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchkit as bk
import hostload as hl
from hostparts import DISK_DEFAULT
from kassa.host.runtime import HostRuntime, open_host
from kassa.host.service import GroupCommitter
from kassa.iso8583 import Message, codec, decode, encode
from kassa.iso8583.framing import split_body
from kassa.iso8583.mac import compute_mac
from kassa.store import _tx


def sign_on_all(runtime: HostRuntime, count: int) -> list[hl.SimTerminal]:
    from kassa.iso8583.fields import Field60
    from kassa.iso8583.keys import KeyMode, unwrap_working_keys
    from kassa.terminal import requests as rq

    terms, now = [], int(time.time() * 1000)
    with runtime.db.transaction() as tx:
        for i in range(count):
            term = hl.SimTerminal(i)
            msg = rq.sign_on(term.who, term.next_stan(), term.batch, KeyMode.DOUBLE)
            answer = runtime.core.handle(tx, hl.frame(rq.seal(msg, None))[2:], now)
            assert answer is not None
            reply = decode(split_body(answer).message)
            term.keys, _ = unwrap_working_keys(bytes.fromhex(bk.TMK_HEX),
                                               bytes.fromhex(reply[62]), KeyMode.DOUBLE)  # fmt: skip
            term.batch = Field60.parse(reply[60]).batch
            terms.append(term)
    return terms


def sales(terms: list[hl.SimTerminal], count: int) -> list[bytes]:
    """`count` sale frame bodies, round robin over the terminals (mix: sales only)."""
    cards = iter(range(10**9))
    out: list[bytes] = []
    per = -(-count // len(terms))
    for term in terms:
        hl.build_script(term, per * 2, (c % 2000 for c in cards))
        out += [wire[2:] for op, wire in term.script if op == "sale"][:per]
    return out[:count]


def run(runtime: HostRuntime, bodies: list[bytes], group: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to handle `bodies` in groups."""
    now = int(time.time() * 1000)
    committer = GroupCommitter(runtime.db, runtime.core)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(bodies), group):
        answers = committer.handle_group(bodies[start : start + group], now)
        assert all(answer is not None for answer, _ in answers)
    return time.perf_counter() - started, time.process_time() - cpu


def risk_cost(on: tuple[HostRuntime, list[bytes]], off: tuple[HostRuntime, list[bytes]],
              group: int, rounds: int) -> str:  # fmt: skip
    """Rules on and off in alternating rounds, same process: median CPU µs per sale."""
    per = {"on": [], "off": []}  # type: dict[str, list[float]]
    size = min(len(on[1]), len(off[1])) // rounds
    for r in range(rounds):
        for name, (runtime, bodies) in (("on", on), ("off", off)):
            chunk = bodies[r * size : (r + 1) * size]
            per[name].append(run(runtime, chunk, group)[1] / len(chunk))
    cpu_on, cpu_off = statistics.median(per["on"]), statistics.median(per["off"])
    return (f"risk rules, alternating rounds of {size}: CPU per sale {1e6 * cpu_on:,.0f} µs on,"
            f" {1e6 * cpu_off:,.0f} µs off: the rules cost {100 * (cpu_on / cpu_off - 1):.1f}%"
            f" (goal < 10%)")  # fmt: skip


def sql_timing(runtime: HostRuntime, bodies: list[bytes], group: int) -> list[tuple[object, ...]]:
    seen: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    original = _tx.Transaction.execute

    def timed(self: _tx.Transaction, sql: str, params: Any = ()) -> Any:
        started = time.perf_counter()
        try:
            return original(self, sql, params)
        finally:
            key = "SAVEPOINT / RELEASE" if sql.startswith(("SAVEPOINT", "RELEASE")) else sql
            seen[key][0] += 1
            seen[key][1] += time.perf_counter() - started

    _tx.Transaction.execute = timed  # type: ignore[method-assign]
    try:
        run(runtime, bodies, group)
    finally:
        _tx.Transaction.execute = original  # type: ignore[method-assign]
    n = len(bodies)
    rows = sorted(seen.items(), key=lambda kv: -kv[1][1])
    return [(sql[:70], f"{count / n:.2f}", f"{1e6 * total / count:.0f}", f"{1e6 * total / n:.0f}")
            for sql, (count, total) in rows]  # fmt: skip


def profile(runtime: HostRuntime, bodies: list[bytes], group: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run(runtime, bodies, group)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


def micro(runtime: HostRuntime, body: bytes) -> list[tuple[object, ...]]:
    frame = split_body(body)
    msg = decode(frame.message)
    reply = Message("0210", {n: msg[n] for n in (3, 4, 11, 22, 25, 41, 42, 49, 60) if n in msg}
                    | {12: "120000", 13: "1122", 37: "000000000001", 38: "123456", 39: "00"})  # fmt: skip
    mak = bytes(8)
    raw = encode(msg)
    with runtime.db.transaction(write=False) as tx:
        row = tx.fetchone("SELECT keys_sealed FROM terminals WHERE tid = '00000001'")
    assert row is not None
    sealed = bytes(row[0])
    cases: dict[str, Callable[[], object]] = {
        "decode(request)": lambda: decode(frame.message),
        "encode(request)": lambda: encode(msg),
        "Message(0210, 14 fields)": lambda: Message("0210", dict(reply.fields)),
        "encode(reply)": lambda: encode(reply),
        "compute_mac (ECB)": lambda: compute_mac(mak, codec.mac_input(raw)),
        "open_keys (AES-GCM)": lambda: runtime.secrets.open_keys("00000001", sealed),
        "pan_hash (HMAC)": lambda: runtime.secrets.pan_hash(bk.pan_for(1)),
    }  # fmt: skip
    out: list[tuple[object, ...]] = []
    for name, fn in cases.items():
        fn()
        reps = 2000
        started = time.perf_counter()
        for _ in range(reps):
            fn()
        out.append((name, f"{1e6 * (time.perf_counter() - started) / reps:.1f}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=3000)
    parser.add_argument("--group", type=int, default=100)
    parser.add_argument("--db")
    parser.add_argument("--workdir", type=Path, default=DISK_DEFAULT)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kassa-bench-prof-", dir=args.workdir))
    try:
        runtimes = {}
        for name in ("on", "off"):
            home = work / name
            url = args.db or f"sqlite:///{home / 'host.db'}"
            bk.load_host_db(url, home, terminals=50, cards=2000)
            rules = None
            if name == "off":
                rules = home / "none.toml"
                rules.write_text("")
            runtime = open_host(url, home, rules)
            count = args.sales * (3 if name == "on" else 1)  # on: 2/3 profiled, 1/3 compared
            runtimes[name] = (runtime, sales(sign_on_all(runtime, 50), count))
            if args.db:
                break  # one given database: no comparison
        runtime, bodies = runtimes["on"]
        third = args.sales
        wall, cpu = run(runtime, bodies[:third], args.group)
        print(f"host core alone ({runtime.db.dialect}, group {args.group}, risk on):"
              f" {third / wall:,.0f} sales/s wall, {1e6 * wall / third:,.0f} µs per sale wall,"
              f" {1e6 * cpu / third:,.0f} µs CPU per sale = {third / cpu:,.0f} sales per"
              f" CPU-second")  # fmt: skip
        half = third + third // 2
        bk.print_table("SQL per sale", ("statement", "per sale", "µs each", "µs per sale"),
                       sql_timing(runtime, bodies[third:half], args.group))  # fmt: skip
        print("\n## cProfile, own time\n" + profile(runtime, bodies[half : 2 * third], args.group))
        bk.print_table("building blocks", ("call", "µs"), micro(runtime, bodies[0]))
        if "off" in runtimes:
            on = (runtime, bodies[2 * third :])
            print("\n" + risk_cost(on, runtimes["off"], args.group, rounds=10))
        for runtime, _ in runtimes.values():
            runtime.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
