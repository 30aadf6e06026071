"""`kassa pos`: the POS terminal from the command line (and `kassa pos screen` for the
cashier's screen). Every command first recovers whatever a power cut left in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from kassa.cli import pos_io, pos_operator
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.iso8583.keys import check_value, parse_key_hex
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.terminal.pos import Terminal
from kassa.terminal.requests import Original
from kassa.terminal.runtime import audit_log, open_journal, open_terminal
from kassa.terminal.service import TxnRequest

app = typer.Typer(help="The POS terminal: sign on, take payments, settle.", no_args_is_help=True)
app.add_typer(pos_operator.app, name="operator")
T = TypeVar("T")
_STATE: dict[str, Any] = {"home": None, "lang": "zh", "json": False}


@app.callback()
def main(
    home: Annotated[
        Path | None, typer.Option("--home", help="terminal home (default $KASSA_HOME)")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="print outcomes as JSON")] = False,
) -> None:
    if lang not in ("zh", "en"):
        raise InputError(f"--lang {lang!r}: use zh or en")
    _STATE.update(home=home, lang=lang, json=as_json)


def _with_terminal(work: Callable[[Terminal], Awaitable[T]], recover: bool = True) -> T:
    terminal = open_terminal(_STATE["home"])

    async def run() -> T:
        try:
            if recover:
                for found in await terminal.recover():
                    typer.echo(
                        f"恢复 recovered: {found.stan} {found.state} ({found.code})", err=True
                    )
            return await work(terminal)
        finally:
            await terminal.ctx.link.close()
            terminal.journal.close()

    return asyncio.run(run())


def _amount(text: str) -> int:
    return Amount.parse(text).fen


def _finish(outcome: Any) -> None:
    pos_io.show(outcome, _STATE["lang"], _STATE["json"])
    if not outcome.ok:
        raise typer.Exit(1)


def _card_txn(txn: TxnType, amount_fen: int | None, icc: Path | None, original: Original | None = None,
              orig_id: int | None = None, pin: bool = True) -> None:  # fmt: skip
    card = pos_io.read_card(icc)
    pin_text = pos_io.read_pin() if pin else None

    async def work(terminal: Terminal) -> Any:
        await terminal.pending.resolve()  # a re-sign-on here would change the PIK
        keys = terminal.journal.keys()
        block = make_pin_block(keys.pik, pin_text, card.pan) if pin_text and keys else None
        check = check_value(keys.pik) if block and keys else None
        request = TxnRequest(txn, amount_fen, card, block, original, orig_id, check)
        return await terminal.transact(request)

    _finish(_with_terminal(work))


Icc = Annotated[Path | None, typer.Option("--icc", help="IC card data (field 55 TLV) from a file")]


@app.command("sale")
def sale(amount: Annotated[str, typer.Argument(help="yuan, e.g. 12.50")], icc: Icc = None) -> None:
    """消费 Sale: card by swipe, keyed entry or IC data; PIN asked without echo."""
    _card_txn(TxnType.SALE, _amount(amount), icc)


@app.command("balance")
def balance(icc: Icc = None) -> None:
    """余额查询 Balance inquiry."""
    _card_txn(TxnType.BALANCE, None, icc)


@app.command("preauth")
def preauth(amount: Annotated[str, typer.Argument(help="yuan")], icc: Icc = None) -> None:
    """预授权 Pre-authorisation (funds held)."""
    _card_txn(TxnType.PREAUTH, _amount(amount), icc)


def _original_by_trace(trace: str, txn_type: str | None = None) -> tuple[Original, int, int | None]:
    """The original (and its journal id and amount) of the current batch, by trace; of the
    given type when one is named."""
    if not trace.isdigit():
        raise InputError(f"--trace {trace!r}: a trace number is up to 6 digits")
    journal = open_journal(_STATE["home"])
    try:
        rows = journal.txns(
            "stan = ? AND batch = ?", (f"{int(trace):06d}", journal.get("batch", "000001"))
        )
    finally:
        journal.close()
    if not rows:
        raise InputError(f"trace {trace}: no such transaction in the current batch")
    row = rows[-1]
    if txn_type is not None and row.txn_type != txn_type:
        raise InputError(f"trace {trace} is not a {txn_type} of this batch")
    return (
        Original(row.batch, row.stan, row.host_date, row.rrn, row.auth_code),
        row.id,
        row.amount_fen,
    )


@app.command("void")
def void(
    trace: Annotated[str, typer.Option("--trace", help="trace (STAN) of the sale")], icc: Icc = None
) -> None:
    """消费撤销 Void a sale of the current batch by its trace number."""
    original, orig_id, amount = _original_by_trace(trace)
    _card_txn(TxnType.VOID, amount, icc, original, orig_id, pin=False)


@app.command("refund")
def refund(
    amount: Annotated[str, typer.Argument(help="yuan")],
    ref: Annotated[str, typer.Option("--ref", help="RRN of the original sale (12 characters)")],
    date: Annotated[str, typer.Option("--date", help="date of the original sale, MMDD")] = "",
    icc: Icc = None,
) -> None:
    """退货 Refund against an earlier sale's reference number."""
    if len(ref) != 12:
        raise InputError(f"--ref {ref!r}: a reference number (RRN) has 12 characters")
    if date and not (len(date) == 4 and date.isdigit()):
        raise InputError(f"--date {date!r}: write the original date as MMDD, e.g. 1118")
    original = Original(rrn=ref, date=date or None)
    _card_txn(TxnType.REFUND, _amount(amount), icc, original, pin=False)


