"""`kassa update`: signed software updates from a directory of packages, and rollback.

The release team makes a key pair once (`keygen`) and signs each package (`sign`); each
terminal or host trusts the public key at ``$KASSA_HOME/update/trusted.pub``. `check`
lists and verifies, `apply` installs into this Python environment, `rollback` goes back.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kassa.cli._audit import record as audit_record
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.home import kassa_home
from kassa.ops import update as up

app = typer.Typer(help="Signed software updates (Ed25519) with rollback.", no_args_is_help=True)
HomeOpt = Annotated[Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")]
DirOpt = Annotated[Path, typer.Option("--dir", help="directory of signed packages")]
PythonOpt = Annotated[
    str, typer.Option("--python", hidden=True, help="interpreter whose environment is updated")
]
DistOpt = Annotated[str, typer.Option("--dist", hidden=True, help="distribution to update")]


def _updater(home: Path | None, python: str, dist: str) -> up.Updater:
    return up.Updater(kassa_home(home), SYSTEM.now_ms, python=python, dist=dist)


@app.command("keygen")
def keygen(out: Annotated[Path, typer.Option("--out", help="directory for the key pair")]) -> None:
    """Make the release key pair: release.key stays with the release team (keep it offline)."""
    private, public, kid = up.keygen(out)
    typer.echo(f"private key {private} (0600), public key {public}, key id {kid}")
    typer.echo("install the public key on each terminal as $KASSA_HOME/update/trusted.pub")


@app.command("sign")
def sign(
    package: Annotated[Path, typer.Argument(help="the wheel or .tar.gz to sign")],
    key: Annotated[Path, typer.Option("--key", help="the release private key")],
) -> None:
    """Write PACKAGE.json (manifest) and PACKAGE.sig beside the package."""
    manifest = up.sign(package, up.load_private(key), SYSTEM.now_ms())
    typer.echo(
        f"signed {manifest.name} {manifest.version} sha256 {manifest.sha256[:16]}..."
        f" with key {manifest.key_id}"
    )


@app.command("check")
def check(
    directory: DirOpt,
    home: HomeOpt = None,
    python: PythonOpt = sys.executable,
    dist: DistOpt = "kassa",
) -> None:
    """List the packages in DIR, verify each, and show whether one is newer."""
    updater = _updater(home, python, dist)
    installed = updater.installed()
    table = Table("package", "version", "verdict")
    found = updater.check(directory)
    for item in found:
        table.add_row(item.path.name, item.version, "ok" if item.ok else f"REFUSED: {item.problem}")
    Console().print(table)
    typer.echo(f"installed: {dist} {installed or '(none)'}")
    try:
        pick = updater.choose(directory, None)
    except InputError as exc:
        typer.echo(f"nothing to apply: {exc}")
        return
    if pick.version != installed:
        typer.echo(f"available: {pick.version} (`kassa update apply --dir {directory} --yes`)")


@app.command("apply")
def apply(
    directory: DirOpt,
    version: Annotated[
        str | None, typer.Option("--version", help="this version, not the newest")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="install without asking")] = False,
    allow_downgrade: Annotated[bool, typer.Option("--allow-downgrade")] = False,
    no_rollback: Annotated[
        bool,
        typer.Option(
            "--no-rollback", help="install although the current version cannot be restored"
        ),
    ] = False,
    home: HomeOpt = None,
    python: PythonOpt = sys.executable,
    dist: DistOpt = "kassa",
) -> None:
    """Verify a package and install it; on any failure the previous version is put back."""
    updater = _updater(home, python, dist)
    pick = updater.choose(directory, version)
    if not yes:
        typer.echo(
            f"would install {pick.path.name} over {updater.installed() or '(none)'}; add --yes"
        )
        return
    outcome = updater.apply(directory, version, allow_downgrade, no_rollback)
    audit_record(home, "update.apply", pick.path.name, {"allow_downgrade": allow_downgrade})
    _report(outcome)


@app.command("rollback")
def rollback(
    yes: Annotated[bool, typer.Option("--yes", help="roll back without asking")] = False,
    home: HomeOpt = None,
    python: PythonOpt = sys.executable,
    dist: DistOpt = "kassa",
) -> None:
    """Reinstall the version that was installed before the last update."""
    if not yes:
        raise InputError("rolling back replaces the installed software: add --yes")
    outcome = _updater(home, python, dist).rollback()
    audit_record(home, "update.rollback", dist, {})
    _report(outcome)


@app.command("history")
def history(
    home: HomeOpt = None, python: PythonOpt = sys.executable, dist: DistOpt = "kassa"
) -> None:
    """Every update and rollback, oldest first."""
    table = Table("time (UTC)", "action", "result", "from", "to", "detail")
    for line in _updater(home, python, dist).history():
        at = datetime.fromtimestamp(int(line["at_ms"]) // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        result = "ok" if line["ok"] else "FAILED"
        table.add_row(
            at, line["action"], result, line["from"] or "-", line["to"] or "-", line["detail"]
        )
    Console().print(table)


def _report(outcome: up.Outcome) -> None:
    typer.echo(
        f"{outcome.action}: {outcome.from_version or '(none)'} -> {outcome.to_version or '(none)'}:"
        f" {outcome.detail}"
    )
    if not outcome.ok:
        raise typer.Exit(1)
