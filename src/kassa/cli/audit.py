"""`kassa audit`: verify the tamper-evident audit log and print the periodic audit report.

The audit key: by default (``--key auto``) the chain is checked with the key derived
from the host master key (``KASSA_HOST_MASTER_KEY`` or ``<home>/host/master.key``) when
there is one, else as an unkeyed chain. ``--key host`` insists on the host key and
``--key none`` checks an unkeyed chain. The database is never asked which: whoever could
rewrite the log could also claim it was unkeyed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kassa.audit import (
    AuditLog,
    AuditRecord,
    AuditReport,
    ChainKey,
    ReportPolicy,
    VerifyResult,
    anchor,
    build_report,
    parse_anchor,
    report_csv,
    report_json,
)
from kassa.clock import SYSTEM
from kassa.errors import ConfigError, InputError
from kassa.home import kassa_home
from kassa.host.masterkey import ENV as HOST_MASTER_KEY_ENV
from kassa.host.runtime import default_db_url
from kassa.keyfile import load_or_create_key
from kassa.store import Database, connect, parse_db_url, schema_version

app = typer.Typer(
    help="The tamper-evident audit log: verify the chain, periodic reports.", no_args_is_help=True
)
DbOpt = Annotated[
    str | None, typer.Option("--db", help="sqlite:///path/host.db or postgresql://user@host/db")
]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
KeyOpt = Annotated[
    str,
    typer.Option(
        "--key",
        help="auto (host key if present), host, terminal (the device key of --home), or none",
    ),
]
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HOURS = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@app.command("verify")
def verify(
    db: DbOpt = None,
    anchor_text: Annotated[
        str | None, typer.Option("--anchor", metavar="SEQ:HASH", help="a head written down earlier")
    ] = None,
    key: KeyOpt = "auto",
    home: HomeOpt = None,
) -> None:
    """Check the whole chain; exit 0 when intact, 1 naming the first bad entry."""
    expected = parse_anchor(anchor_text) if anchor_text is not None else None
    log = _open_log(db, key, home)
    try:
        result = log.verify(expected)
    finally:
        log.db.close()
    if result.ok:
        head = f"; head {anchor(result.last)}" if result.last is not None else ""
        typer.echo(f"audit log OK: {result.checked} entries{head}")
        return
    typer.echo(
        f"audit log BROKEN at entry {result.first_bad_seq} ({result.reason}): "
        f"{_printable(result.message)}"
    )
    if result.record is not None:
        typer.echo(f"  found: {_describe(result.record, ReportPolicy())}")
    typer.echo(f"  entries before it that verify: {result.checked}")
    raise typer.Exit(1)


@app.command("report")
def report(
    db: DbOpt = None,
    from_date: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="first day, YYYY-MM-DD")
    ] = None,
    to_date: Annotated[
        str | None, typer.Option("--to", metavar="DATE", help="last day (included), YYYY-MM-DD")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    hours: Annotated[
        str, typer.Option("--hours", metavar="HH:MM-HH:MM", help="business hours (local time)")
    ] = "08:00-22:00",
    key: KeyOpt = "auto",
    home: HomeOpt = None,
) -> None:
    """The audit report for a range of days (default: the last 7), China Standard Time.

    Exits 1 after printing when the chain does not verify.
    """
    if output not in ("table", "json", "csv"):
        raise InputError(f"--format {output!r} must be table, json or csv")
    policy = _policy(hours)
    from_ms, to_ms = _range_ms(from_date, to_date, policy)
    log = _open_log(db, key, home)
    try:
        verification = log.verify()
        built = build_report(log.iter_records(from_ms, to_ms), from_ms, to_ms, verification, policy)
    finally:
        log.db.close()
    if output == "json":
        typer.echo(report_json(built))
    elif output == "csv":
        typer.echo(report_csv(built), nl=False)
    else:
        _print_tables(built)
    if not verification.ok:
        raise typer.Exit(1)


def _open_log(db_url: str | None, key_mode: str, home: Path | None) -> AuditLog:
    if key_mode not in ("auto", "host", "terminal", "none"):
        raise InputError(f"--key {key_mode!r} must be auto, host, terminal or none")
    base = kassa_home(home)
    if db_url is None and key_mode == "terminal":
        db_url = f"sqlite:///{base / 'terminal' / 'journal.db'}"
    url = parse_db_url(db_url or default_db_url(base))
    if url.kind == "sqlite" and url.path is not None and not url.path.exists():
        raise InputError(f"no database at {url.path}: give --db or --home")
    if key_mode == "terminal":
        from kassa.terminal.runtime import device_key

        chain_key: ChainKey | None = ChainKey.from_master(device_key(base))
    else:
        chain_key = None if key_mode == "none" else _host_key(base, required=key_mode == "host")
    database: Database = connect(url)
    try:
        if schema_version(database, "audit") == 0:
            raise InputError(f"no audit log in {url.display}: nothing has been audited there")
        return AuditLog(database, "cli", chain_key, migrate_schema=False)
    except BaseException:
        database.close()
        raise


def _host_key(home: Path, required: bool) -> ChainKey | None:
    path = home / "host" / "master.key"
    if os.environ.get(HOST_MASTER_KEY_ENV) or path.exists():
        return ChainKey.from_master(load_or_create_key(path, HOST_MASTER_KEY_ENV))
    if required:
        raise ConfigError(f"no host master key: set {HOST_MASTER_KEY_ENV} or give --home")
    return None


def _policy(hours: str) -> ReportPolicy:
    match = _HOURS.fullmatch(hours.strip())
    if match is None:
        raise InputError(f"--hours {hours!r} must be HH:MM-HH:MM, e.g. 08:00-22:00")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise InputError(f"--hours {hours!r} holds a time that does not exist")
    return ReportPolicy(business_start_minute=h1 * 60 + m1, business_end_minute=h2 * 60 + m2)


def _range_ms(from_text: str | None, to_text: str | None, policy: ReportPolicy) -> tuple[int, int]:
    """[start of the first day, start of the day after the last) in UTC milliseconds."""
    today = policy.local_time(SYSTEM.now_ms()).date()
    last = _parse_date(to_text, "--to") if to_text is not None else today
    first = _parse_date(from_text, "--from") if from_text is not None else last - timedelta(6)
    if first > last:
        raise InputError(f"--from {first} is after --to {last}")
    return _day_start_ms(first, policy), _day_start_ms(last + timedelta(1), policy)


def _parse_date(text: str, option: str) -> date:
    try:
        if _DATE.fullmatch(text.strip()) is None:
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None


def _day_start_ms(day: date, policy: ReportPolicy) -> int:
    zone = policy.local_time(0).tzinfo
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()) * 1000


def _printable(text: str) -> str:
    # Actor names come from strangers at a login prompt: no terminal escapes on screen.
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _describe(record: AuditRecord, policy: ReportPolicy) -> str:
    at = policy.local_time(record.at_ms).strftime("%Y-%m-%d %H:%M:%S%z")
    return _printable(
        f"seq {record.seq}  {at}  {record.actor} ({record.role})  {record.action}  {record.target}"
    )


def _print_tables(built: AuditReport) -> None:
    console = Console()
    policy = built.policy
    span = f"{_local(built.from_ms, policy)} to {_local(built.to_ms, policy)}"
    console.print(Text(f"Audit report {span}: {built.total} actions"))
    console.print(Text(_verdict(built.verification)))
    _table(console, "By action", ("action", "count"), built.by_action)
    _table(console, "By operator", ("actor", "role", "count"), built.by_actor)
    lists = (
        ("Failed logins", built.failed_logins),
        ("Lockouts", built.lockouts),
        (
            "Voids, refunds, corrections, key and config changes, restores",
            tuple(r for _, r in built.listed),
        ),
        ("After hours", built.after_hours),
    )
    for title, records in lists:
        rows = [_record_row(r, policy) for r in records]
        _table(console, f"{title} ({len(rows)})", _RECORD_COLUMNS, rows)


_RECORD_COLUMNS = ("seq", "at", "actor", "role", "action", "target", "source", "detail")


def _record_row(record: AuditRecord, policy: ReportPolicy) -> tuple[object, ...]:
    at = policy.local_time(record.at_ms).strftime("%Y-%m-%d %H:%M:%S")
    return (
        record.seq,
        at,
        record.actor,
        record.role,
        record.action,
        record.target,
        record.source,
        record.detail,
    )


def _local(at_ms: int, policy: ReportPolicy) -> str:
    at = policy.local_time(at_ms)
    return at.strftime("%Y-%m-%d %H:%M ") + f"UTC{at.strftime('%z')[:3]}:{at.strftime('%z')[3:]}"


def _verdict(result: VerifyResult) -> str:
    if result.ok:
        return f"Chain verified: {result.checked} entries intact."
    return (
        f"CHAIN BROKEN at entry {result.first_bad_seq} ({result.reason}): "
        f"{_printable(result.message)}"
    )


def _table(
    console: Console, title: str, headers: tuple[str, ...], rows: Sequence[tuple[object, ...]]
) -> None:
    if not rows:
        console.print(Text(f"{title}: none"))
        return
    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*(Text(_printable(_cell(value))) for value in row))
    console.print(table)


def _cell(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