@app.command("complete")
def complete(
    amount: Annotated[str, typer.Argument(help="yuan")],
    auth: Annotated[str, typer.Option("--auth", help="authorisation code of the pre-auth")],
    date: Annotated[str, typer.Option("--date", help="date of the pre-auth, MMDD")] = "",
    icc: Icc = None,
) -> None:
    """预授权完成 Pre-authorisation completion."""
    if len(auth) != 6:
        raise InputError(f"--auth {auth!r}: an authorisation code has 6 characters")
    _card_txn(TxnType.COMPLETION, _amount(amount), icc, Original(date=date or None, auth_code=auth))


@app.command("preauth-void")
def preauth_void(
    trace: Annotated[str, typer.Option("--trace", help="trace (STAN) of the pre-authorisation")],
    icc: Icc = None,
) -> None:
    """预授权撤销 Release a pre-authorisation of the current batch (funds unheld)."""
    original, orig_id, amount = _original_by_trace(trace, "preauth")
    _card_txn(TxnType.PREAUTH_VOID, amount, icc, original, orig_id)


@app.command("complete-void")
def complete_void(
    trace: Annotated[str, typer.Option("--trace", help="trace (STAN) of the completion")],
    icc: Icc = None,
) -> None:
    """预授权完成撤销 Void a pre-authorisation completion (the hold comes back)."""
    original, orig_id, amount = _original_by_trace(trace, "completion")
    _card_txn(TxnType.COMPLETION_VOID, amount, icc, original, orig_id)


@app.command("signon")
def signon() -> None:
    """签到 Operator login, then terminal sign-on: fresh working keys and the host's time."""
    pos_operator.login(_STATE["home"])
    result = _with_terminal(lambda t: t.sign_on())
    if _STATE["json"]:
        typer.echo(json.dumps({"ok": result.ok, "code": result.code, "batch": result.batch,
                               "drift_ms": result.drift_ms}))  # fmt: skip
    else:
        typer.echo(f"签到{'成功' if result.ok else '失败'} sign-on {'OK' if result.ok else 'failed'}: "
                   f"{result.code} batch {result.batch} clock drift {result.drift_ms} ms")  # fmt: skip
    if not result.ok:
        raise typer.Exit(1)


@app.command("signoff")
def signoff() -> None:
    """签退 Sign off (keys are dropped; the next transaction needs a sign-on)."""
    result = _with_terminal(lambda t: t.sign_off(), recover=False)
    typer.echo(f"sign-off: {result.code}")


@app.command("settle")
def settle(
    no_backup: Annotated[
        bool, typer.Option("--no-backup", help="skip the backup taken before settlement")
    ] = False,
) -> None:
    """结算 Settle the batch; resumes where an interrupted settlement stopped.

    The journal is backed up first (encrypted, verified by hash), as the guides ask."""
    if not no_backup:
        from kassa.cli.backup import auto_backup
        from kassa.terminal.runtime import terminal_dir

        journal_path = terminal_dir(_STATE["home"]) / "journal.db"
        backup_id = auto_backup(_STATE["home"], "before settlement", journal=str(journal_path))
        typer.echo(f"备份 backup before settlement: {backup_id}", err=True)
    result = _with_terminal(lambda t: t.settle())
    if _STATE["json"]:
        totals = result.totals.to_field() if result.totals else None
        typer.echo(json.dumps({"ok": result.ok, "code": result.code, "batch": result.batch,
                               "balanced": result.balanced, "uploaded": result.uploaded,
                               "step": result.step, "totals": totals}))  # fmt: skip
    else:
        verdict = "对账平 balanced" if result.balanced else "对账不平 unbalanced, batch uploaded"
        typer.echo(f"结算 settlement batch {result.batch}: {result.code} "
                   f"{verdict if result.ok else 'stopped at ' + result.step}")  # fmt: skip
    if not result.ok:
        raise typer.Exit(1)


