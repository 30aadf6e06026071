"""Pieces of benchmarks/host.py: the server processes, result rows, the databases."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchkit as bk
import hostload as hl

HERE = Path(__file__).resolve().parent
DISK_DEFAULT = Path("/var/tmp")


@dataclass
class Server:
    """A server process and the pipe its READY/STATS lines come on."""

    proc: subprocess.Popen[str]
    port: int

    @classmethod
    def start(cls, kind: str, *args: str) -> Server:
        cmd = [sys.executable, str(HERE / "hostproc.py"), kind, *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=HERE)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            proc.kill()
            raise SystemExit(f"{kind} server did not start: {line!r}")
        return cls(proc, int(line.split()[1]))

    def stats(self) -> dict[str, Any]:
        import json

        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR1)
        line = self.proc.stdout.readline()
        return dict(json.loads(line.removeprefix("STATS "))) if line.startswith("STATS") else {}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


@dataclass
class Row:
    db: str
    server: str
    n: int
    done: int = 0
    seconds: float = 0.0
    sales: int = 0
    tally: hl.Tally = field(default_factory=hl.Tally)
    host_cpu: float = 0.0
    gen_cpu: float = 0.0
    db_cpu: float = 0.0
    rss_mb: float = 0.0
    group: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def sales_rate(self) -> float:
        return self.sales / self.seconds if self.seconds else 0.0

    def cells(self) -> tuple[object, ...]:
        lat = bk.Latency.of(self.tally.latencies)

        def pct(cpu: float) -> str:
            return f"{100 * cpu / self.seconds:.0f}" if self.seconds else "-"

        return (self.db, self.server, self.n, self.done, bk.fmt_rate(self.rate),
                bk.fmt_rate(self.sales_rate), f"{lat.p50_ms:.1f}", f"{lat.p95_ms:.1f}",
                f"{lat.p99_ms:.1f}", self.tally.error_count, pct(self.host_cpu),
                pct(self.gen_cpu), pct(self.db_cpu) if self.db_cpu else "-",
                f"{self.rss_mb:.0f}",
                bk.fmt_rate(self.done / self.host_cpu) if self.host_cpu else "-",
                f"{self.group:.1f}" if self.group else "-")  # fmt: skip


HEADERS = ("db", "server", "N", "requests", "req/s", "sales/s", "p50 ms", "p95 ms", "p99 ms",
           "errors", "host %cpu", "gen %cpu", "db %cpu", "host RSS MB", "req/host-cpu-s",
           "group")  # fmt: skip


@dataclass
class Backend:
    name: str
    url: str
    home: Path
    db_pid: int | None  # the postmaster, whose tree's CPU is PostgreSQL's


@dataclass
class Workdir:
    root: Path

    def fresh(self, name: str) -> Path:
        path = self.root / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def backends(names: list[str], work: Workdir, stack: Any) -> Iterator[Backend]:
    for name in names:
        home = work.fresh(f"home-{name}")
        if name == "sqlite":
            yield Backend("sqlite (disk)", f"sqlite:///{home / 'host.db'}", home, None)
        elif name in ("pg", "pg-shm"):
            disk = None if name == "pg-shm" else work.root / "pg"
            server = stack.enter_context(bk.postgres(disk))
            label = "postgresql (tmpfs)" if name == "pg-shm" else "postgresql (disk)"
            url = server.url(server.create_database())
            yield Backend(label, url, home, bk.postmaster_pid(server))
        else:
            raise SystemExit(f"--db {name}: use sqlite, pg or pg-shm")
