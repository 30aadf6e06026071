"""What every console route uses: the services, the current user, rendering, refusals.

Routes get a `Ctx` from `need(role)` (refuses with a redirect to the login page or a
403 page) and render templates with `page`. Forms are checked against the session's CSRF
token by `check_csrf`, installed on every router.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kassa.audit import AuditLog
from kassa.auth import Role
from kassa.auth.store import OperatorStore
from kassa.clock import Clock
from kassa.console.auth import LANG_COOKIE, SESSION_COOKIE, Session, Sessions, allows, csrf_ok
from kassa.console.i18n import LANGS, Lang, text
from kassa.money import Amount
from kassa.store import Database

_CHINA = timezone(timedelta(hours=8))


@dataclass
class Services:
    """What the console works with; one per app, in ``app.state.services``."""

    db: Database
    home: Path
    store: OperatorStore
    audit: AuditLog
    clock: Clock
    sessions: Sessions
    rand: Callable[[int], bytes] = os.urandom


class LoginRequired(Exception):
    """No live session: go to the login page (`expired` says why)."""

    def __init__(self, expired: bool, path: str) -> None:
        self.expired = expired
        self.path = path


class NotFound(Exception):
    """What the request names does not exist (a friendly 404)."""

    def __init__(self, what: str) -> None:
        self.what = what


class Refused(Exception):
    """Logged in, but the role may not do this (403), or the CSRF token is wrong."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class Ctx:
    """The request's services, session, language and user."""

    request: Request
    services: Services
    session: Session
    lang: Lang

    @property
    def user(self) -> str:
        assert self.session.operator_id is not None
        return self.session.operator_id

    @property
    def role(self) -> Role:
        assert self.session.role is not None
        return self.session.role

    def now_ms(self) -> int:
        return self.services.clock.now_ms()

    def may(self, role: Role) -> bool:
        return allows(self.session.role, role)

    def t(self, key: str) -> str:
        return text(key, self.lang)

    def audit(self, action: str, target: str, detail: Mapping[str, object]) -> None:
        """Record an action of the logged-in user in the audit log (source "console")."""
        self.services.audit.record(
            self.user, self.role.value, action, target, detail, self.now_ms()
        )


def services_of(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def lang_of(request: Request) -> Lang:
    wanted = request.cookies.get(LANG_COOKIE, "zh")
    return wanted if wanted in LANGS else "zh"  # type: ignore[return-value]


def session_of(request: Request) -> tuple[Session | None, bool]:
    """The request's live session (without refreshing it) and whether one just expired."""
    cached = getattr(request.state, "session", None)
    if cached is not None:
        return cached, False
    services = services_of(request)
    session, expired = services.sessions.find(
        request.cookies.get(SESSION_COOKIE), services.clock.now_ms()
    )
    request.state.session = session
    return session, expired


def need(role: Role, *, allow_must_change: bool = False) -> Callable[[Request], Ctx]:
    """A dependency: the `Ctx` of a logged-in user whose role allows `role`, else refused."""

    def dependency(request: Request) -> Ctx:
        services = services_of(request)
        session, expired = session_of(request)
        if session is None or not session.logged_in:
            raise LoginRequired(expired, request.url.path)
        if session.must_change and not allow_must_change:
            raise LoginRequired(False, "/password")
        if request.headers.get("x-kassa-poll") != "1":  # polling is not activity
            services.sessions.touch(session, services.clock.now_ms())
        if not allows(session.role, role):
            raise Refused("role")
        return Ctx(request, services, session, lang_of(request))

    return dependency


async def check_csrf(request: Request) -> None:
    """Refuse a POST whose form does not carry the session's CSRF token (403)."""
    if request.method != "POST":
        return
    form = await request.form()
    sent = form.get("csrf")
    session, _ = session_of(request)
    if not csrf_ok(session, sent if isinstance(sent, str) else None):
        raise Refused("csrf")


def local_time(at_ms: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """China time of a UTC millisecond count ("" for None)."""
    if at_ms is None:
        return ""
    return datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(_CHINA).strftime(fmt)


def yuan(fen: int | None) -> str:
    return "" if fen is None else Amount(fen).yuan() if fen >= 0 else "-" + Amount(-fen).yuan()


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kassa.console", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = local_time
    env.filters["yuan"] = yuan
    return env


ENV = _environment()


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    """A cookie as the console sets them: HttpOnly, SameSite=Strict, Secure over TLS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def render(
    request: Request,
    template: str,
    values: Mapping[str, Any],
    *,
    status: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    """Render `template` with the language, user, CSRF token and navigation."""
    lang = lang_of(request)
    if session is None:
        session, _ = session_of(request)
    notice = None
    if session is not None and session.notice:
        notice, session.notice = session.notice, None
    doc = {
        "t": lambda key: text(key, lang),
        "lang": lang,
        "path": request.url.path,
        "session": session,
        "user": session.operator_id if session else None,
        "role": session.role if session else None,
        "may": lambda role: allows(session.role if session else None, Role(role)),
        "csrf": session.csrf if session else "",
        "notice": notice,
        "error": None,
        **values,
    }
    html = ENV.get_template(template).render(doc)
    return HTMLResponse(html, status_code=status)


def page(ctx: Ctx, template: str, http_status: int = 200, /, **values: Any) -> HTMLResponse:
    """Render `template` for the logged-in user (`values` may hold any name, even status)."""
    return render(ctx.request, template, values, status=http_status, session=ctx.session)