@app.command("status")
def status() -> None:
    """Signed on? keys? pending reversals? store-and-forward queue? receipts? clock?"""
    info = _with_terminal(lambda t: _async(t.status()))  # recovery first: nothing hidden
    info["printer"] = _printer_state()
    if _STATE["json"]:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    table = Table(title="terminal status 终端状态")
    table.add_column("item")
    table.add_column("value")
    for key, value in info.items():
        table.add_row(key, str(value))
    Console().print(table)


def _printer_state() -> str:
    from kassa.terminal.printer import open_printer

    journal = open_journal(_STATE["home"])
    try:
        url = journal.config().printer
    finally:
        journal.close()
    if url.startswith("none"):
        return "none configured"
    status = open_printer(url).status()
    return "ready" if status.ready else f"{status.error or 'not ready'} (paper {status.paper})"


async def _async(value: T) -> T:
    return value


@app.command("journal")
def journal(as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False) -> None:
    """The transaction journal (masked card numbers only)."""
    j = open_journal(_STATE["home"])
    try:
        rows = j.txns()
    finally:
        j.close()
    if as_json or _STATE["json"]:
        for row in rows:
            typer.echo(json.dumps(row.to_json(), ensure_ascii=False))
        return
    table = Table(title="journal 流水")
    for col in ("id", "batch", "trace", "type", "amount", "card", "state", "code", "ref"):
        table.add_column(col)
    for r in rows:
        amount = Amount(r.amount_fen).yuan() if r.amount_fen else ""
        table.add_row(str(r.id), r.batch, r.stan, r.txn_type, amount, r.pan_masked or "",
                      r.state.value, r.response_code or "", r.rrn or "")  # fmt: skip
    Console().print(table)


@app.command("config")
def config(
    key: Annotated[str | None, typer.Argument(help="setting to change (none: show all)")] = None,
    value: Annotated[str | None, typer.Argument(help="new value")] = None,
    tmk: Annotated[
        bool, typer.Option("--tmk", help="inject the terminal master key (asked, no echo)")
    ] = False,
) -> None:
    """Show or change the configuration (tid, mid, hosts, printer, limits, language...)."""
    j = open_journal(_STATE["home"])
    try:
        if tmk:
            text = pos_io._line("TMK (32 hex digits)", secret=True)
            try:
                j.set_tmk(parse_key_hex(text, (16,)))
            except ValueError as exc:
                raise InputError(f"--tmk: {exc}") from None
            typer.echo("TMK stored (sealed); sign on to get working keys")
            _audit(j, "key.tmk_injected", "tmk", {})
        if key is not None:
            if value is None:
                raise InputError(f"give a value for {key!r}, e.g. kassa pos config tid 12345678")
            j.save_config(j.config().updated(key, value))
            _audit(j, "config.change", key, {"value": value if "key" not in key else "***"})
        current = j.config()
    finally:
        j.close()
    typer.echo(current.to_json() if _STATE["json"] else
               "\n".join(f"{k} = {v}" for k, v in json.loads(current.to_json()).items()))  # fmt: skip


def _audit(journal: Any, action: str, target: str, detail: dict[str, Any]) -> None:
    operator = journal.get("operator") or "-"
    audit_log(journal, _STATE["home"]).record(operator, "cashier", action, target, detail,
                                              SYSTEM.now_ms())  # fmt: skip


@app.command("screen")
def screen() -> None:
    """The POS screen (Textual): the terminal as the cashier sees it."""
    from kassa.tui import run_pos_app

    terminal = open_terminal(_STATE["home"])
    try:
        run_pos_app(terminal, _STATE["lang"])
    finally:
        terminal.journal.close()


@app.command("reprint")
def reprint(
    trace: Annotated[
        str | None, typer.Option("--trace", help="trace number (default: the last)")
    ] = None,
) -> None:
    """重打印 Reprint the last receipt, or any by trace number (marked REPRINT)."""
    from kassa.terminal.printing import PrintingReceipts, preview

    journal = open_journal(_STATE["home"])
    try:
        rows = journal.txns(
            "state IN ('approved', 'offline', 'uploaded', 'voided', 'offline_declined')"
        )
        if trace is not None:
            if not trace.isdigit():
                raise InputError(f"--trace {trace!r}: a trace number is up to 6 digits")
            rows = [r for r in rows if r.stan == f"{int(trace):06d}"]
        if not rows:
            raise InputError("no receipt to reprint" + (f" for trace {trace}" if trace else ""))
        row = rows[-1]
        typer.echo(preview(journal, row.id, _STATE["lang"]))
        PrintingReceipts(journal).reprint(row.id, SYSTEM.now_ms())
    finally:
        journal.close()
