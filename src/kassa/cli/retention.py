"""`kassa retention`: what the retention policy would purge, and why the rest is kept.

The policy is ``$KASSA_HOME/retention.toml`` (keys and defaults: `kassa.ops.retention_policy`),
the backups are read from ``$KASSA_HOME/backups`` (``--backups``): with no backup of a
database, nothing in it is purged. The terminal journal is ``$KASSA_HOME/terminal/journal.db``
and the host database ``$KASSA_HOME/host/host.db`` (``--host-db``), each when present.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kassa.cli._audit import record as audit_record
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.home import kassa_home
from kassa.ops import retention as rt
from kassa.ops.retention_policy import Policy, day_text
from kassa.store import Database, connect, migrate, parse_db_url

app = typer.Typer(
    help="Data retention: plan and apply the purge of old data.", no_args_is_help=True
)
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
HostDbOpt = Annotated[
    str | None,
    typer.Option("--host-db", help="host database URL (default $KASSA_HOME/host/host.db)"),
]
BackupsOpt = Annotated[
    Path | None, typer.Option("--backups", help="backup directory (default $KASSA_HOME/backups)")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="up to 3 example rows each")]


@contextmanager
def _databases(home: Path, host_db: str | None) -> Iterator[list[tuple[str, Database, str]]]:
    """(backup source name, open database, backup location) for each database present."""
    from kassa.host.runtime import default_db_url
    from kassa.host.schema import COMPONENT, MIGRATIONS
    from kassa.ops.backup.targets import JOURNAL_RELATIVE, location

    opened: list[tuple[str, Database, str]] = []
    try:
        journal = home / JOURNAL_RELATIVE
        if journal.is_file():
            db = connect(f"sqlite:///{journal}", durable=True)
            opened.append(("journal", db, str(journal.resolve())))
        url = parse_db_url(host_db or default_db_url(home))
        if host_db is not None or (url.path is not None and url.path.is_file()):
            db = connect(url)
            opened.append(("db", db, location(url)))
            migrate(db, COMPONENT, MIGRATIONS)
        if not opened:
            raise InputError(f"no terminal journal or host database in {home}; give --host-db")
        yield opened
    finally:
        for _, db, _ in opened:
            db.close()


def _show(console: Console, plan: rt.Plan, policy: Policy, verbose: bool) -> None:
    if plan.backup_ms is None:
        console.print(
            f"[bold]{plan.database}[/]: no backup of it found: nothing is purgeable "
            "(take one with `kassa backup run`)"
        )
    else:
        console.print(f"[bold]{plan.database}[/]: latest backup {day_text(plan.backup_ms, policy)}")
    table = Table("table", "verdict", "why", "rows", *(["examples"] if verbose else []))
    for (name, purge, reason), group in sorted(plan.groups.items()):
        verdict = "[red]purge[/]" if purge else "keep"
        extra = ["\n".join(group.examples)] if verbose else []
        table.add_row(name, verdict, reason, str(group.count), *extra)
    console.print(table)
    for fault in plan.faults:
        console.print(f"[red]FAULT[/] {fault}")


def _run(
    home: Path | None, host_db: str | None, backups: Path | None, verbose: bool, apply: bool
) -> list[rt.Plan]:
    base = kassa_home(home)
    policy = rt.load_policy(base)
    now = SYSTEM.now_ms()
    console = Console()
    plans = []
    with _databases(base, host_db) as dbs:
        for source, db, where in dbs:
            backup_ms = rt.latest_backup_ms(backups or base / "backups", source, where)
            if source == "journal":
                act = rt.apply_terminal if apply else rt.plan_terminal
            else:
                act = rt.apply_host if apply else rt.plan_host
            plan = act(db, backup_ms, policy, now)
            _show(console, plan, policy, verbose)
            plans.append(plan)
    return plans


@app.command("plan")
def plan(
    home: HomeOpt = None,
    host_db: HostDbOpt = None,
    backups: BackupsOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """List what would be purged now and why every other row is kept (changes nothing)."""
    plans = _run(home, host_db, backups, verbose, apply=False)
    total = sum(p.purge_count for p in plans)
    typer.echo(f"{total} rows would be purged; run `kassa retention apply --yes` to purge them")
    if any(p.faults for p in plans):
        typer.echo("sensitive data left on final rows: `apply` scrubs it", err=True)
        raise typer.Exit(1)


@app.command("apply")
def apply(
    yes: Annotated[bool, typer.Option("--yes", help="really purge")] = False,
    home: HomeOpt = None,
    host_db: HostDbOpt = None,
    backups: BackupsOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Purge what the policy allows and scrub sensitive data left on final rows."""
    if not yes:
        raise InputError("purging cannot be undone: look at `kassa retention plan`, then add --yes")
    plans = _run(home, host_db, backups, verbose, apply=True)
    scrubbed = sum(len(p.scrub_ids) for p in plans)
    purged = sum(p.purge_count for p in plans)
    audit_record(home, "retention.apply", "purge", {"purged": purged, "scrubbed": scrubbed})
    typer.echo(f"purged {purged} rows, scrubbed {scrubbed}")
