"""Back-office benchmark: a day of 1,000,000 transactions settled and reconciled.

`reconfill.py` writes the day into a host database (SQLite on the real disk, or the
suite's PostgreSQL with its cluster on disk) and the terminals' journal lines into a
JSON-lines file, with differences planted. Then, timed, each in a fresh process of its
own (so its peak RSS is its own, not the fixture's):
1. settlement of the day (`kassa.backoffice.settlement.run_day`: every merchant's gross,
   fees, net and payout booked);
2. reconciliation terminal <-> host (`kassa.backoffice.recon.run_recon` with the journal
   file), checked against what was planted: every planted difference found, nothing else;
   and the goal of issue 9 (1,000,000 rows in <= 10 s) said met or missed.
Each figure gives wall time, CPU time of its process (steadier on a shared machine) and
the process's peak RSS.

    .venv/bin/python benchmarks/recon.py [--quick] [--rows 1000000] [--db sqlite|pg]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import benchkit as bk
from hostparts import DISK_DEFAULT
from kassa.store import connect
from reconfill import KINDS, generate

DAY = date(2026, 11, 18)
GOAL_ROWS, GOAL_S = 1_000_000, 10.0


def peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec,
    so a child would report the parent's peak (the fixture's page cache)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Any) -> tuple[Any, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - started, time.process_time() - cpu


def phase_settle(url: str, now_ms: int) -> dict[str, Any]:
    from kassa.backoffice.settlement import run_day

    db = connect(url)
    try:
        result, wall, cpu = _timed(lambda: run_day(db, DAY, now_ms))
    finally:
        db.close()
    return {"merchants": len(result.merchants), "count": result.total("count"),
            "gross": result.total("gross_fen"), "fee": result.total("fee_fen"), "wall": wall,
            "cpu": cpu, "rss": peak_mb()}  # fmt: skip


def phase_recon(url: str, journal: str, now_ms: int) -> dict[str, Any]:
    from kassa.backoffice.recon import ReconSources, run_recon

    db = connect(url)
    try:
        sources = ReconSources(journals=((Path(journal), None),))
        summary, wall, cpu = _timed(lambda: run_recon(db, sources, now_ms, "bench"))
    finally:
        db.close()
    return {"terminal_rows": summary.terminal_rows, "host_rows": summary.host_rows,
            "matched": summary.matched, "expected": summary.expected,
            "by_kind": summary.by_kind, "wall": wall, "cpu": cpu, "rss": peak_mb()}  # fmt: skip


def in_child(*args: str) -> dict[str, Any]:
    """One phase in a fresh interpreter; its result is the last line it prints (JSON)."""
    done = subprocess.run([sys.executable, __file__, "--phase", *args], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"phase {args[0]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def settle_line(r: dict[str, Any]) -> str:
    return (f"settlement of {DAY}: {r['merchants']} merchants, {r['count']:,} transactions"
            f" counted, gross {r['gross'] / 100:,.2f} yuan, fees {r['fee'] / 100:,.2f}, in"
            f" {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU ({r['count'] / r['wall']:,.0f}"
            f" txns/s); peak RSS {r['rss']:.0f} MB")  # fmt: skip


def recon_lines(r: dict[str, Any], planted: dict[str, int]) -> list[str]:
    found = {k: r["by_kind"].get(k, 0) for k in KINDS}
    extra = {k: v for k, v in r["by_kind"].items() if k not in KINDS}
    right = found == {k: planted.get(k, 0) for k in KINDS} and not extra
    rows, wall = r["terminal_rows"], r["wall"]
    if rows >= GOAL_ROWS:
        verdict = "met" if wall <= GOAL_S else "missed"
        goal = f"goal <= {GOAL_S:.0f} s for {GOAL_ROWS:,} rows: {verdict} ({wall:.1f} s)"
    else:
        goal = f"goal <= {GOAL_S:.0f} s is for {GOAL_ROWS:,} rows: not judged on {rows:,}"
    return [
        f"reconciliation terminal <-> host: {rows:,} journal rows against"
        f" {r['host_rows']:,} host rows in {wall:.1f} s wall, {r['cpu']:.1f} s CPU"
        f" ({rows / wall:,.0f} rows/s); peak RSS {r['rss']:.0f} MB",
        f"differences found {found} {extra or ''}; planted {dict(planted)}:"
        f" {'all found, nothing else' if right else 'MISMATCH'};"
        f" matched {r['matched']:,}, expected {r['expected']}",
        goal,
    ]


@contextlib.contextmanager
def database_url(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'host.db'}"
        return
    with bk.postgres(work / "pg") as server:
        yield server.url(server.create_database())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--planted", type=int, default=25)
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "pg"))
    parser.add_argument("--workdir", type=Path, default=DISK_DEFAULT)
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)  # internal: one child
    args = parser.parse_args()
    if args.phase:
        name, url, now, *rest = args.phase
        result = phase_settle(url, int(now)) if name == "settle" else phase_recon(url, rest[0],
                                                                                   int(now))  # fmt: skip
        print(json.dumps(result))
        return
    if args.quick:
        args.rows, args.terminals, args.planted = 20_000, 50, 5
    from kassa.backoffice.schema import Cutoff

    start_ms, end_ms = Cutoff().window_ms(DAY)
    work = Path(tempfile.mkdtemp(prefix="kassa-bench-recon-", dir=args.workdir))
    journal = work / "journal.jsonl"
    lines: list[str] = []
    try:
        with database_url(args.db, work) as url:
            db = connect(url)
            try:
                started = time.perf_counter()
                day = generate(db, journal, args.rows, args.terminals, 50, start_ms,
                               end_ms - start_ms - 10_000, args.planted)  # fmt: skip
            finally:
                db.close()
            lines.append(f"fixture ({args.db}): {day.host_rows:,} host txns with their ledger,"
                         f" {day.journal_lines:,} journal lines, in"
                         f" {time.perf_counter() - started:.1f} s")  # fmt: skip
            lines.append(settle_line(in_child("settle", url, str(end_ms + 3_600_000))))
            recon = in_child("recon", url, str(end_ms + 7_200_000), str(journal))
            lines += recon_lines(recon, day.planted)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bk.print_table(f"back office, {args.rows:,} transactions", ("figure",),
                   [(line,) for line in lines])  # fmt: skip


if __name__ == "__main__":
    main()
