"""`kassa pos operator` and the operator login before sign-on (shell).

Operators live in the terminal's journal database (component "auth"): Argon2id password
hashes, lockout after repeated failures, one-time codes (TOTP) for supervisors, sealed
with the device key. The first operator must be a supervisor and needs no login to add.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from kassa.auth import AuthSettings, Role
from kassa.auth.store import OperatorStore
from kassa.cli.pos_io import _line
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.terminal.journal import Journal
from kassa.terminal.runtime import audit_log, open_journal

app = typer.Typer(help="Terminal operators: add, list, change password.", no_args_is_help=True)
_TERMINAL_ROLES = (Role.CASHIER, Role.SUPERVISOR)


def _store(journal: Journal) -> OperatorStore:
    settings = AuthSettings()
    return OperatorStore(
        journal.db,
        settings=settings,
        seal=lambda data, aad: journal.seal(data, "totp:" + aad.hex()),
        open_sealed=lambda blob, aad: journal.unseal(blob, "totp:" + aad.hex()),
        rand=os.urandom,
    )


def login(home: Path | None, need: Role | None = None) -> str:
    """Ask for operator number, password (and a one-time code when needed); record who is
    at the terminal. Raises InputError with the guide's message when refused."""
    journal = open_journal(home)
    try:
        store = _store(journal)
        if not store.list():
            raise InputError("no operators yet: add the first supervisor with "
                             "`kassa pos operator add --id 00 --role supervisor`")  # fmt: skip
        operator = _line("操作员号 Operator number").strip()
        password = _line("密码 Password", secret=True)
        result = store.login(operator, password, None, SYSTEM.now_ms())
        if result.reason_code == "otp_required":  # right password; the code comes second
            code = _line("动态码 One-time code", secret=True).strip()
            result = store.login(operator, password, code, SYSTEM.now_ms())
        audit = audit_log(journal, home)
        action = "login.ok" if result.ok and result.session_allowed else "login.failed"
        audit.record(operator or "-", "cashier", action, operator or "-",
                     {"reason": result.reason_code}, SYSTEM.now_ms())  # fmt: skip
        if not result.ok or not result.session_allowed:
            raise InputError(f"{result.message_zh} / {result.message_en}")
        if need is Role.SUPERVISOR and result.role is not Role.SUPERVISOR:
            raise InputError("需要主管 a supervisor must do this")
        journal.put(operator=operator, operator_login_ms=str(SYSTEM.now_ms()))
        return operator
    finally:
        journal.close()


@app.command("add")
def add(
    operator_id: Annotated[str, typer.Option("--id", help="operator number, e.g. 01")],
    role: Annotated[str, typer.Option("--role", help="cashier or supervisor")] = "cashier",
    home: Annotated[Path | None, typer.Option("--home")] = None,
) -> None:
    """Add an operator (a supervisor must log in first, except for the very first one)."""
    if role not in [r.value for r in _TERMINAL_ROLES]:
        raise InputError(f"--role {role!r}: cashier or supervisor")
    journal = open_journal(home)
    try:
        store = _store(journal)
        first = not store.list()
    finally:
        journal.close()
    if first and role != Role.SUPERVISOR:
        raise InputError("the first operator must be a supervisor (--role supervisor)")
    if not first:
        login(home, need=Role.SUPERVISOR)
    password = _line("新密码 New password", secret=True)
    if _line("再输一次 Again", secret=True) != password:
        raise InputError("the two passwords differ; nothing was changed")
    journal = open_journal(home)
    try:
        _, secret = _store(journal).add(operator_id, Role(role), password, SYSTEM.now_ms(),
                                        temporary=not first)  # fmt: skip
    finally:
        journal.close()
    journal = open_journal(home)
    try:
        audit_log(journal, home).record(journal.get("operator") or operator_id, "supervisor",
                                        "operator.add", operator_id, {"role": role}, SYSTEM.now_ms())  # fmt: skip
    finally:
        journal.close()
    typer.echo(f"operator {operator_id} ({role}) added")
    if secret:
        typer.echo(
            f"one-time code secret (enrol it in an authenticator app now, shown once): {secret}"
        )


@app.command("list")
def list_operators(home: Annotated[Path | None, typer.Option("--home")] = None) -> None:
    """List operators (no secrets)."""
    journal = open_journal(home)
    try:
        for record in _store(journal).list():
            state = (
                "locked" if record.locked_until_ms else ("active" if record.active else "disabled")
            )
            typer.echo(f"{record.operator_id}\t{record.role.value}\t{state}")
    finally:
        journal.close()


@app.command("passwd")
def passwd(
    operator_id: Annotated[str, typer.Option("--id", help="operator number")],
    home: Annotated[Path | None, typer.Option("--home")] = None,
) -> None:
    """Change an operator's password (the old one is asked first)."""
    old = _line("旧密码 Old password", secret=True)
    new = _line("新密码 New password", secret=True)
    journal = open_journal(home)
    try:
        result = _store(journal).change_password(operator_id, old, new, SYSTEM.now_ms())
    finally:
        journal.close()
    if not result.ok:
        raise InputError(f"{result.message_zh} / {result.message_en}")
    typer.echo("password changed 密码已修改")
