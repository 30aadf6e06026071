"""Shared pieces of the benchmarks: reference data, databases, process accounting, stats.

Not a benchmark itself. Every benchmark imports it from its own directory (a script's
directory is on sys.path), and reaches the test suite's PostgreSQL helper the same way
tests/terminal/termkit.py reaches tests/host/hostkit.py.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pgserver import PgServer, find_bin_dir, start_server  # noqa: E402

TMK_HEX = "11111111111111111111111111111111"
PIN = "1234"
EXPIRY = "3012"
TPDU = bytes.fromhex("6000030000")
HEADER = bytes.fromhex("603100310000")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- reference data ---------------------------------------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


def pan_for(n: int) -> str:
    """The n-th benchmark card: a 19-digit UnionPay debit PAN with a valid check digit."""
    body = f"621226{n:012d}"
    return body + luhn_digit(body)


def tid_for(n: int) -> str:
    return f"{n + 1:08d}"


def mid_for(n: int) -> str:
    return f"89831004899{n:04d}"


def reference_toml(terminals: int, cards: int, merchants: int = 50) -> str:
    """A reference file: `merchants` supermarkets, terminals spread over them, debit cards
    with a large balance (so funds never run out during a run)."""
    merchants = max(1, min(merchants, terminals))
    out: list[str] = []
    for m in range(merchants):
        out.append(
            f'[[merchant]]\nmid = "{mid_for(m)}"\nname = "基准商户{m}"\nmcc = "5411"\n'
            'fee_rate = "0.0038"\ncredit_allowed = false\ntxn_limit = "50000.00"\n'
        )
    for t in range(terminals):
        out.append(f'[[terminal]]\ntid = "{tid_for(t)}"\nmid = "{mid_for(t % merchants)}"\n'
                   f'tmk = "{TMK_HEX}"\n')  # fmt: skip
    for c in range(cards):
        out.append(f'[[card]]\npan = "{pan_for(c)}"\nexpiry = "{EXPIRY}"\npin = "{PIN}"\n'
                   'balance = "10000000.00"\n')  # fmt: skip
    return "\n".join(out)


def load_host_db(db_url: str, home: Path, terminals: int, cards: int) -> float:
    """Create the host schema in `db_url` and load the reference in one transaction;
    seconds taken. Uses the same code as `kassa host load`."""
    from kassa.host.admin import load_reference
    from kassa.host.loader import parse_reference
    from kassa.host.runtime import open_host

    started = time.perf_counter()
    ref, problems = parse_reference(reference_toml(terminals, cards), "bench.toml")
    if problems:
        raise SystemExit(f"bench reference rejected: {problems[0]}")
    runtime = open_host(db_url, home)
    try:
        with runtime.db.transaction() as tx:
            load_reference(tx, runtime.secrets, ref, int(time.time() * 1000), os.urandom)
    finally:
        runtime.close()
    return time.perf_counter() - started


def check_host_db(db_url: str, home: Path) -> str:
    """`kassa host check` on the database: "OK (n entries)" or the first problem."""
    from kassa.host.check import check_host
    from kassa.host.runtime import open_host

    runtime = open_host(db_url, home)
    try:
        with runtime.db.transaction(write=False) as tx:
            report = check_host(tx)
    finally:
        runtime.close()
    if report.ok:
        return f"OK ({report.entries} entries)"
    return f"{len(report.problems)} PROBLEM(S): {report.problems[0]}"


# -- databases ------------------------------------------------------------------------


@contextlib.contextmanager
def postgres(on_disk: Path | None) -> Iterator[PgServer]:
    """The suite's throw-away PostgreSQL server; in `on_disk` (a real disk) when given,
    else on tmpfs (/dev/shm) where fsync is free."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL binaries not found: run `make sysdeps` first")
    saved = os.environ.get("KASSA_PG_TMP")
    if on_disk is not None:
        on_disk.mkdir(parents=True, exist_ok=True)
        for path in (on_disk.parent, on_disk):  # the server user must get through (mkdtemp: 0700)
            os.chmod(path, 0o755)
        os.environ["KASSA_PG_TMP"] = str(on_disk)
    try:
        server = start_server(bin_dir)
    finally:
        if saved is None:
            os.environ.pop("KASSA_PG_TMP", None)
        else:
            os.environ["KASSA_PG_TMP"] = saved
    try:
        yield server
    finally:
        server.stop()


def postmaster_pid(server: PgServer) -> int:
    return int((server.data / "postmaster.pid").read_text().split()[0])


# -- process accounting ---------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def cpu_s(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of `pid` (plus its reaped children when asked)."""
    f = _stat_fields(pid)
    ticks = int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    if children:
        ticks += int(f[13]) + int(f[14])  # cutime, cstime
    return ticks / _CLK_TCK


def children(root: int) -> list[int]:
    """The live processes whose parent is `root`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(_stat_fields(int(entry.name))[1]) == root:
                out.append(int(entry.name))
    return out


def tree_cpu_s(root: int) -> float:
    """CPU of a server and all its live and reaped children (PostgreSQL's backends, the
    workers of `kassa host serve --workers N`)."""
    total = cpu_s(root, children=True)
    for pid in children(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += cpu_s(pid)
    return total


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mb(root: int) -> float:
    """Resident set size of `root` and its live children, in MB (shared pages counted
    once per process: an upper bound)."""
    total = rss_mb(root)
    for pid in children(root):
        with contextlib.suppress(OSError):
            total += rss_mb(pid)
    return total


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit);
    the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- statistics -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples_s: list[float]) -> Latency:
        if len(samples_s) < 2:
            one = samples_s[0] * 1000 if samples_s else 0.0
            return cls(len(samples_s), one, one, one, one)
        cuts = statistics.quantiles(samples_s, n=100, method="inclusive")
        return cls(len(samples_s), cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000,
                   max(samples_s) * 1000)  # fmt: skip


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def print_table(title: str, headers: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    """A plain fixed-width table (what README.md quotes)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    print(f"\n## {title}")
    for index, row in enumerate(cells):
        line = "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                         enumerate(zip(row, widths, strict=True)))  # fmt: skip
        print(line.rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()
