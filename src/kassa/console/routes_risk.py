"""Risk: alerts, held transactions to release or decline (supervisors), rule hits.

A held transaction was approved to the terminal but is not to be paid to the merchant
until reviewed (`kassa.host.riskgate`). Releasing it closes the alert. Declining it closes
the alert and opens a problem record about the transaction, so the money's return (a 补登
correction, maker-checker) is followed to its end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.auth import Role
from kassa.backoffice.problems import open_problem
from kassa.backoffice.recon import ensure_schema
from kassa.console.queries import risk_hits
from kassa.console.web import Ctx, check_csrf, need, page
from kassa.errors import InputError, KassaError
from kassa.store import Transaction

router = APIRouter(dependencies=[Depends(check_csrf)])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]
Supervisor = Annotated[Ctx, Depends(need(Role.SUPERVISOR))]
FormText = Annotated[str, Form()]
alerts_shown = 200
REVIEWS = ("open", "released", "declined", "reviewed")


@dataclass(frozen=True, slots=True)
class AlertView:
    id: int
    at_ms: int
    tid: str
    mid: str
    txn_type: str
    amount_fen: int
    action: str
    response_code: str | None
    rules: tuple[str, ...]
    stan: str | None
    batch: str | None
    review: str
    reviewed_by: str | None
    txn_id: int | None
    rrn: str | None


_ALERT_SQL = (
    "SELECT a.id, a.at_ms, a.tid, a.mid, a.txn_type, a.amount_fen, a.action, a.response_code,"
    " a.detail, a.stan, a.batch, a.review, a.reviewed_by,"
    " (SELECT MIN(t.id) FROM txns t WHERE t.tid = a.tid AND t.batch = a.batch"
    "  AND t.stan = a.stan AND t.mti IN ('0100', '0200', '0220')),"
    " (SELECT MIN(t.rrn) FROM txns t WHERE t.tid = a.tid AND t.batch = a.batch"
    "  AND t.stan = a.stan AND t.mti IN ('0100', '0200', '0220'))"
    " FROM risk_alerts a"
)


def _alerts(tx: Transaction, where: str, params: tuple[Any, ...]) -> list[AlertView]:
    rows = tx.fetchall(
        f"{_ALERT_SQL} WHERE {where} ORDER BY a.id DESC LIMIT {alerts_shown}", params
    )
    return [
        AlertView(
            int(r[0]),
            int(r[1]),
            r[2],
            r[3],
            r[4],
            int(r[5]),
            r[6],
            r[7],
            tuple(risk_hits(r[8])),
            r[9],
            r[10],
            r[11],
            r[12],
            int(r[13]) if r[13] is not None else None,
            r[14],
        )
        for r in rows
    ]


def _overview(ctx: Ctx, review: str) -> dict[str, Any]:
    review = review if review in (*REVIEWS, "all") else "open"
    with ctx.services.db.transaction(write=False) as tx:
        held = _alerts(tx, "a.action = 'hold' AND a.review = 'open'", ())
        where, params = ("1 = 1", ()) if review == "all" else ("a.review = ?", (review,))
        alerts = _alerts(tx, where, params)
        details = tx.fetchall(f"SELECT detail FROM risk_alerts ORDER BY id DESC LIMIT {5000}")
    hits: Counter[str] = Counter(rule for (d,) in details for rule in risk_hits(d))
    return {
        "held": held,
        "alerts": alerts,
        "review": review,
        "reviews": REVIEWS,
        "hits": hits.most_common(20),
    }


@router.get("/risk", response_class=HTMLResponse)
def risk_page(ctx: Viewer, review: str = "open") -> Response:
    return page(ctx, "risk.html", **_overview(ctx, review))


def _review(ctx: Ctx, alert_id: int, verdict: str, actions: tuple[str, ...], note: str) -> None:
    with ctx.services.db.transaction() as tx:
        found = _alerts(tx, "a.id = ?", (alert_id,))
        if not found:
            raise InputError(f"no risk alert {alert_id}")
        alert = found[0]
        if alert.action not in actions or alert.review != "open":
            raise InputError(
                f"risk alert {alert_id} is {alert.action} and {alert.review}: it cannot be {verdict}"
            )
        tx.execute(
            "UPDATE risk_alerts SET review = ?, reviewed_by = ?, reviewed_ms = ?"
            " WHERE id = ? AND review = 'open'",
            (verdict, ctx.user, ctx.now_ms(), alert_id),
        )
        ctx.services.audit.record_in(
            tx,
            ctx.user,
            ctx.role.value,
            f"risk.{verdict}",
            f"risk alert {alert_id}",
            {
                "tid": alert.tid,
                "stan": alert.stan or "",
                "amount_fen": alert.amount_fen,
                "rules": list(alert.rules),
                "note": note,
            },
            ctx.now_ms(),
        )


def _decided(
    ctx: Ctx, alert_id: int, verdict: str, actions: tuple[str, ...], note: str
) -> Response:
    try:
        _review(ctx, alert_id, verdict, actions, note.strip()[:500])
        if verdict == "declined":
            _follow_up(ctx, alert_id, note)
    except KassaError as exc:
        return page(ctx, "risk.html", 400, error=str(exc), **_overview(ctx, "open"))
    ctx.session.notice = f"{ctx.t('risk.alert')} {alert_id}: {ctx.t('risk.' + verdict)}"
    return RedirectResponse("/risk", status_code=303)


def _follow_up(ctx: Ctx, alert_id: int, note: str) -> None:
    with ctx.services.db.transaction(write=False) as tx:
        alert = _alerts(tx, "a.id = ?", (alert_id,))[0]
    if alert.rrn is None:
        return
    ensure_schema(ctx.services.db)
    problem = open_problem(
        ctx.services.db,
        ctx.user,
        ctx.now_ms(),
        rrn=alert.rrn,
        note=f"held by risk ({', '.join(alert.rules)}), declined by"
        f" {ctx.user}: return the money. {note.strip()}"[:2000],
        audit=ctx.services.audit,
    )
    ctx.session.extra["problem"] = str(problem.id)


@router.post("/risk/{alert_id}/release", response_class=HTMLResponse)
def release(ctx: Supervisor, alert_id: int, note: FormText = "") -> Response:
    return _decided(ctx, alert_id, "released", ("hold",), note)


@router.post("/risk/{alert_id}/decline", response_class=HTMLResponse)
def decline(ctx: Supervisor, alert_id: int, note: FormText = "") -> Response:
    return _decided(ctx, alert_id, "declined", ("hold",), note)


@router.post("/risk/{alert_id}/reviewed", response_class=HTMLResponse)
def reviewed(ctx: Supervisor, alert_id: int, note: FormText = "") -> Response:
    return _decided(ctx, alert_id, "reviewed", ("alert", "allow", "decline"), note)
