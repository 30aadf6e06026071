"""The `kassa` command: one Typer app, one module per subcommand group.

Every user mistake ends as one line on stderr and a non-zero exit status, never a
traceback: `main` catches `KassaError` (our errors at the edge) and prints its message.
"""

from __future__ import annotations

import sys

import typer

from kassa import __version__
from kassa.cli import (
    audit,
    backup,
    console,
    doctor,
    drill,
    explain,
    host,
    iso,
    pos,
    problem,
    recon,
    retention,
    settle,
    update,
)
from kassa.cli import sim as sim_cli
from kassa.errors import KassaError
from kassa.ops.leaks import leaks as leaks_cli

app = typer.Typer(
    name="kassa",
    help="Kassa: UnionPay-dialect card-payment POS terminal, acquirer host and back office.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(iso.app, name="iso")
app.add_typer(host.app, name="host")
app.add_typer(pos.app, name="pos")
app.add_typer(settle.app, name="settle")
app.add_typer(audit.app, name="audit")
app.add_typer(backup.app, name="backup")
app.add_typer(retention.app, name="retention")
app.add_typer(update.app, name="update")
app.add_typer(recon.app, name="recon")
app.add_typer(problem.app, name="problem")
app.command("sim")(sim_cli.sim)
app.command("console")(console.console)
leaks_app = typer.Typer(help="Scan files for card data at rest (PAN, track 2, clear PIN blocks).",
                        no_args_is_help=True)  # fmt: skip
leaks_app.command("scan")(leaks_cli)
app.add_typer(leaks_app, name="leaks")
app.command("explain")(explain.explain)
app.command("doctor")(doctor.doctor)
app.command("drill")(drill.drill)


@app.command("version")
def version() -> None:
    """Show the software version."""
    typer.echo(f"kassa {__version__}")


@app.command("demo")
def demo(
    protocol: bool = typer.Option(
        False, "--protocol", help="show the messages of one sale instead"
    ),
) -> None:
    """A business day on embedded SQLite: host, three terminals, faults, settlement."""
    from kassa.cli.demo import run_demo, run_protocol_demo

    run_protocol_demo() if protocol else run_demo()


def main() -> None:
    """Entry point of the `kassa` console script."""
    try:
        app()
    except KassaError as exc:
        typer.echo(f"kassa: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # a path the system refuses (too long, missing, not allowed)
        where = f"{exc.filename}: " if exc.filename else ""
        typer.echo(f"kassa: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except OverflowError as exc:  # a number beyond what the system takes
        typer.echo(f"kassa: a number is too large: {exc}", err=True)
        sys.exit(2)
