"""The merchant console: the back office in a browser (FastAPI, server-rendered pages).

    app = create_app(db, home)          # then serve it with uvicorn (`kassa console`)

Pages: dashboard, transactions, terminals, settlement, reconciliation, problem records,
risk, error guide, audit log, backups, users; a JSON API under ``/api``. Roles: viewer
reads; operator makes corrections and problem records; supervisor approves corrections
and releases or declines held transactions; admin manages users, settlement and backups.
"""

from __future__ import annotations

from kassa.console.app import create_app

__all__ = ["create_app"]
