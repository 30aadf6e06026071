"""`kassa doctor`: check a terminal or a host and say what to do about each problem.

Registered by the `kassa` app as ``app.command("doctor")(doctor.doctor)``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from kassa.errors import InputError
from kassa.ops.doctor import doctor as run_doctor
from kassa.ops.doctor import render_json, render_text


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    home: Annotated[
        Path | None, typer.Option("--home", help="terminal or host home (default $KASSA_HOME)")
    ] = None,
    host_db: Annotated[
        str | None, typer.Option("--host-db", help="examine this host database (URL)")
    ] = None,
    ntp: Annotated[
        str | None, typer.Option("--ntp", help="compare the clock with this NTP server")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="seconds to wait for the echo answer")
    ] = None,
) -> None:
    """自检 Check network (DNS, TCP, TLS, echo), clock, keys, queues, printer, disk, journal;
    or a host's database, schema, ledger and terminals.

    Exit status: 0 all fine, 1 warnings only, 2 failures (or a usage error)."""
    if timeout is not None and not 0 < timeout <= 120:
        raise InputError(f"--timeout {timeout:g}: give 0 to 120 seconds")
    report = asyncio.run(run_doctor(home, host_db, ntp, timeout))
    typer.echo(render_json(report) if as_json else render_text(report))
    raise typer.Exit(report.status)
