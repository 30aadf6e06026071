"""`kassa host`: run the acquirer host and manage its reference data."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kassa import logs
from kassa.clock import SYSTEM
from kassa.errors import ConfigError, InputError
from kassa.host import admin
from kassa.host.check import check_host
from kassa.host.loader import parse_reference
from kassa.host.runtime import open_host, parse_listen
from kassa.host.service import serve as serve_host
from kassa.host.workers import ServeSpec, check_workers, serve_workers
from kassa.metrics import KassaMetrics, start_metrics_server
from kassa.net.tls import make_self_signed, server_context
from kassa.store import connect

app = typer.Typer(help="The acquirer host: serve terminals, load and manage reference data.",
                  no_args_is_help=True)  # fmt: skip
DbOpt = Annotated[
    str | None, typer.Option("--db", help="sqlite:///path/host.db or postgresql://user@host/db")
]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
_LOG_HELP = "JSON-lines log file (with --workers: worker i logs to NAME-wI.SUFFIX beside it)"
_METRICS_HELP = ("serve Prometheus /metrics on 127.0.0.1 (with --workers: worker i serves"
                 " its own counters on this port + i, i = 0..N-1)")  # fmt: skip
_WORKERS_HELP = ("host processes on this node (1-64; one per core is usual), all on the"
                 " --listen address, which then needs a fixed port: the kernel spreads the"
                 " connections (SO_REUSEPORT, Linux); a supervisor restarts a worker that"
                 " dies and stops them all on SIGTERM")  # fmt: skip


@app.command("serve")
def serve(
    db: DbOpt = None,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to listen on")
    ] = "127.0.0.1:5000",
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key")] = None,
    tls_selfsigned: Annotated[
        bool, typer.Option("--tls-selfsigned", help="TLS with a self-signed cert in the home")
    ] = False,
    log_file: Annotated[Path | None, typer.Option("--log-file", help=_LOG_HELP)] = None,
    risk_rules: Annotated[
        Path | None, typer.Option("--risk-rules", help="risk rules TOML (default: shipped rules)")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help=_METRICS_HELP)] = None,
    workers: Annotated[int, typer.Option("--workers", help=_WORKERS_HELP)] = 1,
    home: HomeOpt = None,
) -> None:
    """Serve UnionPay-dialect terminals over TCP (or TLS) until interrupted."""
    host, port = parse_listen(listen)
    check_workers(workers, port, metrics_port)
    logs.configure(log_file)
    if workers > 1:
        spec = ServeSpec(db, _text(home), host, port, _text(risk_rules), _text(tls_cert),
                         _text(tls_key), _text(log_file), metrics_port)  # fmt: skip
        code = serve_workers(spec, workers, lambda line: typer.echo(line, err=True),
                             selfsigned=tls_selfsigned)  # fmt: skip
        if code:
            raise typer.Exit(code)
        return
    runtime = open_host(db, home, risk_rules)
    context = None
    if tls_selfsigned:
        cert, key = make_self_signed((home or Path(os.environ.get("KASSA_HOME", "."))) / "host")
        context = server_context(cert, key)
    elif tls_cert or tls_key:
        if not (tls_cert and tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        context = server_context(tls_cert, tls_key)
    metrics = server = None
    if metrics_port is not None:
        metrics = KassaMetrics(connect(runtime.db.url))  # its own connection for scrapes
        server = start_metrics_server(metrics, metrics_port)
    try:
        asyncio.run(_serve(runtime, host, port, context, metrics))
    finally:
        if server is not None:
            server.shutdown()
        runtime.close()


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path.resolve())


async def _serve(runtime: object, host: str, port: int, context: object, metrics: object) -> None:
    from kassa.host.runtime import HostRuntime

    assert isinstance(runtime, HostRuntime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    def ready(bound: int) -> None:
        typer.echo(f"kassa host listening on {host}:{bound}", err=True)

    await serve_host(runtime.db, runtime.core, host, port, context, ready, stop, metrics)  # type: ignore[arg-type]


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(metavar="FILE.toml", help="merchants, terminals, cards")],
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Load reference data; a file with any error loads nothing."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    ref, problems = parse_reference(text, str(file))
    if problems:
        for problem in problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1)
    runtime = open_host(db, home)
    try:
        with runtime.db.transaction() as tx:
            counts = admin.load_reference(tx, runtime.secrets, ref, SYSTEM.now_ms(), os.urandom)
        runtime.record("reference.load", str(file), {"merchants": counts[0], "terminals": counts[1],
                                                       "cards": counts[2]})  # fmt: skip
    finally:
        runtime.close()
    typer.echo(f"loaded {counts[0]} merchants, {counts[1]} terminals, {counts[2]} cards")


@app.command("check")
def check(db: DbOpt = None, home: HomeOpt = None) -> None:
    """Prove the ledger balances and every approval has exactly one capture."""
    runtime = open_host(db, home)
    try:
        with runtime.db.transaction(write=False) as tx:
            report = check_host(tx)
    finally:
        runtime.close()
    for problem in report.problems:
        typer.echo(problem, err=True)
    verdict = "OK" if report.ok else f"{len(report.problems)} PROBLEM(S)"
    typer.echo(f"ledger check: {verdict} ({report.entries} entries, {report.accounts} accounts)")
    if not report.ok:
        raise typer.Exit(1)


def _table(title: str, headers: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    table = Table(title=title)
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console().print(table)


def _status_command(group: typer.Typer, table: str, key: str, status: str, verb: str) -> None:
    @group.command(verb)
    def change(
        ident: str = typer.Argument(..., metavar=key.upper()),
        db: str | None = typer.Option(None, "--db", help="database URL"),
        home: Path | None = typer.Option(None, "--home", help="Kassa home"),
    ) -> None:
        runtime = open_host(db, home)
        try:
            with runtime.db.transaction() as tx:
                found = admin.set_status(tx, table, key, ident, status)
            if found:
                runtime.record(f"{table[:-1]}.status", ident, {"status": status})
        finally:
            runtime.close()
        if not found:
            raise InputError(f"no {table[:-1]} {ident}")
        typer.echo(f"{table[:-1]} {ident}: {status}")

    change.__doc__ = f"Set a {table[:-1]}'s status to {status}."


merchant_app = typer.Typer(help="Merchants.", no_args_is_help=True)
terminal_app = typer.Typer(help="Terminals.", no_args_is_help=True)
card_app = typer.Typer(help="Cards (card numbers shown masked).", no_args_is_help=True)
app.add_typer(merchant_app, name="merchant")
app.add_typer(terminal_app, name="terminal")
app.add_typer(card_app, name="card")
for _group, _table_name, _key in ((merchant_app, "merchants", "mid"),
                                  (terminal_app, "terminals", "tid"),
                                  (card_app, "cards", "card_ref")):  # fmt: skip
    _status_command(_group, _table_name, _key, "frozen", "freeze")
    _status_command(_group, _table_name, _key, "active", "unfreeze")
_status_command(card_app, "cards", "card_ref", "lost", "lost")
_status_command(card_app, "cards", "card_ref", "stolen", "stolen")


def _listing(
    sql: str, title: str, headers: tuple[str, ...], db: str | None, home: Path | None
) -> None:
    runtime = open_host(db, home)
    try:
        with runtime.db.transaction(write=False) as tx:
            rows = [tuple(r) for r in tx.fetchall(sql)]
    finally:
        runtime.close()
    _table(title, headers, rows)


@merchant_app.command("list")
def merchant_list(db: DbOpt = None, home: HomeOpt = None) -> None:
    """List merchants."""
    _listing("SELECT mid, name, mcc, fee_rate_ppm, credit_allowed, txn_limit_fen, status"
             " FROM merchants ORDER BY mid", "merchants",
             ("MID", "name", "MCC", "fee ppm", "credit", "limit fen", "status"), db, home)  # fmt: skip


@terminal_app.command("list")
def terminal_list(db: DbOpt = None, home: HomeOpt = None) -> None:
    """List terminals with their batch and sign-on state."""
    _listing("SELECT tid, mid, status, batch, signed_on, key_mode, last_seen_ms"
             " FROM terminals ORDER BY tid", "terminals",
             ("TID", "MID", "status", "batch", "signed on", "keys", "last seen ms"), db, home)  # fmt: skip


@card_app.command("list")
def card_list(db: DbOpt = None, home: HomeOpt = None) -> None:
    """List cards (masked) with their balance."""
    _listing("SELECT c.card_ref, c.pan_masked, c.kind, c.status, c.expiry,"
             " COALESCE(a.balance_fen, 0) FROM cards c LEFT JOIN accounts a"
             " ON a.account = 'card:' || c.card_ref ORDER BY c.card_ref", "cards",
             ("ref", "card", "kind", "status", "expiry", "balance fen"), db, home)  # fmt: skip


@merchant_app.command("add")
def merchant_add(
    mid: Annotated[str, typer.Option("--mid")],
    name: Annotated[str, typer.Option("--name")],
    mcc: Annotated[str, typer.Option("--mcc")] = "5411",
    fee_rate: Annotated[str, typer.Option("--fee-rate", help='e.g. "0.0038"')] = "0.0038",
    txn_limit: Annotated[str, typer.Option("--txn-limit", help="yuan")] = "50000.00",
    credit_allowed: Annotated[bool, typer.Option("--credit-allowed/--no-credit")] = True,
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Add one merchant."""
    _add_rows(f'[[merchant]]\nmid = "{mid}"\nname = "{name}"\nmcc = "{mcc}"\n'
              f'fee_rate = "{fee_rate}"\ntxn_limit = "{txn_limit}"\n'
              f"credit_allowed = {str(credit_allowed).lower()}\n", db, home)  # fmt: skip


