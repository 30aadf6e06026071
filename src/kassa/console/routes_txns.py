"""Dashboard, transactions (search and detail with decoded messages), terminals."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from kassa import guide
from kassa.auth import Role
from kassa.console.api import dashboard_charts, read_dashboard
from kassa.console.queries import (
    STATUSES,
    TxnFilter,
    related_txns,
    risk_hits,
    search_txns,
    terminals,
    txn_by_id,
)
from kassa.console.txn_detail import decoded_request, decoded_response
from kassa.console.web import Ctx, NotFound, check_csrf, need, page
from kassa.errors import KassaError

router = APIRouter(dependencies=[Depends(check_csrf)])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]


@router.get("/", response_class=HTMLResponse)
def dashboard_page(ctx: Viewer) -> Response:
    d = read_dashboard(ctx)
    reasons = [(c, guide.lookup(c).pick("meaning", ctx.lang), n) for c, n in d.decline_reasons]
    return page(
        ctx,
        "dashboard.html",
        d=d,
        charts=dashboard_charts(ctx, d),
        reasons=reasons,
        poll_ms=ctx.request.app.state.poll_ms,
    )


@router.get("/txns", response_class=HTMLResponse)
def txns_page(
    ctx: Viewer,
    day_from: str = "",
    day_to: str = "",
    tid: str = "",
    mid: str = "",
    amount: str = "",
    last4: str = "",
    status: str = "",
    rrn: str = "",
) -> Response:
    f = TxnFilter(
        day_from.strip(),
        day_to.strip(),
        tid.strip(),
        mid.strip(),
        amount.strip(),
        last4.strip(),
        status.strip(),
        rrn.strip(),
    )
    try:
        with ctx.services.db.transaction(write=False) as tx:
            found = search_txns(tx, f)
    except KassaError as exc:
        return page(ctx, "txns.html", 400, f=f, txns=[], statuses=STATUSES, error=str(exc))
    return page(ctx, "txns.html", f=f, txns=found, statuses=STATUSES)


@router.get("/txns/{txn_id}", response_class=HTMLResponse)
def txn_page(ctx: Viewer, txn_id: int) -> Response:
    with ctx.services.db.transaction(write=False) as tx:
        found = txn_by_id(tx, txn_id)
        if found is None:
            raise NotFound(f"transaction {txn_id}")
        view, request, response = found
        related = related_txns(tx, view)
    risk = json.loads(view.risk) if view.risk else None
    return page(
        ctx,
        "txn.html",
        txn=view,
        related=related,
        request_msg=decoded_request(request),
        response_msg=decoded_response(response),
        entry=guide.lookup(view.response_code),
        risk=risk,
        hits=risk_hits(view.risk),
    )


@router.get("/terminals", response_class=HTMLResponse)
def terminals_page(ctx: Viewer) -> Response:
    with ctx.services.db.transaction(write=False) as tx:
        found = terminals(tx, ctx.now_ms())
    return page(ctx, "terminals.html", terminals=found)
