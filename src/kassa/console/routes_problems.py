"""Problem records (问题记录): open, follow up, close, and export the evidence pack."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.auth import Role
from kassa.backoffice.evidence import export_pack
from kassa.backoffice.problems import list_problems, load_problem, open_problem, update_problem
from kassa.backoffice.recon import ensure_schema
from kassa.console.web import Ctx, NotFound, check_csrf, need, page
from kassa.errors import InputError, KassaError

router = APIRouter(dependencies=[Depends(check_csrf)])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]
Operator = Annotated[Ctx, Depends(need(Role.OPERATOR))]
FormText = Annotated[str, Form()]


def _overview(ctx: Ctx, status: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    status = status if status in ("open", "closed", "all") else "open"
    ensure_schema(ctx.services.db)
    with ctx.services.db.transaction(write=False) as tx:
        found = list_problems(tx, None if status == "all" else status)[::-1]
    return {"problems": found, "status": status, "form": form or {}}


@router.get("/problems", response_class=HTMLResponse)
def problems_page(
    ctx: Viewer, status: str = "open", rrn: str = "", diff: str = "", code: str = ""
) -> Response:
    return page(
        ctx, "problems.html", **_overview(ctx, status, {"rrn": rrn, "diff": diff, "code": code})
    )


def _diff_id(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise InputError(f"difference {text!r}: give its number")
    return int(text.strip())


@router.post("/problems", response_class=HTMLResponse)
def open_record(
    ctx: Operator, note: FormText = "", rrn: FormText = "", diff: FormText = "", code: FormText = ""
) -> Response:
    form = {"rrn": rrn, "diff": diff, "code": code, "note": note}
    try:
        ensure_schema(ctx.services.db)
        if not note.strip():
            raise InputError("say what was reported (the note)")
        made = open_problem(
            ctx.services.db,
            ctx.user,
            ctx.now_ms(),
            rrn=rrn.strip() or None,
            diff_id=_diff_id(diff),
            code=code.strip() or None,
            note=note.strip()[:2000],
            audit=ctx.services.audit,
        )
    except KassaError as exc:
        return page(ctx, "problems.html", 400, error=str(exc), **_overview(ctx, "open", form))
    return RedirectResponse(f"/problems/{made.id}", status_code=303)


def _problem_page(
    ctx: Ctx, problem_id: int, status: int = 200, error: str | None = None
) -> Response:
    ensure_schema(ctx.services.db)
    with ctx.services.db.transaction(write=False) as tx:
        try:
            found = load_problem(tx, problem_id)
        except InputError:
            raise NotFound(f"problem {problem_id}") from None
    return page(ctx, "problem.html", status, p=found, error=error)


@router.get("/problems/{problem_id}", response_class=HTMLResponse)
def problem_page(ctx: Viewer, problem_id: int) -> Response:
    return _problem_page(ctx, problem_id)


@router.post("/problems/{problem_id}", response_class=HTMLResponse)
def update(
    ctx: Operator,
    problem_id: int,
    check: FormText = "",
    resolution: FormText = "",
    outcome: FormText = "",
    close: FormText = "",
) -> Response:
    try:
        update_problem(
            ctx.services.db,
            problem_id,
            ctx.user,
            ctx.now_ms(),
            check=check.strip() or None,
            resolution=resolution.strip() or None,
            outcome=outcome.strip() or None,
            close=bool(close),
            audit=ctx.services.audit,
        )
    except KassaError as exc:
        return _problem_page(ctx, problem_id, 400, str(exc))
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)


@router.get("/problems/{problem_id}/evidence.zip")
def evidence(ctx: Operator, problem_id: int) -> Response:
    ensure_schema(ctx.services.db)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / f"problem-{problem_id}.zip"
            names = export_pack(ctx.services.db, problem_id, out, ctx.now_ms(), ctx.services.audit)
            data = out.read_bytes()
    except InputError as exc:
        return _problem_page(ctx, problem_id, 400, str(exc))
    ctx.audit("problem.export", f"problem {problem_id}", {"files": names})
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-problem-{problem_id}.zip"'
        },
    )
