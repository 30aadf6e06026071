"""Settlement: terminal batches, merchant settlement days with fees, reports to download,
and running a day (admin; a backup is taken first, as `kassa settle run` does)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.auth import Role
from kassa.backoffice import (
    Cutoff,
    DayResult,
    RefundFees,
    acquirer_csv,
    load_day,
    load_details,
    merchant_csv,
    payout_file,
    report_html,
    run_day,
)
from kassa.console.routes_backups import take_backup
from kassa.console.web import Ctx, NotFound, check_csrf, need, page
from kassa.errors import InputError, KassaError
from kassa.money import Amount

router = APIRouter(dependencies=[Depends(check_csrf)])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]
Admin = Annotated[Ctx, Depends(need(Role.ADMIN))]
FormText = Annotated[str, Form()]
batches_shown = 100


def _overview(ctx: Ctx) -> dict[str, Any]:
    with ctx.services.db.transaction(write=False) as tx:
        batches = tx.fetchall(
            "SELECT tid, batch, status, result, uploaded_count, settle_date, created_ms,"
            f" closed_ms FROM settlements ORDER BY created_ms DESC LIMIT {batches_shown}"
        )
        runs = tx.fetchall(
            "SELECT r.settle_day, r.status, r.started_ms, r.finished_ms, COUNT(m.mid),"
            " COALESCE(SUM(m.fee_fen), 0), COALESCE(SUM(m.payout_fen), 0)"
            " FROM settlement_runs r LEFT JOIN merchant_settlements m"
            " ON m.settle_day = r.settle_day GROUP BY r.settle_day, r.status, r.started_ms,"
            " r.finished_ms ORDER BY r.settle_day DESC"
        )
    default_day = Cutoff().last_closed_day(ctx.now_ms()).isoformat()
    return {"batches": batches, "runs": runs, "default_day": default_day}


@router.get("/settlement", response_class=HTMLResponse)
def settlement_page(ctx: Viewer) -> Response:
    return page(ctx, "settlement.html", **_overview(ctx))


def _parse_day(text: str) -> date:
    try:
        if len(text.strip()) != 10:
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"day {text!r} is not YYYY-MM-DD; give e.g. 2026-11-18") from None


@router.post("/settlement/run", response_class=HTMLResponse)
def settlement_run(
    ctx: Admin,
    day: FormText = "",
    cutoff: FormText = "23:00",
    refund_fees: FormText = "kept",
    backup: FormText = "",
) -> Response:
    try:
        settle_day = _parse_day(day)
        cut = Cutoff.parse(cutoff)
        if refund_fees not in RefundFees.__members__:
            raise InputError(f"refund fees {refund_fees!r}: kept or returned")
        backup_id, remote_error = (
            take_backup(ctx.services, "before settlement") if backup else ("-", None)
        )
        result = run_day(
            ctx.services.db, settle_day, ctx.now_ms(), cut, refund_fees=RefundFees(refund_fees)
        )
    except KassaError as exc:
        ctx.audit("settle.run_refused", f"day {day[:10]}", {"refused": str(exc)})
        return page(ctx, "settlement.html", 400, error=str(exc), **_overview(ctx))
    ctx.audit(
        "settle.run",
        f"day {result.settle_day}",
        {
            "status": result.status,
            "merchants": len(result.merchants),
            "payout": Amount(result.total("payout_fen")).yuan(),
            "backup": backup_id,
            "backup_remote_error": remote_error,
        },
    )
    ctx.session.notice = f"{result.settle_day}: {result.status}"
    return RedirectResponse(f"/settlement/{result.settle_day}", status_code=303)


def _day(ctx: Ctx, day: str) -> DayResult:
    try:
        key = _parse_day(day).isoformat()
    except InputError:
        raise NotFound(f"settlement day {day[:20]}") from None
    with ctx.services.db.transaction(write=False) as tx:
        found = load_day(tx, key)
    if found is None:
        raise NotFound(f"settlement day {key}")
    return found


@router.get("/settlement/{day}", response_class=HTMLResponse)
def settlement_day(ctx: Viewer, day: str) -> Response:
    result = _day(ctx, day)
    totals = {
        name: result.total(name)
        for name in (
            "count",
            "gross_fen",
            "refunds_fen",
            "adjust_fen",
            "fee_fen",
            "net_fen",
            "payout_fen",
        )
    }
    return page(ctx, "settlement_day.html", day=result, totals=totals)


def _download(ctx: Ctx, day: str, name: str, data: bytes, media: str) -> Response:
    ctx.audit("report.download", f"day {day}", {"file": name})
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/settlement/{day}/report.csv")
def report_csv(ctx: Viewer, day: str, mid: str = "") -> Response:
    result = _day(ctx, day)
    if not mid:
        return _download(
            ctx,
            result.settle_day,
            f"settlement-{result.settle_day}.csv",
            acquirer_csv(result),
            "text/csv; charset=utf-8",
        )
    with ctx.services.db.transaction(write=False) as tx:
        details = load_details(tx, result.settle_day, mid)
    try:
        data = merchant_csv(result, mid, details)
    except InputError:
        raise NotFound(f"merchant {mid[:15]} on {result.settle_day}") from None
    return _download(
        ctx,
        result.settle_day,
        f"settlement-{result.settle_day}-{mid}.csv",
        data,
        "text/csv; charset=utf-8",
    )


@router.get("/settlement/{day}/report.html")
def report_page(ctx: Viewer, day: str, mid: str = "") -> Response:
    result = _day(ctx, day)
    with ctx.services.db.transaction(write=False) as tx:
        details = load_details(tx, result.settle_day, mid or None)
    try:
        html = report_html(result, mid or None, details)
    except InputError:
        raise NotFound(f"merchant {mid[:15]} on {result.settle_day}") from None
    suffix = f"-{mid}" if mid else ""
    return _download(
        ctx,
        result.settle_day,
        f"settlement-{result.settle_day}{suffix}.html",
        html.encode("utf-8"),
        "text/html; charset=utf-8",
    )


@router.get("/settlement/{day}/payout.csv")
def payout(ctx: Admin, day: str) -> Response:
    result = _day(ctx, day)
    try:
        data = payout_file(result)
    except InputError as exc:
        return page(ctx, "settlement_day.html", 409, day=result, totals={}, error=str(exc))
    return _download(
        ctx, result.settle_day, f"payout-{result.settle_day}.csv", data, "text/csv; charset=utf-8"
    )
