"""Backups: the list with each one's last verification, verify one, take one (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kassa.auth import Role
from kassa.console.web import Ctx, Services, check_csrf, need, page
from kassa.errors import KassaError
from kassa.ops import backup as bk

router = APIRouter(dependencies=[Depends(check_csrf)])
Viewer = Annotated[Ctx, Depends(need(Role.VIEWER))]
Admin = Annotated[Ctx, Depends(need(Role.ADMIN))]
FormText = Annotated[str, Form()]


def _repository(services: Services) -> bk.Repository:
    return bk.Repository(services.home / "backups")


# As long as an automatic backup waits for its remote copy (the CLI's auto_remote_wait_s).
_REMOTE_WAIT_S = 120.0


def take_backup(services: Services, reason: str) -> tuple[str, str | None]:
    """A full backup of the console's database (and the home's logs), copied to the
    remote configured in backup.toml if any: its id, and why the copy failed (None: made,
    or no remote). A failed copy never fails the backup (`kassa backup retry-remote`)."""
    repo = _repository(services)
    targets = [bk.Target("db", services.db.url)]
    result = bk.run_backup(
        repo,
        bk.Secret.from_env(services.home),
        targets,
        kind="full",
        reason=reason,
        logs_dir=services.home / "logs",
        now_ms=services.clock.now_ms,
    )
    try:
        config, policy = bk.configured(services.home)
        if config is None:
            return result.manifest.id, None
        outcome = bk.attempt_within(repo, config, policy, result.manifest,
                                    services.clock.now_ms, _REMOTE_WAIT_S)  # fmt: skip
    except KassaError as exc:
        return result.manifest.id, str(exc)
    return result.manifest.id, None if outcome.ok else outcome.detail


def _listing(ctx: Ctx) -> dict[str, Any]:
    repo = _repository(ctx.services)
    rows = [(m, repo.verified(m.id)) for m in reversed(repo.manifests())]
    return {"rows": rows, "damaged": repo.damaged(), "root": str(repo.root)}


@router.get("/backups", response_class=HTMLResponse)
def backups_page(ctx: Viewer) -> Response:
    return page(ctx, "backups.html", report=None, **_listing(ctx))


@router.post("/backups/verify", response_class=HTMLResponse)
def verify(ctx: Admin, backup_id: FormText = "") -> Response:
    services = ctx.services
    dsn = services.db.url.dsn if services.db.dialect == "postgresql" else None
    try:
        report = bk.verify_backup(
            _repository(services),
            bk.Secret.from_env(services.home),
            backup_id.strip(),
            now_ms=ctx.now_ms(),
            pg_dsn=dsn,
        )
    except KassaError as exc:
        ctx.audit("backup.verify_refused", f"backup {backup_id[:40]}", {"refused": str(exc)})
        return page(ctx, "backups.html", 400, report=None, error=str(exc), **_listing(ctx))
    ctx.audit(
        "backup.verify",
        f"backup {report.backup_id}",
        {"ok": report.ok, "problem": report.problem or ""},
    )
    return page(ctx, "backups.html", report=report, **_listing(ctx))


@router.post("/backups/run", response_class=HTMLResponse)
def run(ctx: Admin) -> Response:
    try:
        backup_id, remote_error = take_backup(ctx.services, "console")
    except KassaError as exc:
        ctx.audit("backup.run_refused", "backup", {"refused": str(exc)})
        return page(ctx, "backups.html", 400, report=None, error=str(exc), **_listing(ctx))
    ctx.audit("backup.run", f"backup {backup_id}", {"kind": "full", "remote_error": remote_error})
    ctx.session.notice = f"backup {backup_id}" + (
        f"; remote copy failed: {remote_error} (kassa backup retry-remote)" if remote_error else ""
    )
    return RedirectResponse("/backups", status_code=303)
