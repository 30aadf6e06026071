"""Back-office benchmark: a day of 1,000,000 transactions settled and reconciled.

`reconfill.py` writes the day into a host database (SQLite on the real disk, or the
suite's PostgreSQL with its cluster on disk) and the terminals' journal lines into a
JSON-lines file, with differences planted. Then, timed:
1. settlement of the day (`kassa.backoffice.settlement.run_day`: every merchant's gross,
   fees, net and payout booked);
2. reconciliation terminal <-> host (`kassa.backoffice.recon.run_recon` with the journal
   file), checked against what was planted: every planted difference found, nothing else.
Peak memory (max RSS of this process) is printed with each figure.

    .venv/bin/python benchmarks/recon.py [--quick] [--rows 1000000] [--db sqlite|pg]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import benchkit as bk
from hostparts import DISK_DEFAULT
from kassa.store import Database, connect
from reconfill import KINDS, generate

DAY = date(2026, 11, 18)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settle(db: Database, now_ms: int) -> str:
    from kassa.backoffice.settlement import run_day

    started = time.perf_counter()
    result = run_day(db, DAY, now_ms)
    elapsed = time.perf_counter() - started
    count, gross, fee = result.total("count"), result.total("gross_fen"), result.total("fee_fen")
    return (f"settlement of {DAY}: {len(result.merchants)} merchants, {count:,} transactions"
            f" counted, gross {gross / 100:,.2f} yuan, fees {fee / 100:,.2f}, in {elapsed:.1f} s"
            f" ({count / elapsed:,.0f} txns/s); peak RSS {peak_mb():.0f} MB")  # fmt: skip


def reconcile(db: Database, journal: Path, planted: dict[str, int], now_ms: int) -> list[str]:
    from kassa.backoffice.recon import ReconSources, run_recon

    started = time.perf_counter()
    summary = run_recon(db, ReconSources(journals=((journal, None),)), now_ms, "bench")
    elapsed = time.perf_counter() - started
    found = {k: summary.by_kind.get(k, 0) for k in KINDS}
    extra = {k: v for k, v in summary.by_kind.items() if k not in KINDS}
    right = found == {k: planted.get(k, 0) for k in KINDS} and not extra
    return [
        f"reconciliation terminal <-> host: {summary.terminal_rows:,} journal rows against"
        f" {summary.host_rows:,} host rows in {elapsed:.1f} s"
        f" ({summary.terminal_rows / elapsed:,.0f} rows/s); peak RSS {peak_mb():.0f} MB",
        f"differences found {found} {extra or ''}; planted {dict(planted)}:"
        f" {'all found, nothing else' if right else 'MISMATCH'};"
        f" matched {summary.matched:,}, expected {summary.expected}",
    ]


@contextlib.contextmanager
def database(kind: str, work: Path) -> Iterator[Database]:
    if kind == "sqlite":
        db = connect(f"sqlite:///{work / 'host.db'}")
        try:
            yield db
        finally:
            db.close()
        return
    with bk.postgres(work / "pg") as server:
        db = connect(server.url(server.create_database()))
        try:
            yield db
        finally:
            db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--planted", type=int, default=25)
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "pg"))
    parser.add_argument("--workdir", type=Path, default=DISK_DEFAULT)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.terminals, args.planted = 20_000, 50, 5
    from kassa.backoffice.schema import Cutoff

    start_ms, end_ms = Cutoff().window_ms(DAY)
    work = Path(tempfile.mkdtemp(prefix="kassa-bench-recon-", dir=args.workdir))
    lines: list[str] = []
    try:
        with database(args.db, work) as db:
            started = time.perf_counter()
            day = generate(db, work / "journal.jsonl", args.rows, args.terminals, 50,
                           start_ms, end_ms - start_ms - 10_000, args.planted)  # fmt: skip
            lines.append(f"fixture ({args.db}): {day.host_rows:,} host txns with their ledger,"
                         f" {day.journal_lines:,} journal lines, in"
                         f" {time.perf_counter() - started:.1f} s")  # fmt: skip
            lines.append(settle(db, end_ms + 3_600_000))
            lines += reconcile(db, work / "journal.jsonl", day.planted, end_ms + 7_200_000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bk.print_table(f"back office, {args.rows:,} transactions", ("figure",),
                   [(line,) for line in lines])  # fmt: skip


if __name__ == "__main__":
    main()
