"""`kassa recon`: reconcile terminals, host and bank statement; correct (补登) with four eyes.

Back-office operators live in the host database (component "auth"); their one-time code
secrets are sealed with a key derived from the host master key. Every action is recorded
in the host's audit log (`kassa audit verify` checks it).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from kassa.audit import AuditLog, ChainKey
from kassa.auth import AuthSettings, Role, parse_role, vault_sealer
from kassa.auth.store import OperatorStore
from kassa.backoffice import corrections as corr
from kassa.backoffice.recon import ReconSources, ensure_schema, run_recon
from kassa.backoffice.recon_schema import list_differences, list_runs
from kassa.backoffice.recon_views import Window, day_start_ms
from kassa.cli.pos_io import _line
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.home import kassa_home
from kassa.host.masterkey import load_master_key
from kassa.host.runtime import default_db_url
from kassa.money import Amount
from kassa.store import Database, connect, schema_version
from kassa.vault import derive_key

app = typer.Typer(
    help="Reconciliation (对账) and corrections (补登) with maker-checker approval.",
    no_args_is_help=True,
)
operator_app = typer.Typer(help="Back-office operators: add, list.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")
DbOpt = Annotated[
    str | None, typer.Option("--db", help="sqlite:///path/host.db or postgresql://user@host/db")
]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
OperatorOpt = Annotated[str, typer.Option("--operator", help="your back-office operator id")]
_DAY_MS = 86_400_000

_T = TypeVar("_T")


@dataclass
class Backoffice:
    """The host database with its operators and audit log, opened for the back office."""

    db: Database
    store: OperatorStore
    audit: AuditLog

    def close(self) -> None:
        self.db.close()


def open_backoffice(db_url: str | None, home: Path | None) -> Backoffice:
    """The host database (it must exist), its recon tables, operators and audit log."""
    base = kassa_home(home)
    url = db_url or default_db_url(base)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise InputError(f"no host database at {url}: give --db or --home")
    db = connect(url)
    try:
        if schema_version(db, "host") == 0:
            raise InputError(f"{url} holds no host tables: give the host's database")
        ensure_schema(db)
        master = load_master_key(base / "host" / "master.key")
        seal, open_sealed = vault_sealer(derive_key(master, "totp"), os.urandom)
        store = OperatorStore(db, settings=AuthSettings(), seal=seal, open_sealed=open_sealed)
        return Backoffice(db, store, AuditLog(db, "cli", ChainKey.from_master(master)))
    except BaseException:
        db.close()
        raise


def _as_reviewer(
    db: str | None,
    home: Path | None,
    operator: str,
    act: Callable[[Backoffice, str, str], _T],
) -> _T:
    """`act(office, password, code)` for a supervisor's decision: the back office opened,
    the password and the one-time code asked, the office closed whatever happens."""
    office = open_backoffice(db, home)
    try:
        password, code = credentials(operator, office.store, need_code=True)
        return act(office, password, code or "")
    finally:
        office.close()


def credentials(operator: str, store: OperatorStore, need_code: bool) -> tuple[str, str | None]:
    """Ask the operator's password, and the one-time code when they have one (or must)."""
    password = _line(f"{operator} 密码 Password", secret=True)
    record = store.get(operator)
    has_code = record is not None and record.totp_secret_sealed is not None
    code = _line("动态码 One-time code", secret=True).strip() if has_code or need_code else None
    return password, code


def _journal_arg(text: str) -> tuple[Path, str | None]:
    tid, sep, path = text.partition("=")
    return (Path(path), tid) if sep and len(tid) == 8 and tid.isalnum() else (Path(text), None)


