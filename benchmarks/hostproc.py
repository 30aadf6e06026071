"""The server side of benchmarks/host.py, run as its own process (own CPU accounting).

    python benchmarks/hostproc.py kassa --db URL --home DIR [--risk-rules FILE] [--workers N]
    python benchmarks/hostproc.py echo

`kassa`: the real host, built exactly as `kassa host serve` builds it (`open_host`, then
`kassa.host.service.HostServer`, what `serve` runs, here so that the committer's counters
(groups, requests) can be reported). With `--workers N` (N >= 2) this process is the
shipped supervisor of `kassa host serve --workers N` (`kassa.host.workers.serve_workers`)
on a free fixed port, and its N worker processes are the host: their CPU is counted as
this process's children's (benchkit.tree_cpu_s); STATS then has only the connections
(counted in /proc/net/tcp), the workers' group counters are in their own processes.
`echo`: the floor of Python's overhead, a bare asyncio Protocol + pyiso8583 server that
decodes each request, builds a 0210 from it and encodes it (no database, no MAC).

Both print `READY <port>` once listening and `STATS <json>` on SIGUSR1; SIGTERM stops them.
The open-file limit is raised to the hard limit so that 10,000 terminals fit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import iso8583
from benchkit import raise_nofile
from kassa.iso8583.dialect import PYISO_SPEC

_ECHOED = ("2", "3", "4", "11", "14", "22", "25", "41", "42", "49", "60")


def stats_line(doc: dict[str, Any]) -> None:
    print("STATS " + json.dumps(doc), flush=True)


def run_kassa_workers(db: str, home: Path, rules: Path | None, workers: int) -> None:
    """The shipped supervisor and its workers on a free port; READY once all listen."""
    from kassa.host.workers import ServeSpec, serve_workers

    with socket.socket() as probe:  # a free port for every worker to share
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spec = ServeSpec(db, str(home), "127.0.0.1", port, str(rules) if rules else None)

    def say(line: str) -> None:
        if "listening on" in line:
            print(f"READY {port}", flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def report(*_: object) -> None:
        stats_line({"workers": workers, "connections": _established(port)})

    signal.signal(signal.SIGUSR1, report)
    code = serve_workers(spec, workers, say)
    report()
    sys.exit(code)


def _established(port: int) -> int:
    """TCP connections in state ESTABLISHED whose local port is `port` (the host's side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "01":
                count += 1
    return count


async def run_kassa(db: str, home: Path, rules: Path | None) -> None:
    from kassa.host.runtime import open_host
    from kassa.host.service import HostServer

    runtime = open_host(db, home, rules)
    host = HostServer(runtime.db, runtime.core, "127.0.0.1", 0)  # as `kassa host serve`
    port = await host.start()

    def report() -> None:
        stats_line({"groups": host.committer.groups, "requests": host.committer.requests,
                    "connections": host.server.connection_count})  # fmt: skip

    await _until_stopped(port, report)
    await host.stop()
    report()
    runtime.close()


class EchoProtocol(asyncio.Protocol):
    """Length-prefixed frames in; a 0210 built from each request out."""

    served = 0

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            size = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + size:
                return
            body, self.buffer = self.buffer[2 : 2 + size], self.buffer[2 + size :]
            assert self.transport is not None
            self.transport.write(answer(body))
            EchoProtocol.served += 1


def answer(body: bytes) -> bytes:
    """TPDU (source and destination swapped) + header + a 0210/0410/0810 for the request."""
    tpdu, header, message = body[:5], body[5:11], body[11:]
    request, _ = iso8583.decode(message, PYISO_SPEC)
    reply = {k: request[k] for k in _ECHOED if k in request}
    local = time.localtime()
    reply.update(t=request["t"][:2] + str(int(request["t"][2]) + 1) + request["t"][3],
                 **{"12": time.strftime("%H%M%S", local), "13": time.strftime("%m%d", local),
                    "32": "48520000", "37": "000000000001", "38": "123456", "39": "00"})  # fmt: skip
    raw, _ = iso8583.encode(reply, PYISO_SPEC)
    out = tpdu[:1] + tpdu[3:5] + tpdu[1:3] + header + bytes(raw)
    return len(out).to_bytes(2, "big") + out


async def run_echo() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    await _until_stopped(port, lambda: stats_line({"requests": EchoProtocol.served}))
    server.close()


async def _until_stopped(port: int, report: Any) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, report)
    print(f"READY {port}", flush=True)
    await stop.wait()


def _run(main: Any) -> None:
    """Run the server on plain asyncio (as `kassa host serve` does), or on uvloop when
    KASSA_BENCH_LOOP=uvloop (to measure the difference); under cProfile when
    KASSA_BENCH_PROFILE is set (main thread only: the event loop and frame server, not
    the commit thread), written to `<that path>.<pid>`."""
    if os.environ.get("KASSA_BENCH_LOOP") == "uvloop":
        import uvloop

        runner: Any = uvloop.run
    else:
        runner = asyncio.run
    profile_to = os.environ.get("KASSA_BENCH_PROFILE")
    if not profile_to:
        runner(main)
        return
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    try:
        runner(main)
    finally:
        prof.disable()
        prof.dump_stats(f"{profile_to}.{os.getpid()}")  # one file per server process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("kassa", "echo"))
    parser.add_argument("--db")
    parser.add_argument("--home", type=Path)
    parser.add_argument("--risk-rules", type=Path)
    parser.add_argument("--workers", type=int, default=1, help="kassa host serve --workers N")
    args = parser.parse_args()
    raise_nofile(1 << 20)  # the workers inherit it
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.kind == "echo":
        asyncio.run(run_echo())
    elif args.workers > 1:
        run_kassa_workers(args.db, args.home, args.risk_rules, args.workers)
    else:
        _run(run_kassa(args.db, args.home, args.risk_rules))


if __name__ == "__main__":
    main()
