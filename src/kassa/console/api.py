"""The JSON API under ``/api`` (described by FastAPI's OpenAPI document at
``/api/openapi.json``). The same session cookie as the pages; read-only.

The dashboard polls `GET /api/dashboard` with the header ``X-Kassa-Poll: 1``, which does
not count as activity, so an unattended dashboard still logs out after 15 idle minutes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from markupsafe import Markup

from kassa import guide
from kassa.auth import Role
from kassa.console import charts
from kassa.console.queries import Dashboard, TxnFilter, dashboard, search_txns, terminals, txn_by_id
from kassa.console.txn_detail import decoded_request, decoded_response
from kassa.console.web import Ctx, NotFound, local_time, need

router = APIRouter(prefix="/api", tags=["api"])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]


def dashboard_charts(ctx: Ctx, d: Dashboard) -> dict[str, Markup]:
    """The dashboard's charts as SVG markup (also sent by the API for the polling page)."""
    labels = [local_time(m, "%H:%M") for m, _, _ in d.per_minute]
    reasons = [
        (f"{code} {guide.lookup(code).pick('meaning', ctx.lang)}", n)
        for code, n in d.decline_reasons
    ]
    return {
        "minutes": charts.minute_bars(d.per_minute, labels, ctx.t("dash.per_minute")),
        "reasons": charts.count_bars(reasons, ctx.t("dash.reasons"), ctx.t("dash.no_declines")),
    }


def read_dashboard(ctx: Ctx) -> Dashboard:
    with ctx.services.db.transaction(write=False) as tx:
        return dashboard(tx, ctx.now_ms())


@router.get("/dashboard", summary="Live figures: per-minute approvals/declines, feed, alerts")
def api_dashboard(ctx: Viewer) -> dict[str, Any]:
    d = read_dashboard(ctx)
    return {
        "now": local_time(d.now_ms),
        "per_minute": [
            {"minute": local_time(m, "%H:%M"), "approved": a, "declined": n}
            for m, a, n in d.per_minute
        ],
        "approved_last_minute": d.per_minute[-1][1] if d.per_minute else 0,
        "declined_last_minute": d.per_minute[-1][2] if d.per_minute else 0,
        "decline_reasons": [{"code": c, "count": n} for c, n in d.decline_reasons],
        "terminals_online": d.terminals_online,
        "terminals_total": d.terminals_total,
        "alerts_open": d.alerts_open,
        "held_open": d.held_open,
        "feed": [dict(t.as_json(), time=local_time(t.created_ms, "%H:%M:%S")) for t in d.feed],
        "charts": dashboard_charts(ctx, d),
    }


@router.get("/txns", summary="Search transactions (card numbers masked)")
def api_txns(
    ctx: Viewer,
    day_from: str = "",
    day_to: str = "",
    tid: str = "",
    mid: str = "",
    amount: str = "",
    last4: str = "",
    status: str = "",
    rrn: str = "",
    limit: int = 100,
) -> dict[str, Any]:
    f = TxnFilter(day_from, day_to, tid, mid, amount, last4, status, rrn)
    with ctx.services.db.transaction(write=False) as tx:
        found = search_txns(tx, f, max(1, min(limit, 200)))
    return {"count": len(found), "txns": [t.as_json() for t in found]}


@router.get("/txns/{txn_id}", summary="One transaction with its decoded messages (masked)")
def api_txn(ctx: Viewer, txn_id: int) -> dict[str, Any]:
    with ctx.services.db.transaction(write=False) as tx:
        found = txn_by_id(tx, txn_id)
    if found is None:
        raise NotFound(f"transaction {txn_id}")
    view, request, response = found
    return {
        "txn": view.as_json(),
        "request": [list(r) for r in decoded_request(request)[1]],
        "response": [list(r) for r in decoded_response(response)[1]],
        "risk": json.loads(view.risk) if view.risk else None,
    }


@router.get("/terminals", summary="Terminals: sign-on state, last seen, batch")
def api_terminals(ctx: Viewer) -> dict[str, Any]:
    with ctx.services.db.transaction(write=False) as tx:
        found = terminals(tx, ctx.now_ms())
    return {"terminals": [{k: getattr(t, k) for k in t.__slots__} for t in found]}


@router.get("/me", summary="Who is logged in")
def api_me(ctx: Viewer) -> dict[str, str]:
    return {"operator_id": ctx.user, "role": ctx.role.value, "lang": ctx.lang}
