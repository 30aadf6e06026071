"""Console users (admins only): add, disable and enable, unlock, reset the password, renew
the one-time code. New and reset passwords are temporary: changed at the next login. A
one-time code secret is shown once, to be enrolled in an authenticator app there and then.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.auth import PasswordRejected, Role, check_operator_id, problem_text, provisioning_uri
from kassa.console.web import Ctx, check_csrf, need, page
from kassa.errors import InputError, KassaError

router = APIRouter(dependencies=[Depends(check_csrf)])
Admin = Annotated[Ctx, Depends(need(Role.ADMIN))]
FormText = Annotated[str, Form()]
CONSOLE_ROLES = (Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)


def _users_page(
    ctx: Ctx, status: int = 200, error: str | None = None, enrol: tuple[str, str, str] | None = None
) -> Response:
    users = ctx.services.store.list()
    return page(
        ctx,
        "users.html",
        status,
        users=users,
        roles=CONSOLE_ROLES,
        error=error,
        enrol=enrol,
        now_ms=ctx.now_ms(),
    )


def _refusal(ctx: Ctx, exc: KassaError) -> str:
    if isinstance(exc, PasswordRejected):
        policy = ctx.services.store.settings.console_policy
        return "; ".join(problem_text(p, policy, ctx.lang) for p in exc.problems)
    return str(exc)


@router.get("/users", response_class=HTMLResponse)
def users_page(ctx: Admin) -> Response:
    return _users_page(ctx)


@router.post("/users", response_class=HTMLResponse)
def add_user(
    ctx: Admin, operator_id: FormText = "", role: FormText = "", password: FormText = ""
) -> Response:
    try:
        who = check_operator_id(operator_id.strip())
        wanted = Role(role) if role in {r.value for r in CONSOLE_ROLES} else None
        if wanted is None:
            raise InputError(f"role {role!r}: viewer, operator, supervisor or admin")
        _, secret = ctx.services.store.add(who, wanted, password, ctx.now_ms(), temporary=True)
    except KassaError as exc:
        return _users_page(ctx, 400, _refusal(ctx, exc))
    ctx.audit("user.add", f"operator {who}", {"role": wanted.value, "totp": secret is not None})
    enrol = (who, secret, provisioning_uri(secret, who)) if secret else None
    return _users_page(ctx, enrol=enrol)


def _change(ctx: Ctx, operator_id: str, action: str) -> Response:
    store, sessions = ctx.services.store, ctx.services.sessions
    try:
        if store.get(operator_id) is None:
            raise InputError(f"no operator {operator_id!r}")
        if operator_id == ctx.user and action == "disable":
            raise InputError("you cannot disable yourself: ask another admin")
        if action == "disable":
            store.set_active(operator_id, False)
            sessions.end_operator(operator_id)
        elif action == "enable":
            store.set_active(operator_id, True)
        elif action == "unlock":
            store.unlock(operator_id)
        else:
            raise InputError(f"unknown action {action!r}")
    except KassaError as exc:
        return _users_page(ctx, 400, _refusal(ctx, exc))
    ctx.audit(f"user.{action}", f"operator {operator_id}", {})
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{operator_id}/{action}", response_class=HTMLResponse)
def change_user(ctx: Admin, operator_id: str, action: str, password: FormText = "") -> Response:
    if action == "reset":
        return _reset(ctx, operator_id, password)
    if action == "totp":
        return _renew(ctx, operator_id)
    return _change(ctx, operator_id, action)


def _reset(ctx: Ctx, operator_id: str, password: str) -> Response:
    try:
        ctx.services.store.reset_password(operator_id, password, ctx.now_ms())
    except KassaError as exc:
        return _users_page(ctx, 400, _refusal(ctx, exc))
    ctx.services.sessions.end_operator(operator_id)
    ctx.audit("user.reset_password", f"operator {operator_id}", {})
    return RedirectResponse("/users", status_code=303)


def _renew(ctx: Ctx, operator_id: str) -> Response:
    try:
        secret = ctx.services.store.renew_totp(operator_id)
    except KassaError as exc:
        return _users_page(ctx, 400, _refusal(ctx, exc))
    ctx.audit("user.renew_totp", f"operator {operator_id}", {})
    return _users_page(ctx, enrol=(operator_id, secret, provisioning_uri(secret, operator_id)))
