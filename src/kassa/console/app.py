"""The console's FastAPI application: `create_app(db, home)`.

    app = create_app(runtime.db, home)                 # the real clock
    app = create_app(db, home, clock=FixedClock(t0))   # tests move time themselves

Every page is rendered on the server; refusals are pages too: a missing or expired
session goes to the login page, a role that may not act gets a 403 page, a bad CSRF
token a 403 page, an unknown address a friendly 404, bad input a one-line message, and
nothing ever shows a traceback. Under ``/api`` the same answers come as JSON.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from kassa import __version__
from kassa.audit import AuditLog, ChainKey
from kassa.auth import AuthSettings, vault_sealer
from kassa.auth.store import OperatorStore
from kassa.backoffice import COMPONENT as BACKOFFICE
from kassa.backoffice import MIGRATIONS as BACKOFFICE_MIGRATIONS
from kassa.backoffice.recon import ensure_schema
from kassa.clock import SYSTEM, Clock
from kassa.console import (
    api,
    routes_backups,
    routes_info,
    routes_login,
    routes_problems,
    routes_recon,
    routes_risk,
    routes_settle,
    routes_txns,
    routes_users,
)
from kassa.console.auth import Sessions, idle_timeout_ms
from kassa.console.i18n import text
from kassa.console.web import LoginRequired, NotFound, Refused, Services, lang_of, render
from kassa.errors import KassaError
from kassa.host.masterkey import load_master_key
from kassa.metrics import CONTENT_TYPE, KassaMetrics
from kassa.store import Database, migrate
from kassa.vault import derive_key

log = logging.getLogger(__name__)
dashboard_poll_ms = 5_000
_STATIC = Path(__file__).parent / "static"
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def create_app(
    db: Database,
    home: Path,
    *,
    clock: Clock = SYSTEM,
    settings: AuthSettings | None = None,
    master: bytes | None = None,
    rand: Callable[[int], bytes] = os.urandom,
    idle_ms: int = idle_timeout_ms,
    poll_ms: int = dashboard_poll_ms,
) -> FastAPI:
    """The console over the host database `db` with the Kassa home `home`.

    `master`: the host master key (default: read from ``home/host/master.key``); the
    operators' one-time code secrets and the audit chain key derive from it. `poll_ms`:
    how often the dashboard asks the API for fresh figures.
    """
    master = master if master is not None else load_master_key(home / "host" / "master.key")
    seal, open_sealed = vault_sealer(derive_key(master, "totp"), rand)
    store = OperatorStore(
        db, settings=settings or AuthSettings(), seal=seal, open_sealed=open_sealed, rand=rand
    )
    audit = AuditLog(db, "console", ChainKey.from_master(master))
    migrate(db, BACKOFFICE, BACKOFFICE_MIGRATIONS)
    ensure_schema(db)
    services = Services(db, home, store, audit, clock, Sessions(rand, idle_ms), rand)
    app = FastAPI(
        title="Kassa console",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.services = services
    app.state.poll_ms = poll_ms
    for module in (
        routes_login,
        routes_txns,
        routes_info,
        routes_settle,
        routes_recon,
        routes_problems,
        routes_risk,
        routes_backups,
        routes_users,
        api,
    ):
        app.include_router(module.router)
    _metrics_route(app, KassaMetrics(db))
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    _handlers(app)
    app.middleware("http")(_headers)
    return app


def _metrics_route(app: FastAPI, metrics: KassaMetrics) -> None:
    """Prometheus figures read from the host database at each scrape (settlements, open
    alerts, differences, problem records). Served to the local machine only: they name
    terminals and merchants."""

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if client not in ("127.0.0.1", "::1", "localhost"):
            return Response("metrics are served to the local machine only\n", 403)
        return Response(metrics.render(), media_type=CONTENT_TYPE)


async def _headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    try:
        response = await call_next(request)
    except Exception as exc:  # a bug: say so in one line, log it, keep the connection
        log.exception("console: %s on %s", type(exc).__name__, request.url.path)
        response = _message(request, 500, "error.internal")
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.url.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if request.url.scheme == "https":
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _message(request: Request, status: int, key: str, detail: str = "") -> Response:
    if _is_api(request):
        return JSONResponse({"error": text(key, "en"), "detail": detail}, status_code=status)
    return render(
        request,
        "error.html",
        {"status": status, "title": text(key, lang_of(request)), "detail": detail},
        status=status,
    )


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "login required", "expired": exc.expired}, 401)
        query = f"?next={quote(exc.path)}" + ("&expired=1" if exc.expired else "")
        return RedirectResponse("/login" + query, status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return _message(request, 403, "error.csrf" if exc.reason == "csrf" else "error.role")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _message(request, 404, "error.not_found", exc.what)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return _message(request, 404, "error.not_found", request.url.path[:200])
        if exc.status_code == 405:
            return _message(request, 405, "error.method")
        return _message(request, exc.status_code, "error.bad_request", str(exc.detail)[:200])

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _message(request, 400, "error.bad_request", f"{where}: {first.get('msg', '')}")

    @app.exception_handler(KassaError)
    async def kassa_error(request: Request, exc: KassaError) -> Response:
        return _message(request, 400, "error.bad_request", str(exc))
