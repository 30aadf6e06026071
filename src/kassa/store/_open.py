"""Opening a driver connection, set up the way Kassa needs it.

SQLite: write-ahead log, ``synchronous=FULL`` when durable (every commit is on disk when
COMMIT returns; NORMAL otherwise, which may lose the last commits on power loss but never
corrupts), foreign keys on, a busy timeout, and autocommit at the driver level so that
`Database` issues BEGIN IMMEDIATE / COMMIT itself. PostgreSQL: autocommit off, the
isolation level set per transaction by `Database`, ``synchronous_commit=off`` when not
durable.
"""

from __future__ import annotations

import math
import sqlite3
from typing import TYPE_CHECKING

from kassa.errors import StoreError
from kassa.store._errors import first_line, translate
from kassa.store.url import DbUrl

if TYPE_CHECKING:
    import psycopg

_WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024  # WAL file truncated back to this after checkpoints
_STATEMENT_CACHE_SIZE = 512
_LIBPQ_CONNECT_TIMEOUT_MIN_S = 2  # libpq treats anything lower as 2 s anyway


def open_sqlite(url: DbUrl, durable: bool, busy_timeout_ms: int) -> sqlite3.Connection:
    """A configured connection to the SQLite file of `url`; `StoreError` if it cannot be."""
    assert url.path is not None
    try:
        conn = sqlite3.connect(
            url.path,
            timeout=busy_timeout_ms / 1000,
            isolation_level=None,  # we send BEGIN/COMMIT ourselves
            check_same_thread=False,  # Database serialises use with its own lock
            cached_statements=_STATEMENT_CACHE_SIZE,
        )
    except sqlite3.Error as exc:
        raise _opening_error(exc, url) from exc
    try:
        _configure_sqlite(conn, url, durable, busy_timeout_ms)
    except sqlite3.Error as exc:
        conn.close()
        raise _opening_error(exc, url) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _configure_sqlite(
    conn: sqlite3.Connection, url: DbUrl, durable: bool, busy_timeout_ms: int
) -> None:
    mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
    if mode != "wal":
        # WAL needs shared memory and a local filesystem; without it we refuse rather
        # than silently run with weaker guarantees.
        raise StoreError(
            f"cannot open database at {url.display}: write-ahead logging unavailable "
            f"(journal mode {mode}); put the file on a local disk"
        )
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT_BYTES}")
    if durable:
        # Only macOS distinguishes fsync from F_FULLFSYNC; elsewhere these are no-ops.
        conn.execute("PRAGMA fullfsync=ON")
        conn.execute("PRAGMA checkpoint_fullfsync=ON")


def open_postgresql(url: DbUrl, durable: bool, connect_timeout_ms: int) -> psycopg.Connection:
    """A connection to the PostgreSQL server of `url`; `StoreError` if it cannot be made."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    assert url.dsn is not None
    options: dict[str, str | int] = {}
    if "connect_timeout" not in url.dsn:
        seconds = math.ceil(connect_timeout_ms / 1000)
        options["connect_timeout"] = max(_LIBPQ_CONNECT_TIMEOUT_MIN_S, seconds)
    if "application_name" not in url.dsn:
        options["application_name"] = "kassa"
    try:
        conn = psycopg.connect(make_conninfo(url.dsn, **options), autocommit=False)
    except psycopg.Error as exc:
        raise _opening_error(exc, url) from exc
    try:
        if not durable:
            conn.execute("SET synchronous_commit = off")
            conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn


def _opening_error(exc: Exception, url: DbUrl) -> StoreError:
    error = translate(exc, url, opening=True)
    if error is None:  # a driver error we do not classify: still a failure to open
        error = StoreError(f"cannot open database at {url.display}: {first_line(exc, url)}")
    return error
