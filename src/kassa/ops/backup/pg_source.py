"""PostgreSQL sources (shell): pg_dump, pg_restore, and test restores into a scratch database.

Every backup of a PostgreSQL database is a full ``pg_dump --format=custom``: one
consistent snapshot (pg_dump reads everything in one repeatable-read transaction) taken
while the host keeps working. We chose this over incrementals on purpose:

- a physical incremental (a base backup plus archived WAL, or PostgreSQL 17's
  ``pg_basebackup --incremental``) needs server settings (``archive_command``,
  ``summarize_wal``) that the operator's DBA owns, not Kassa;
- a logical diff by high-water marks is exact only for append-only tables, and several
  host tables are updated in place (``txns.status``, ``accounts``, ``counters``,
  ``terminals``), as are other components' tables we do not own; getting one row
  wrong in a restored payment database is worse than a bigger backup.

So a ``--incremental`` run stores the PostgreSQL source as a full dump (noted in the
manifest), and incrementals stay exact for SQLite (page diffs). Passwords never go on a
command line: the URL is passed without its password and the password through
``PGPASSWORD`` in the child's environment only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from kassa.errors import ConfigError, StoreError
from kassa.store import mask_url

_TIMEOUT_S = 6 * 3600  # a dump or restore that takes longer than this is stuck


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL client program: $KASSA_PG_BIN, newest /usr/lib/postgresql, PATH."""
    override = os.environ.get("KASSA_PG_BIN")
    candidates = [Path(override) / name] if override else []
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    candidates += versions[::-1]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"{name} not found: install the PostgreSQL client or set KASSA_PG_BIN")
    return found


def split_password(dsn: str) -> tuple[str, str | None]:
    """(the URL without its password, the password or None)."""
    parts = urlsplit(dsn)
    password = None if parts.password is None else unquote(parts.password)
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{hostport}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    for key, value in query:
        if key == "password":
            password = value
    query = [(k, v) for k, v in query if k != "password"]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query))), password


def _env(password: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def _run(args: list[str], password: str | None, what: str) -> str:
    try:
        done = subprocess.run(
            args,
            env=_env(password),
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise StoreError(
            f"{what} failed: {mask_url(lines[0] if lines else 'exit ' + str(done.returncode))}"
        )
    return done.stdout


def dump(dsn: str, dest: Path) -> None:
    """``pg_dump --format=custom`` of the database at `dsn` into `dest` (uncompressed: zstd
    compresses it afterwards, once)."""
    url, password = split_password(dsn)
    _run(
        [
            pg_tool("pg_dump"),
            "--format=custom",
            "--compress=0",
            "--no-password",
            f"--file={dest}",
            f"--dbname={url}",
        ],
        password,
        f"pg_dump of {mask_url(dsn)}",
    )


def schema_versions(dsn: str) -> dict[str, int]:
    """Kassa schema version per component in the database (empty when none)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
                return {}
            rows = conn.execute(
                "SELECT component, MAX(version) FROM schema_migrations GROUP BY component"
            ).fetchall()
    except psycopg.Error as exc:
        raise StoreError(f"cannot read {mask_url(dsn)}: {str(exc).splitlines()[0]}") from None
    return {str(c): int(v) for c, v in rows}


def table_count(dsn: str) -> int:
    """How many tables the database's ``public`` schema holds."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
    except psycopg.Error as exc:
        raise StoreError(f"cannot read {mask_url(dsn)}: {str(exc).splitlines()[0]}") from None
    return int(row[0]) if row else 0


def restore_dump(archive: Path, dsn: str, clean: bool = True) -> None:
    """Load `archive` into the database at `dsn` in one transaction (all or nothing).

    With `clean`, the objects the archive holds are dropped first, so the tables come
    back exactly as dumped. Tables the archive does not know are left alone.
    """
    url, password = split_password(dsn)
    args = [
        pg_tool("pg_restore"),
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        "--no-password",
        f"--dbname={url}",
    ]
    if clean:
        args += ["--clean", "--if-exists"]
    _run([*args, str(archive)], password, f"pg_restore into {mask_url(dsn)}")


def scratch_restore(archive: Path, dsn: str) -> list[str]:
    """Restore `archive` into a scratch database on the server of `dsn`, then drop it.

    Returns the problems found (empty: it restored and every table reads).
    """
    scratch = f"kassa_verify_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(dsn)
    scratch_dsn = urlunsplit(parts._replace(path=f"/{scratch}"))
    try:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch))
            )
            try:
                restore_dump(archive, scratch_dsn, clean=False)
                return _read_every_table(scratch_dsn)
            finally:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )
    except psycopg.Error as exc:
        return [f"scratch database on {mask_url(dsn)}: {str(exc).splitlines()[0]}"]
    except StoreError as exc:
        return [str(exc)]


def _read_every_table(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for table in tables:
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    return [] if tables else ["the restored database holds no tables"]
