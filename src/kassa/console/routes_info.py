"""The error guide (search by code or words, zh/en) and the audit log with its verification."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa import guide
from kassa.audit import VerifyResult
from kassa.auth import Role
from kassa.console.web import Ctx, check_csrf, need, page
from kassa.store import Transaction

router = APIRouter(dependencies=[Depends(check_csrf)])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]
audit_rows_shown = 200
guide_results_max = 50


@router.get("/guide", response_class=HTMLResponse)
def guide_page(ctx: Viewer, q: str = "") -> Response:
    query = q.strip()[:100]
    exact = guide.find(query) if query else None
    found = [exact] if exact is not None else guide.search(query)[:guide_results_max]
    parts = ("meaning", "screen", "cashier", "action")
    rows = [
        {
            "code": e.code,
            "kind": e.kind,
            "approved": e.approved,
            "cause": guide.cause_label(e.cause, ctx.lang),
            "outcome": guide.outcome_label(e.outcome, ctx.lang),
            "parts": [
                (guide.heading(p, ctx.lang), e.pick(p, "zh"), e.pick(p, "en")) for p in parts
            ],
            "flags": [
                guide.heading(f, ctx.lang)
                for f in ("resign_on", "reverse", "retain_card")
                if getattr(e, f)
            ],
        }
        for e in found
    ]
    return page(ctx, "guide.html", q=query, rows=rows, searched=bool(query))


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    at_ms: int
    actor: str
    role: str
    action: str
    target: str
    detail: str
    source: str


def _latest(tx: Transaction, action: str, actor: str) -> list[AuditRow]:
    where, params = ["1 = 1"], []
    if action:
        where.append("action LIKE ?")
        params.append(action.replace("%", "") + "%")
    if actor:
        where.append("actor = ?")
        params.append(actor)
    rows = tx.fetchall(
        "SELECT seq, at_ms, actor, role, action, target, detail, source FROM audit_log"
        f" WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT {audit_rows_shown}",
        params,
    )
    return [
        AuditRow(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], _detail(r[6]), r[7]) for r in rows
    ]


def _detail(text: Any) -> str:
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        return str(text)
    if not isinstance(doc, dict):
        return str(doc)
    return ", ".join(f"{k}={v}" for k, v in doc.items())


def _verification(ctx: Ctx) -> tuple[VerifyResult, int]:
    """The last verification of the chain, verifying now if there was none."""
    state = ctx.request.app.state
    cached: tuple[VerifyResult, int] | None = getattr(state, "audit_verified", None)
    if cached is None:
        cached = (ctx.services.audit.verify(), ctx.now_ms())
        state.audit_verified = cached
    return cached


@router.get("/audit", response_class=HTMLResponse)
def audit_page(ctx: Viewer, action: str = "", actor: str = "") -> Response:
    result, at_ms = _verification(ctx)
    with ctx.services.db.transaction(write=False) as tx:
        rows = _latest(tx, action.strip()[:64], actor.strip()[:64])
    return page(
        ctx, "audit.html", rows=rows, result=result, verified_ms=at_ms, action=action, actor=actor
    )


@router.post("/audit/verify")
def audit_verify(ctx: Viewer) -> Response:
    result = ctx.services.audit.verify()
    ctx.request.app.state.audit_verified = (result, ctx.now_ms())
    ctx.audit("audit.verify", "audit log", {"ok": result.ok, "checked": result.checked})
    return RedirectResponse("/audit", status_code=303)
