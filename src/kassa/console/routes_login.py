"""Login (password, and a one-time code for supervisors and admins), logout, password
change, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.auth import LoginResult, Role, check_operator_id, problem_text
from kassa.console.auth import LANG_COOKIE, SESSION_COOKIE, Session
from kassa.console.i18n import LANGS, text
from kassa.console.web import (
    Ctx,
    check_csrf,
    lang_of,
    need,
    render,
    services_of,
    session_of,
    set_cookie,
)
from kassa.errors import InputError

router = APIRouter(dependencies=[Depends(check_csrf)])
FormText = Annotated[str, Form()]


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _anonymous(request: Request) -> tuple[Session, bool]:
    session, expired = session_of(request)
    if session is not None:
        return session, expired
    services = services_of(request)
    fresh = services.sessions.new(services.clock.now_ms())
    request.state.session = fresh
    return fresh, expired


def _login_page(
    request: Request,
    session: Session,
    error: str | None,
    status: int = 200,
    operator_id: str = "",
    ask_code: bool = False,
    next_path: str = "/",
) -> Response:
    response = render(
        request,
        "login.html",
        {
            "error": error,
            "operator_id": operator_id,
            "ask_code": ask_code,
            "next": safe_next(next_path),
        },
        status=status,
        session=session,
    )
    set_cookie(request, response, SESSION_COOKIE, session.token)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", expired: str = "") -> Response:
    session, just_expired = _anonymous(request)
    if session.logged_in:
        return RedirectResponse(safe_next(next), status_code=303)
    why = text("login.expired", lang_of(request)) if expired or just_expired else None
    return _login_page(request, session, why, next_path=next)


def _result_text(result: LoginResult, request: Request) -> str:
    return result.message_zh if lang_of(request) == "zh" else result.message_en


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    operator_id: FormText = "",
    password: FormText = "",
    code: FormText = "",
    next: FormText = "/",
) -> Response:
    services = services_of(request)
    session, _ = _anonymous(request)
    now_ms = services.clock.now_ms()
    try:
        who = check_operator_id(operator_id.strip())
    except InputError:
        return _login_page(request, session, text("login.bad_id", lang_of(request)), 401)
    result = services.store.login(who, password, code.strip() or None, now_ms)
    if result.reason_code == "otp_required":
        return _login_page(request, session, _result_text(result, request), 401, who, True, next)
    if not result.ok or result.role is None:
        action = "login.locked" if result.reason_code == "operator_locked" else "login.failed"
        services.audit.record(
            who, "-", action, f"operator {who}", {"reason": result.reason_code}, now_ms
        )
        ask = result.reason_code == "otp_invalid"
        return _login_page(request, session, _result_text(result, request), 401, who, ask, next)
    if not result.role.on_console:
        services.audit.record(
            who,
            result.role.value,
            "login.failed",
            f"operator {who}",
            {"reason": "not a console role"},
            now_ms,
        )
        return _login_page(request, session, text("login.not_console", lang_of(request)), 403)
    fresh = services.sessions.login(session, who, result.role, not result.session_allowed, now_ms)
    services.audit.record(
        who,
        result.role.value,
        "login.ok",
        f"operator {who}",
        {"reason": result.reason_code},
        now_ms,
    )
    target = "/password" if fresh.must_change else safe_next(next)
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, fresh.token)
    return response


@router.post("/logout")
def logout(ctx: Annotated[Ctx, Depends(need(Role.VIEWER, allow_must_change=True))]) -> Response:
    ctx.audit("logout", f"operator {ctx.user}", {})
    ctx.services.sessions.end(ctx.session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


Viewer = Annotated[Ctx, Depends(need(Role.VIEWER, allow_must_change=True))]


@router.get("/password", response_class=HTMLResponse)
def password_form(ctx: Viewer) -> Response:
    return render(ctx.request, "password.html", {}, session=ctx.session)


@router.post("/password", response_class=HTMLResponse)
def change_password(
    ctx: Viewer, old: FormText = "", new: FormText = "", again: FormText = ""
) -> Response:
    if new != again:
        return render(
            ctx.request,
            "password.html",
            {"error": ctx.t("password.differ")},
            status=400,
            session=ctx.session,
        )
    store = ctx.services.store
    result = store.change_password(ctx.user, old, new, ctx.now_ms())
    if not result.ok:
        policy = store.settings.policy_for(ctx.role)
        lines = [problem_text(p, policy, ctx.lang) for p in result.problems]
        head = result.message_zh if ctx.lang == "zh" else result.message_en
        message = head + (": " + "; ".join(lines) if lines else "")
        ctx.services.audit.record(
            ctx.user,
            ctx.role.value,
            "password.change_refused",
            f"operator {ctx.user}",
            {"reason": result.reason_code},
            ctx.now_ms(),
        )
        return render(
            ctx.request, "password.html", {"error": message}, status=400, session=ctx.session
        )
    ctx.session.must_change = False
    ctx.session.notice = ctx.t("password.changed")
    ctx.audit("password.change", f"operator {ctx.user}", {})
    return RedirectResponse("/", status_code=303)


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGS:
        set_cookie(request, response, LANG_COOKIE, code, max_age=365 * 86_400)
    return response
