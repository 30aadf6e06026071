"""The doctor at the host (shell): database reachable, schema current, ledger proof,
terminals last seen, master key present, disk. Reads only: nothing is migrated or created."""

from __future__ import annotations

import os
from pathlib import Path

from kassa.errors import StoreError
from kassa.host.check import check_host
from kassa.host.masterkey import ENV as MASTER_KEY_ENV
from kassa.host.schema import COMPONENT, MIGRATIONS
from kassa.ops.doctor import checks_local as local
from kassa.ops.doctor import probes
from kassa.ops.doctor.checks import Check
from kassa.store import Database, connect, parse_db_url


def examine_host(db_url: str, home: Path, now_ms: int) -> list[Check]:
    """Every host check against `db_url`; `home` holds the master key file."""
    url = parse_db_url(db_url)
    if url.path is not None and not url.path.is_file():
        return [local.host_db_check(url.display, "no such database file")]
    try:
        db = connect(url)
    except StoreError as exc:
        return [local.host_db_check(url.display, str(exc))]
    try:
        found = [local.host_db_check(url.display, None)]
        if url.path is not None:
            found.append(_integrity(db))
        found += _content(db, now_ms)
    except StoreError as exc:
        found.append(local.host_db_check(url.display, f"failed while reading: {exc}"))
    finally:
        db.close()
    found.append(master_key_check(home))
    where = url.path.parent if url.path is not None else home
    found.append(local.disk_check(str(where), *probes.disk(where)))
    return found


def _content(db: Database, now_ms: int) -> list[Check]:
    version = probes.schema_version(db, COMPONENT)
    schema = local.schema_check(COMPONENT, version, len(MIGRATIONS))
    if version == 0:
        return [schema]
    with db.transaction(write=False) as tx:
        report = check_host(tx)
        rows = tx.fetchall(
            "SELECT tid, status, signed_on, last_seen_ms FROM terminals ORDER BY tid"
        )
    terminals = [
        (str(r[0]), str(r[1]), int(r[2]), None if r[3] is None else int(r[3])) for r in rows
    ]
    return [
        schema,
        local.ledger_check(report.entries, report.accounts, report.problems),
        local.terminals_check(terminals, now_ms),
    ]


def _integrity(db: Database) -> Check:
    with db.transaction(write=False) as tx:
        said = [str(r[0]) for r in tx.fetchall("PRAGMA quick_check")]
    if said == ["ok"]:
        return Check("host database integrity", "ok", "SQLite quick_check: ok")
    return Check("host database integrity", "failure", "; ".join(said[:5]), "journal_corrupt")


def master_key_check(home: Path) -> Check:
    """Without the master key every sealed TMK, working key and PAN is unreadable."""
    name = "host master key"
    if os.environ.get(MASTER_KEY_ENV):
        return Check(name, "ok", f"from ${MASTER_KEY_ENV}")
    path = home / "host" / "master.key"
    try:
        size = path.stat().st_size
    except OSError:
        text = f"no {path} and no ${MASTER_KEY_ENV}: sealed keys and card data are unreadable"
        return Check(name, "failure", text, "keys_missing")
    if size == 0:
        return Check(name, "failure", f"{path} is empty", "keys_missing")
    return Check(name, "ok", f"{path} present (back it up apart from the database)")
