"""`kassa settle`: settle merchants for a day, print its reports, write the payout file."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kassa.backoffice import (
    COMPONENT,
    MIGRATIONS,
    Cutoff,
    DayResult,
    MerchantSettlement,
    RefundFees,
    acquirer_csv,
    load_day,
    load_details,
    merchant_csv,
    payout_file,
    report_html,
    run_day,
)
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.home import kassa_home
from kassa.host.runtime import HostRuntime, default_db_url, open_host
from kassa.money import Amount
from kassa.store import migrate

app = typer.Typer(
    help="Merchant settlement and fees: run a day, print its reports, write the payout file.",
    no_args_is_help=True,
)
DbOpt = Annotated[
    str | None, typer.Option("--db", help="sqlite:///path/host.db or postgresql://user@host/db")
]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
DayOpt = Annotated[
    str | None,
    typer.Option("--day", help="settlement day YYYY-MM-DD (default: the last closed day)"),
]
CutoffOpt = Annotated[str, typer.Option("--cutoff", help="daily cut-off HH:MM, local time UTC+8")]


class Format(StrEnum):
    csv = "csv"
    html = "html"


def parse_day(text: str) -> date:
    """``YYYY-MM-DD``; InputError with an example otherwise."""
    try:
        if len(text.strip()) != 10:
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"day {text!r} is not a date YYYY-MM-DD; give e.g. 2026-11-18") from None


def _open(db: str | None, home: Path | None) -> HostRuntime:
    runtime = open_host(db or default_db_url(kassa_home(home)), home)
    try:
        migrate(runtime.db, COMPONENT, MIGRATIONS)
    except BaseException:
        runtime.close()
        raise
    return runtime


def _day(day: str | None, cutoff: Cutoff) -> date:
    return parse_day(day) if day is not None else cutoff.last_closed_day(SYSTEM.now_ms())


def _line(m: MerchantSettlement) -> str:
    owed = f"  still owed {Amount(-m.carry_out_fen).yuan()}" if m.carry_out_fen else ""
    return (
        f"{m.mid}  {m.count:>5}  gross {Amount(m.gross_fen).yuan()}  refunds"
        f" {Amount(m.refunds_fen).yuan()}  fee {Amount(m.fee_fen).yuan()}  net"
        f" {Amount(m.net_fen).yuan()}  payout {Amount(m.payout_fen).yuan()}{owed}"
    )


@app.command("run")
def run(
    day: DayOpt = None,
    db: DbOpt = None,
    cutoff: CutoffOpt = "23:00",
    refund_fees: Annotated[
        RefundFees,
        typer.Option("--refund-fees", help="kept: MDR not refunded on 退货; returned: pro rata"),
    ] = RefundFees.kept,
    home: HomeOpt = None,
    no_backup: Annotated[
        bool, typer.Option("--no-backup", help="skip the backup taken before settlement")
    ] = False,
) -> None:
    """Settle every merchant for a day (safe to run again: nothing is paid twice).

    The host database is backed up first unless --no-backup is given."""
    cut = Cutoff.parse(cutoff)
    settle_day = _day(day, cut)
    if not no_backup:
        from kassa.cli.backup import auto_backup

        typer.echo(
            f"backup before settlement: {auto_backup(home, 'before settlement', db)}", err=True
        )
    runtime = _open(db, home)
    try:
        result = run_day(
            runtime.db, settle_day, SYSTEM.now_ms(), cut, refund_fees=refund_fees,
            after_merchant=lambda m: typer.echo(_line(m)),
        )  # fmt: skip
    finally:
        runtime.close()
    typer.echo(_summary(result))


def _summary(result: DayResult) -> str:
    return (
        f"settlement {result.settle_day} {result.status}: {len(result.merchants)} merchants,"
        f" {result.total('count')} transactions, fees {Amount(result.total('fee_fen')).yuan()},"
        f" payout {Amount(result.total('payout_fen')).yuan()}"
    )


def _stored(runtime: HostRuntime, settle_day: date) -> DayResult:
    with runtime.db.transaction(write=False) as tx:
        result = load_day(tx, settle_day.isoformat())
    if result is None:
        raise InputError(
            f"{settle_day} has not been settled; run `kassa settle run --day {settle_day}`"
        )
    return result


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None


@app.command("report")
def report(
    day: DayOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="csv or html")] = Format.csv,
    out: Annotated[Path | None, typer.Option("--out", help="file (default stdout)")] = None,
    mid: Annotated[str | None, typer.Option("--mid", help="one merchant's statement")] = None,
    db: DbOpt = None,
    cutoff: CutoffOpt = "23:00",
    home: HomeOpt = None,
) -> None:
    """The acquirer's report of a settled day, or one merchant's statement (--mid)."""
    cut = Cutoff.parse(cutoff)
    settle_day = _day(day, cut)
    runtime = _open(db, home)
    try:
        result = _stored(runtime, settle_day)
        with runtime.db.transaction(write=False) as tx:
            details = load_details(tx, result.settle_day, mid) if mid else []
    finally:
        runtime.close()
    if fmt is Format.html:
        data = report_html(result, mid, details, cut).encode("utf-8")
    elif mid is not None:
        data = merchant_csv(result, mid, details, cut)
    else:
        data = acquirer_csv(result)
    _write(data, out)


@app.command("payout-file")
def payout(
    day: Annotated[str, typer.Option("--day", help="settlement day YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", help="the file to write")],
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Write the payout file (CSV with a SHA-256 trailer) of a settled day."""
    settle_day = parse_day(day)
    runtime = _open(db, home)
    try:
        result = _stored(runtime, settle_day)
    finally:
        runtime.close()
    _write(payout_file(result), out)
    paid = sum(1 for m in result.merchants if m.payout_fen > 0)
    typer.echo(f"wrote {out}: {paid} payouts, {Amount(result.total('payout_fen')).yuan()} yuan")
