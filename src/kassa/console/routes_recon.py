"""Reconciliation: runs, differences, and corrections (补登) with four eyes.

The console adds no rules of its own: `kassa.backoffice.corrections` decides. The maker is
the logged-in user, confirming with their password (and one-time code when enrolled);
the checker, another supervisor or admin, confirms with password and a fresh one-time
code. Running a reconciliation against an uploaded bank statement is an operator's job.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.auth import Role
from kassa.backoffice import corrections as corr
from kassa.backoffice.recon import ReconSources, ensure_schema, run_recon
from kassa.backoffice.recon_schema import list_differences, list_runs, load_difference
from kassa.console.web import Ctx, NotFound, check_csrf, need, page
from kassa.errors import InputError, KassaError
from kassa.money import Amount

router = APIRouter(dependencies=[Depends(check_csrf)])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]
Operator = Annotated[Ctx, Depends(need(Role.OPERATOR))]
Supervisor = Annotated[Ctx, Depends(need(Role.SUPERVISOR))]
FormText = Annotated[str, Form()]
STATUSES = ("open", "corrected", "accepted", "resolved")
ACCOUNT_KINDS = ("card", "merchant", "suspense", "fee_income")
statement_size_max_bytes = 20 * 1024 * 1024
runs_shown = 20


def _overview(ctx: Ctx, status: str) -> dict[str, Any]:
    status = status if status in (*STATUSES, "all") else "open"
    ensure_schema(ctx.services.db)
    with ctx.services.db.transaction(write=False) as tx:
        runs = list_runs(tx)[-runs_shown:][::-1]
        diffs = list_differences(tx, None, None if status == "all" else status)[::-1]
        pending = [c for c in corr.list_corrections(tx) if c.status == "pending"]
    return {
        "runs": runs,
        "diffs": diffs,
        "status": status,
        "statuses": STATUSES,
        "pending": pending,
    }


@router.get("/recon", response_class=HTMLResponse)
def recon_page(ctx: Viewer, status: str = "open") -> Response:
    return page(ctx, "recon.html", **_overview(ctx, status))


@router.post("/recon/run", response_class=HTMLResponse)
def recon_run(ctx: Operator, statement: UploadFile) -> Response:
    data = statement.file.read(statement_size_max_bytes + 1)
    try:
        if not data or len(data) > statement_size_max_bytes:
            raise InputError("the bank statement must be a CSV file of at most 20 MiB")
        with tempfile.TemporaryDirectory() as scratch:
            name = Path(statement.filename or "statement.csv").name or "statement.csv"
            path = Path(scratch) / name
            path.write_bytes(data)
            summary = run_recon(
                ctx.services.db,
                ReconSources(external=path),
                ctx.now_ms(),
                ctx.user,
                ctx.services.audit,
                ctx.role.value,
            )
    except KassaError as exc:
        return page(ctx, "recon.html", 400, error=str(exc), **_overview(ctx, "open"))
    ctx.session.notice = (
        f"{ctx.t('recon.run')} {summary.run_id}: {ctx.t('recon.matched')}"
        f" {summary.matched}, {ctx.t('recon.mismatched')} {summary.mismatched}"
    )
    return RedirectResponse("/recon", status_code=303)


def _diff_page(ctx: Ctx, diff_id: int, status: int = 200, error: str | None = None) -> Response:
    ensure_schema(ctx.services.db)
    with ctx.services.db.transaction(write=False) as tx:
        found = load_difference(tx, diff_id)
        if found is None:
            raise NotFound(f"difference {diff_id}")
        fixes = corr.list_corrections(tx, diff_id)
    return page(
        ctx, "recon_diff.html", status, d=found, fixes=fixes, kinds=ACCOUNT_KINDS, error=error
    )


@router.get("/recon/diff/{diff_id}", response_class=HTMLResponse)
def diff_page(ctx: Viewer, diff_id: int) -> Response:
    return _diff_page(ctx, diff_id)


@router.post("/recon/diff/{diff_id}/correct", response_class=HTMLResponse)
def correct(
    ctx: Operator,
    diff_id: int,
    reason: FormText = "",
    mode: FormText = "auto",
    amount: FormText = "",
    account_from: FormText = "",
    account_to: FormText = "",
    note: FormText = "",
    password: FormText = "",
    code: FormText = "",
) -> Response:
    try:
        fen = Amount.parse(amount).fen if mode == "manual" else None
        made = corr.propose(
            ctx.services.db,
            ctx.services.store,
            diff_id,
            ctx.user,
            password,
            code.strip() or None,
            reason,
            ctx.now_ms(),
            ctx.services.audit,
            auto=mode != "manual",
            amount_fen=fen,
            kind_from=account_from or None,
            kind_to=account_to or None,
            note=note.strip()[:1000],
        )
    except KassaError as exc:
        return _diff_page(ctx, diff_id, 400, str(exc))
    ctx.session.notice = f"{ctx.t('recon.correction')} {made.id}: {ctx.t('recon.waiting')}"
    return RedirectResponse(f"/recon/diff/{diff_id}", status_code=303)


def _checked(ctx: Ctx, correction_id: int) -> int:
    with ctx.services.db.transaction(write=False) as tx:
        found = corr.list_corrections(tx, correction_id=correction_id)
    if not found:
        raise NotFound(f"correction {correction_id}")
    return found[0].diff_id


def _review(ctx: Ctx, correction_id: int, decide: Callable[[], object], done: str) -> Response:
    """Run a checker's decision on a correction; the form again with the reason if refused."""
    diff_id = _checked(ctx, correction_id)
    try:
        decide()
    except KassaError as exc:
        return _diff_page(ctx, diff_id, 400, str(exc))
    ctx.session.notice = f"{ctx.t('recon.correction')} {correction_id}: {ctx.t(done)}"
    return RedirectResponse(f"/recon/diff/{diff_id}", status_code=303)


