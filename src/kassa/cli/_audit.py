"""Audit records for operations run from the command line (backup, restore, retention,
updates): written to the host's audit log when this home has a host database, else to
the terminal's, chained under that side's key. Never fails the operation it records."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kassa.audit import AuditLog, ChainKey
from kassa.clock import SYSTEM
from kassa.home import kassa_home
from kassa.keyfile import load_or_create_key
from kassa.store import connect

log = logging.getLogger("kassa.audit")


def record(home: Path | None, action: str, target: str, detail: dict[str, Any]) -> None:
    base = kassa_home(home)
    actor = os.environ.get("USER") or os.environ.get("LOGNAME") or "operator"
    host_db = base / "host" / "host.db"
    journal = base / "terminal" / "journal.db"
    try:
        if host_db.is_file():
            key = load_or_create_key(base / "host" / "master.key", "KASSA_HOST_MASTER_KEY")
            db_path, source = host_db, "host"
        elif journal.is_file():
            key = load_or_create_key(base / "terminal" / "device.key", "KASSA_DEVICE_KEY")
            db_path, source = journal, "terminal"
        else:
            return
        db = connect(f"sqlite:///{db_path}")
        try:
            AuditLog(db, source, ChainKey.from_master(key)).record(
                actor, "admin", action, target, detail, SYSTEM.now_ms()
            )
        finally:
            db.close()
    except Exception:  # the audit write must not undo a backup or a restore that happened
        log.exception("could not audit %s", action)
