"""`kassa host serve --workers N`: the host on N processes of one node.

One Python process is bound to one core (the GIL); a host node with more cores runs N
worker processes instead, each a whole `HostServer` (its own database connection, group
committer and event loop) listening on the SAME address with SO_REUSEPORT, so that the
kernel spreads the terminals' connections among them (Linux). To the database the
workers are simply host nodes, which are safe side by side (RRNs unique, the terminal's
row locked before the idempotency look-up, overdraft races refused, risk counters shared
through `risk_feed`); on SQLite the write lock serialises their group transactions, and
a file lock makes them take turns promptly (`kassa.host._writelock`). The promises hold
as for one process: a worker answers only after its group committed; a worker killed
mid-group leaves a transaction that never committed, which the database discards (and
the kernel frees its locks), so its terminals hear nothing and reverse.

The supervisor (`kassa.host._supervisor`, in the process the operator started) binds
nothing: it checks
the configuration once (database, keys, rules: a mistake is the usual one-line error),
starts the workers as fresh interpreters (`kassa.host._worker`; nothing is forked from a
process holding connections or threads), says "kassa host listening on HOST:PORT" once
all are listening, restarts a worker that dies (with a backoff; it gives up when one
keeps dying, `RestartPolicy`) and on SIGTERM / SIGINT stops them all gracefully.

Each worker reads its spec as one JSON line on stdin (no database password on a command
line) and answers "READY <port>" on stdout; stdin stays open, and its end tells a worker
that its supervisor is gone (it stops then, as on SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from kassa.errors import ConfigError

workers_max = 64


@dataclass(frozen=True)
class ServeSpec:
    """What every worker serves; a worker's own `slot` (0..N-1) picks its log file and
    metrics port. Paths are plain strings (this travels as JSON)."""

    db: str | None
    home: str | None
    host: str
    port: int
    risk_rules: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    log_file: str | None = None
    metrics_port: int | None = None
    slot: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        return cls(**json.loads(text))

    def worker_log(self) -> Path | None:
        """`host.log` -> `host-w0.log`, ...: one file per process (rotation is per file)."""
        if self.log_file is None:
            return None
        path = Path(self.log_file)
        return path.with_name(f"{path.stem}-w{self.slot}{path.suffix}")

    def worker_metrics_port(self) -> int | None:
        return None if self.metrics_port is None else self.metrics_port + self.slot


def check_workers(workers: int, port: int, metrics_port: int | None = None) -> None:
    """ConfigError (one line) unless `--workers` makes sense with `--listen`'s port."""
    cores = os.cpu_count() or 1
    if not 1 <= workers <= workers_max:
        raise ConfigError(f"--workers {workers}: give 1 to {workers_max}"
                          f" (one per core is usual: --workers {cores})")  # fmt: skip
    if workers == 1:
        return
    if port == 0:
        raise ConfigError("--workers needs a fixed port in --listen, e.g. --listen 0.0.0.0:5000")
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--workers needs SO_REUSEPORT, which this system lacks (Linux has it)")
    if metrics_port is not None and metrics_port + workers - 1 > 65535:
        raise ConfigError(f"--metrics-port {metrics_port}: worker i serves on it + i;"
                          f" with --workers {workers} that passes 65535")  # fmt: skip


def check_port_free(host: str, port: int) -> None:
    """ConfigError if something already listens on host:port. The workers' SO_REUSEPORT
    would otherwise share the port with it (another host started by the same user) and
    the kernel would send it half of the terminals."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--listen {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(f"--listen {host}:{port}: {exc.strerror}"
                                  " (another host already listening there?)") from None  # fmt: skip


@dataclass
class RestartPolicy:
    """When to start a dead worker again: after `backoff_s` doubling with each death in
    the window (up to `backoff_max_s`); never when it died `deaths_max` times within
    `window_s` (something is wrong that a restart will not fix)."""

    deaths_max: int = 5
    window_s: float = 30.0
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    deaths: deque[float] = field(default_factory=deque)

    def died(self, now_s: float) -> float | None:
        """Note a death at `now_s`; the delay before the restart, None to give up."""
        self.deaths.append(now_s)
        while self.deaths and now_s - self.deaths[0] > self.window_s:
            self.deaths.popleft()
        if len(self.deaths) >= self.deaths_max:
            return None
        return float(min(self.backoff_s * 2 ** (len(self.deaths) - 1), self.backoff_max_s))


def serve_workers(
    spec: ServeSpec, workers: int, say: Callable[[str], None], *, selfsigned: bool = False
) -> int:
    """Run `workers` worker processes serving `spec` until SIGTERM / SIGINT; the exit
    status (0 after a graceful stop). `say` prints the lines meant for the operator.

    What one process would refuse is refused here first, once, as the usual one-line
    error (the port taken, the database, keys, rules, certificate); the schema is brought
    up to date here, not by N workers at once. `selfsigned`: a certificate is made here,
    one for every worker."""
    from kassa.host._supervisor import Supervisor
    from kassa.host.runtime import open_host
    from kassa.net.tls import make_self_signed, server_context

    check_port_free(spec.host, spec.port)
    home = Path(spec.home) if spec.home else None
    runtime = open_host(spec.db, home, Path(spec.risk_rules) if spec.risk_rules else None)
    dialect = runtime.db.dialect
    runtime.close()
    if dialect == "sqlite":  # measured: benchmarks/README.md, "Several workers"
        say("kassa host: note: on SQLite one worker writes at a time, so --workers adds no"
            " throughput (only cores for network and TLS work); PostgreSQL is the database"
            " for several workers")  # fmt: skip
    if selfsigned:
        cert, key = make_self_signed((home or Path(os.environ.get("KASSA_HOME", "."))) / "host")
        spec = replace(spec, tls_cert=str(cert.resolve()), tls_key=str(key.resolve()))
    elif bool(spec.tls_cert) != bool(spec.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if spec.tls_cert and spec.tls_key:
        server_context(Path(spec.tls_cert), Path(spec.tls_key))  # readable, and a pair
    return Supervisor(spec, workers, say).run()


def status_text(returncode: int) -> str:
    """A child's return code as words: "exit status 2", "signal SIGKILL"."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
        return f"signal {-returncode}"
    return f"exit status {returncode}"
