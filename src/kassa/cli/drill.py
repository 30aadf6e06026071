"""`kassa drill SCENARIO` / `kassa drill --list`: rehearse a fault (应急演练).

Registered by the `kassa` app as ``app.command("drill")(drill.drill)``. Exit status: 0
when the drill passes, 1 when it fails (2 for a usage error).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from kassa.errors import InputError
from kassa.ops.drills import SCENARIOS, run_drill


def drill(
    name: Annotated[str | None, typer.Argument(metavar="SCENARIO", help="the drill to run")] = None,
    list_all: Annotated[bool, typer.Option("--list", help="list the drills")] = False,
    home: Annotated[
        Path | None, typer.Option("--home", help="keep the drill's data under DIR/drills/")
    ] = None,
    inprocess_host: Annotated[
        bool, typer.Option("--inprocess-host", help="run the host in this process")
    ] = False,
) -> None:
    """演练 Rehearse a fault against real processes on loopback, narrated, with a verdict
    from the databases: PASS (exit 0) or FAIL (exit 1)."""
    if list_all or name is None:
        if name is None and not list_all:
            raise InputError("give a drill name, or --list to see them")
        for item in SCENARIOS.values():
            typer.echo(f"{item.name:<18} {item.title_zh}  {item.title_en}")
        return
    result = asyncio.run(run_drill(name, home, typer.echo, not inprocess_host, log_to_workdir=True))
    if result.workdir is not None:
        typer.echo(f"data kept in {result.workdir}")
    raise typer.Exit(0 if result.passed else 1)
