"""One worker process of `kassa host serve --workers N` (see `kassa.host.workers`).

Started by the supervisor as a fresh interpreter: its `ServeSpec` comes as one JSON line
on stdin, it answers "READY <port>" on stdout once listening, and its logs go to its own
file (or the stderr it shares with the supervisor). It is the host exactly as one
process runs it (`HostServer`), plus SO_REUSEPORT and risk counters shared with the other
workers. SIGTERM, SIGINT or the end of stdin (the supervisor is gone) stop it gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
from pathlib import Path

from kassa import logs
from kassa.errors import KassaError
from kassa.host._writelock import WriteTurns, lock_path
from kassa.host.runtime import HostRuntime, open_host
from kassa.host.service import HostServer
from kassa.host.workers import ServeSpec
from kassa.metrics import KassaMetrics, start_metrics_server
from kassa.net.tls import server_context
from kassa.store import connect

log = logging.getLogger("kassa.host.workers")

_SPEC_BYTES_MAX = 64 * 1024


def main() -> None:
    """Entry point. A mistake is one line on stderr and exit status 2, as in `kassa`."""
    try:
        run(ServeSpec.from_json(_first_line()))
    except KassaError as exc:
        _fail(str(exc))
    except OSError as exc:  # the address taken, a certificate not readable
        _fail(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc.strerror or exc))


def _fail(message: str) -> None:
    print(f"kassa: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def _first_line() -> str:
    """The spec line from the supervisor, read unbuffered (fd 0 is watched afterwards)."""
    data = b""
    while not data.endswith(b"\n") and len(data) < _SPEC_BYTES_MAX:
        chunk = os.read(0, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def run(spec: ServeSpec) -> None:
    """Open the host, serve until told to stop, close."""
    logs.configure(spec.worker_log())
    home = Path(spec.home) if spec.home else None
    rules = Path(spec.risk_rules) if spec.risk_rules else None
    runtime = open_host(spec.db, home, rules, share_risk=True)
    http = None
    try:
        context = None
        if spec.tls_cert and spec.tls_key:
            context = server_context(Path(spec.tls_cert), Path(spec.tls_key))
        metrics = None
        metrics_port = spec.worker_metrics_port()
        if metrics_port is not None:
            metrics = KassaMetrics(connect(runtime.db.url))  # its own connection for scrapes
            http = start_metrics_server(metrics, metrics_port)
        asyncio.run(_serve(runtime, spec, context, metrics))
    finally:
        if http is not None:
            http.shutdown()
        runtime.close()


async def _serve(
    runtime: HostRuntime,
    spec: ServeSpec,
    context: ssl.SSLContext | None,
    metrics: KassaMetrics | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def supervisor_gone() -> None:
        if not os.read(0, 4096):  # the end of stdin: the supervisor died
            loop.remove_reader(0)
            stop.set()

    loop.add_reader(0, supervisor_gone)
    host = HostServer(runtime.db, runtime.core, spec.host, spec.port, context, metrics)
    host.server.reuse_port = True
    turns = None
    if (path := lock_path(runtime.db)) is not None:  # SQLite: group transactions take turns
        turns = host.committer.turns = WriteTurns(path)
    await host.start()
    os.write(1, f"READY {host.server.port}\n".encode())
    try:
        await stop.wait()
    finally:
        loop.remove_reader(0)
        await host.stop()
        if turns is not None:
            turns.close()
    done = {"worker": spec.slot, "pid": os.getpid(), "requests": host.committer.requests,
            "groups": host.committer.groups}  # fmt: skip
    log.info("host worker stopped", extra={"fields": done})