@terminal_app.command("add")
def terminal_add(
    tid: Annotated[str, typer.Option("--tid")],
    mid: Annotated[str, typer.Option("--mid")],
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Add one terminal; the TMK is asked for without echo."""
    tmk = typer.prompt("TMK (32 hex digits)", hide_input=True)
    _add_rows(f'[[terminal]]\ntid = "{tid}"\nmid = "{mid}"\ntmk = "{tmk}"\n', db, home)


@card_app.command("add")
def card_add(
    expiry: Annotated[str, typer.Option("--expiry", help="YYMM")],
    balance: Annotated[str, typer.Option("--balance", help="yuan")] = "0.00",
    kind: Annotated[str, typer.Option("--kind", help="debit or credit")] = "debit",
    credit_limit: Annotated[str, typer.Option("--credit-limit", help="yuan")] = "0.00",
    db: DbOpt = None,
    home: HomeOpt = None,
) -> None:
    """Add one card; the card number and PIN are asked for (never on the command line)."""
    pan = typer.prompt("card number", hide_input=True)
    pin = typer.prompt("PIN", hide_input=True)
    _add_rows(f'[[card]]\npan = "{pan}"\nexpiry = "{expiry}"\npin = "{pin}"\n'
              f'balance = "{balance}"\nkind = "{kind}"\ncredit_limit = "{credit_limit}"\n',
              db, home)  # fmt: skip


def _add_rows(text: str, db: str | None, home: Path | None) -> None:
    if any(ch in text for ch in "\\"):
        raise InputError("values may not contain backslashes")
    ref, problems = parse_reference(text, "<command line>")
    if problems:
        raise InputError(problems[0].reason)
    runtime = open_host(db, home)
    try:
        with runtime.db.transaction() as tx:
            admin.load_reference(tx, runtime.secrets, ref, SYSTEM.now_ms(), os.urandom)
        kind = "merchant" if ref.merchants else "terminal" if ref.terminals else "card"
        target = (ref.merchants or ref.terminals or [{}])[0].get(
            "mid" if ref.merchants else "tid", "card"
        )
        runtime.record(f"{kind}.add", str(target), {})
    finally:
        runtime.close()
    typer.echo("added")
