"""`kassa problem`: problem records, evidence packs for appeals (申诉) and lessons learnt."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from kassa.backoffice.evidence import export_pack
from kassa.backoffice.lessons import as_json as lessons_json
from kassa.backoffice.lessons import lessons, render
from kassa.backoffice.problems import Problem, list_problems, open_problem, update_problem
from kassa.backoffice.recon_views import day_start_ms
from kassa.cli.recon import DbOpt, HomeOpt, open_backoffice
from kassa.clock import SYSTEM
from kassa.errors import InputError

app = typer.Typer(
    help="Problem records (问题记录), evidence packs (证据包) and lessons learnt.",
    no_args_is_help=True,
)
ActorOpt = Annotated[str | None, typer.Option("--operator", help="who (default: you)")]
_DAY_MS = 86_400_000


def _show(p: Problem) -> str:
    checks = "; ".join(p.checks) or "-"
    return (f"problem {p.id} [{p.status}] {p.kind}: {p.error}\n  refs {json.dumps(p.refs)}"
            f"\n  checks: {checks}\n  resolution: {p.resolution or '-'}\n"
            f"  outcome: {p.outcome or '-'}")  # fmt: skip


@app.command("open")
def open_command(
    note: Annotated[str, typer.Option("--note", help="what was reported")],
    txn: Annotated[str | None, typer.Option("--txn", help="the transaction's RRN")] = None,
    diff: Annotated[int | None, typer.Option("--diff", help="a reconciliation difference")] = None,
    code: Annotated[str | None, typer.Option("--code", help="a response code or fault")] = None,
    operator: ActorOpt = None,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Open a problem record about a transaction, a difference or a code."""
    office = open_backoffice(db, home)
    try:
        p = open_problem(office.db, operator or getpass.getuser(), SYSTEM.now_ms(), rrn=txn,
                         diff_id=diff, code=code, note=note, audit=office.audit)  # fmt: skip
    finally:
        office.close()
    typer.echo(_show(p))


@app.command("update")
def update(
    problem_id: Annotated[int, typer.Argument(help="problem id")],
    check: Annotated[str | None, typer.Option("--check", help="a check made")] = None,
    resolution: Annotated[str | None, typer.Option("--resolution", help="what was done")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="how it ended")] = None,
    close: Annotated[bool, typer.Option("--close", help="close the record")] = False,
    operator: ActorOpt = None,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Add a check, a resolution or an outcome, or close the record (history is kept)."""
    office = open_backoffice(db, home)
    try:
        p = update_problem(office.db, problem_id, operator or getpass.getuser(), SYSTEM.now_ms(),
                           check=check, resolution=resolution, outcome=outcome, close=close,
                           audit=office.audit)  # fmt: skip
    finally:
        office.close()
    typer.echo(_show(p))


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help="open or closed")] = None,
    db: DbOpt = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Problem records, oldest first."""
    if status not in (None, "open", "closed"):
        raise InputError(f"--status {status!r}: open or closed")
    office = open_backoffice(db, home)
    try:
        with office.db.transaction(write=False) as tx:
            found = list_problems(tx, status)
    finally:
        office.close()
    for p in found:
        if as_json:
            doc = {k: getattr(p, k) for k in p.__slots__ if k != "history"}
            typer.echo(json.dumps(doc, ensure_ascii=False))
        else:
            typer.echo(_show(p))


@app.command("export")
def export(
    problem_id: Annotated[int, typer.Argument(help="problem id")],
    out: Annotated[Path, typer.Option("--out", help="the evidence pack to write (.zip)")],
    journal: Annotated[
        Path | None,
        typer.Option(
            "--journal", help="the terminal's journal database, to re-render its receipts"
        ),
    ] = None,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Write the evidence pack of a problem: masked transactions, messages, receipts,
    guide entries and timeline, with a README in Chinese and English."""
    office = open_backoffice(db, home)
    try:
        names = export_pack(office.db, problem_id, out, SYSTEM.now_ms(), office.audit, journal)
        office.audit.record(getpass.getuser(), "operator", "problem.export",
                            f"problem {problem_id}", {"file": str(out)}, SYSTEM.now_ms())  # fmt: skip
    finally:
        office.close()
    typer.echo(f"evidence pack {out}: {', '.join(names)}")


@app.command("lessons")
def lessons_command(
    date_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, included")] = None,
    db: DbOpt = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON")] = False,
) -> None:
    """Which declines and faults happen most, by terminal and by merchant (default: the
    last 30 days)."""
    end = day_start_ms(date_to) + _DAY_MS if date_to else SYSTEM.now_ms()
    start = day_start_ms(date_from) if date_from else end - 30 * _DAY_MS
    office = open_backoffice(db, home)
    try:
        with office.db.transaction(write=False) as tx:
            report = lessons(tx, start, end)
    finally:
        office.close()
    typer.echo(json.dumps(lessons_json(report), ensure_ascii=False) if as_json else render(report))