@app.command("run")
def run(
    db: DbOpt = None,
    journal: Annotated[
        list[str] | None,
        typer.Option("--journal", help="[TID=]FILE.jsonl from `kassa pos journal --json`"),
    ] = None,
    terminal_db: Annotated[
        list[Path] | None, typer.Option("--terminal-db", help="a terminal's journal database")
    ] = None,
    external: Annotated[
        Path | None,
        typer.Option("--external", help="bank statement CSV: date,tid,rrn,amount,status"),
    ] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD (China time)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, included")] = None,
    operator: Annotated[str | None, typer.Option("--operator", help="who runs it")] = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Compare terminal journals, the host and a bank statement; store the differences."""
    window = Window(
        day_start_ms(date_from) if date_from else None,
        day_start_ms(date_to) + _DAY_MS if date_to else None,
    )  # fmt: skip
    sources = ReconSources(tuple(_journal_arg(j) for j in journal or ()),
                           tuple(terminal_db or ()), external, window)  # fmt: skip
    office = open_backoffice(db, home)
    try:
        summary = run_recon(office.db, sources, SYSTEM.now_ms(), operator or getpass.getuser(),
                            office.audit)  # fmt: skip
    finally:
        office.close()
    doc = {k: getattr(summary, k) for k in summary.__slots__}
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False))
    else:
        state = "一致 agreed" if summary.agreed else "有差异 differences"
        typer.echo(f"run {summary.run_id}: {state}; matched {summary.matched}, mismatched "
                   f"{summary.mismatched} {summary.by_kind}, in flight {summary.expected}, "
                   f"new {summary.new}, resolved {summary.resolved}")  # fmt: skip
    if not summary.agreed:
        raise typer.Exit(1)


def _fen(value: int | None) -> str:
    return Amount(value).yuan() if value is not None else "-"


def _history(office: Backoffice, run_id: int | None, status: str | None) -> dict[str, Any]:
    with office.db.transaction(write=False) as tx:
        runs = list_runs(tx, run_id)
        diffs = list_differences(tx, run_id, status)
        fixes = [c for d in diffs for c in corr.list_corrections(tx, d.id)]
    return {
        "runs": [{k: getattr(r, k) for k in r.__slots__} for r in runs],
        "differences": [{"id": d.id, "run_id": d.run_id, "last_run_id": d.last_run_id,
                         "status": d.status, **{k: getattr(d.diff, k) for k in d.diff.__slots__}}
                        for d in diffs],
        "corrections": [{k: getattr(c, k) for k in c.__slots__} for c in fixes],
    }  # fmt: skip


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


@app.command("list")
def list_command(
    run_id: Annotated[int | None, typer.Option("--run", help="one run's differences")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="open, corrected, accepted or resolved")
    ] = None,
    db: DbOpt = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON")] = False,
) -> None:
    """Runs, differences and corrections, with who made and approved what, when and why."""
    if status not in (None, "open", "corrected", "accepted", "resolved"):
        raise InputError(f"--status {status!r}: open, corrected, accepted or resolved")
    office = open_backoffice(db, home)
    try:
        doc = _history(office, run_id, status)
    finally:
        office.close()
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    console = Console()
    console.print(_table("runs 对账", ["run", "status", "by", "matched", "mismatched", "in flight"],
        [[str(r["id"]), r["status"], r["operator"], str(r["matched"]), str(r["mismatched"]),
          str(r["expected"])] for r in doc["runs"]]))  # fmt: skip
    console.print(_table("differences 差异", ["id", "run", "status", "kind", "class", "TID",
        "batch", "STAN", "RRN", "terminal", "host", "detail"],
        [[str(d["id"]), str(d["last_run_id"]), d["status"], d["kind"], d["klass"], d["tid"],
          d["batch"], d["stan"], d["rrn"] or "", _fen(d["terminal_fen"]), _fen(d["host_fen"]),
          d["detail"]] for d in doc["differences"]]))  # fmt: skip
    console.print(_table("corrections 补登", ["id", "diff", "status", "rule", "from", "to",
        "amount", "maker", "checker", "reason"],
        [[str(c["id"]), str(c["diff_id"]), c["status"], c["rule"] or c["mode"],
          c["account_from"] or "-", c["account_to"] or "-", _fen(c["amount_fen"]), c["maker"],
          c["checker"] or "", c["reason"]] for c in doc["corrections"]]))  # fmt: skip


@app.command("correct")
def correct(
    diff_id: Annotated[int, typer.Argument(help="difference id (see `kassa recon list`)")],
    reason: Annotated[str, typer.Option("--reason", help="why the record is wrong")],
    operator: OperatorOpt,
    amount: Annotated[str | None, typer.Option("--amount", help="yuan, manual")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="apply the automatic rule")] = False,
    kind_from: Annotated[
        str | None, typer.Option("--from", help="card, merchant, suspense or fee_income")
    ] = None,
    kind_to: Annotated[str | None, typer.Option("--to", help="the account credited")] = None,
    note: Annotated[str, typer.Option("--note", help="evidence: free text")] = "",
    attach: Annotated[
        list[str] | None,
        typer.Option("--attach", help="evidence: a document reference (repeatable)"),
    ] = None,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Make a correction (补登) of a difference; another supervisor must approve it."""
    if auto == (amount is not None):
        raise InputError("give either --amount YUAN (manual) or --auto")
    fen = Amount.parse(amount).fen if amount is not None else None
    office = open_backoffice(db, home)
    try:
        password, code = credentials(operator, office.store, need_code=False)
        made = corr.propose(office.db, office.store, diff_id, operator, password, code, reason,
                            SYSTEM.now_ms(), office.audit, auto=auto, amount_fen=fen,
                            kind_from=kind_from, kind_to=kind_to, note=note,
                            attachments=tuple(attach or ()))  # fmt: skip
    finally:
        office.close()
    typer.echo(f"correction {made.id} of difference {diff_id}: {made.rule or made.mode}, "
               f"{made.account_from or '-'} -> {made.account_to or '-'} "
               f"{_fen(made.amount_fen)}; waiting for approval (kassa recon approve {made.id})")  # fmt: skip


@app.command("approve")
def approve(
    correction_id: Annotated[int, typer.Argument(help="correction id")],
    operator: OperatorOpt,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Approve a correction (supervisor or admin, not its maker, with a one-time code)."""
    done = _as_reviewer(db, home, operator, lambda office, password, code: corr.approve(
        office.db, office.store, correction_id, operator, password, code, SYSTEM.now_ms(),
        office.audit))  # fmt: skip
    typer.echo(f"correction {done.id} approved; entry {done.entry_id or '(none: terminal import)'}"
               f"; difference {done.diff_id} corrected")  # fmt: skip


@app.command("reject")
def reject(
    correction_id: Annotated[int, typer.Argument(help="correction id")],
    reason: Annotated[str, typer.Option("--reason", help="why")],
    operator: OperatorOpt,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Refuse a correction (supervisor or admin, with a one-time code)."""
    done = _as_reviewer(db, home, operator, lambda office, password, code: corr.reject(
        office.db, office.store, correction_id, operator, password, code, reason,
        SYSTEM.now_ms(), office.audit))  # fmt: skip
    typer.echo(f"correction {done.id} rejected; difference {done.diff_id} stays open")


@app.command("accept")
def accept(
    diff_id: Annotated[int, typer.Argument(help="difference id")],
    reason: Annotated[str, typer.Option("--reason", help="why nothing needs to move")],
    operator: OperatorOpt,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Accept a difference as explained (supervisor or admin, with a one-time code)."""
    _as_reviewer(db, home, operator, lambda office, password, code: corr.accept(
        office.db, office.store, diff_id, operator, password, code, reason, SYSTEM.now_ms(),
        office.audit))  # fmt: skip
    typer.echo(f"difference {diff_id} accepted")


@operator_app.command("add")
def operator_add(
    operator_id: Annotated[str, typer.Option("--id", help="operator id, e.g. ops01")],
    role: Annotated[str, typer.Option("--role", help="operator, supervisor or admin")],
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Add a back-office operator (a supervisor or admin logs in first, but for the first)."""
    wanted = parse_role(role)
    if wanted not in corr.MAKER_ROLES:
        raise InputError(f"--role {role!r}: operator, supervisor or admin")
    office = open_backoffice(db, home)
    try:
        first = not office.store.list()
        actor, actor_role = "-", "setup"
        if not first:
            actor = _line("主管 Supervisor id").strip()
            password, code = credentials(actor, office.store, need_code=True)
            actor_role = corr.authenticate(office.store, actor, password, code, SYSTEM.now_ms(),
                                           corr.CHECKER_ROLES, need_code=True).value  # fmt: skip
        password = _line(f"{operator_id} 新密码 New password", secret=True)
        if _line("再输一次 Again", secret=True) != password:
            raise InputError("the two passwords differ; nothing was changed")
        _, secret = office.store.add(operator_id, wanted, password, SYSTEM.now_ms(),
                                     temporary=False)  # fmt: skip
        office.audit.record(actor, actor_role, "recon.operator_add", f"operator {operator_id}",
                            {"role": wanted.value}, SYSTEM.now_ms())  # fmt: skip
    finally:
        office.close()
    typer.echo(f"operator {operator_id} ({wanted.value}) added")
    if secret:
        typer.echo(
            f"one-time code secret (enrol it in an authenticator app now, shown once): {secret}"
        )


@operator_app.command("list")
def operator_list(db: DbOpt = None, home: HomeOpt = None) -> None:
    """List back-office operators (no secrets)."""
    office = open_backoffice(db, home)
    try:
        for record in office.store.list():
            if record.role is not Role.CASHIER:
                state = (
                    "locked"
                    if record.locked_until_ms
                    else ("active" if record.active else "disabled")
                )
                typer.echo(f"{record.operator_id}\t{record.role.value}\t{state}")
    finally:
        office.close()