@router.post("/recon/correction/{correction_id}/approve", response_class=HTMLResponse)
def approve(
    ctx: Supervisor, correction_id: int, password: FormText = "", code: FormText = ""
) -> Response:
    s = ctx.services
    return _review(ctx, correction_id, lambda: corr.approve(
        s.db, s.store, correction_id, ctx.user, password, code.strip(), ctx.now_ms(), s.audit,
    ), "recon.approved")  # fmt: skip


@router.post("/recon/correction/{correction_id}/reject", response_class=HTMLResponse)
def reject(
    ctx: Supervisor,
    correction_id: int,
    reason: FormText = "",
    password: FormText = "",
    code: FormText = "",
) -> Response:
    s = ctx.services

    def decide() -> object:
        if not reason.strip():
            raise InputError("say why the correction is rejected")
        return corr.reject(s.db, s.store, correction_id, ctx.user, password, code.strip(),
                           reason.strip(), ctx.now_ms(), s.audit)  # fmt: skip

    return _review(ctx, correction_id, decide, "recon.rejected")


@router.post("/recon/diff/{diff_id}/accept", response_class=HTMLResponse)
def accept(
    ctx: Supervisor,
    diff_id: int,
    reason: FormText = "",
    password: FormText = "",
    code: FormText = "",
) -> Response:
    try:
        corr.accept(
            ctx.services.db,
            ctx.services.store,
            diff_id,
            ctx.user,
            password,
            code.strip(),
            reason,
            ctx.now_ms(),
            ctx.services.audit,
        )
    except KassaError as exc:
        return _diff_page(ctx, diff_id, 400, str(exc))
    ctx.session.notice = f"{ctx.t('recon.difference')} {diff_id}: {ctx.t('recon.accepted')}"
    return RedirectResponse(f"/recon/diff/{diff_id}", status_code=303)
