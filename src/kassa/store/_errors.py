"""Driver errors turned into Kassa's one-line `StoreError`s.

Only errors that say something about the database (unreachable, full, locked, corrupt,
a constraint refused the write, a conflict with another transaction) are translated.
Errors that mean our SQL is wrong (syntax, unknown table, wrong parameter count) are
bugs and propagate untouched so the traceback points at them.
"""

from __future__ import annotations

import sqlite3
import sys
from urllib.parse import parse_qs, urlsplit

from kassa.errors import StoreError
from kassa.store.url import DbUrl

# SQLite primary result codes (https://www.sqlite.org/rescode.html).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 11, 13, 14
_SQLITE_PROTOCOL, _SQLITE_CONSTRAINT, _SQLITE_AUTH, _SQLITE_NOTADB = 15, 19, 23, 26

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_PG_TRANSIENT = frozenset(
    {"40001", "40P01", "55P03"}
)  # serialization, deadlock, lock_not_available
_PG_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58", "XX"})  # connection, resources, ...


class TransientError(StoreError):
    """Another transaction got in the way (lock, serialization conflict, deadlock).

    The database rolled this transaction back; running it again may succeed, which is
    what `Database.run_in_transaction` does.
    """


class ConstraintError(StoreError):
    """A write broke a constraint (unique key, foreign key, check, not null)."""


def translate(exc: BaseException, url: DbUrl, opening: bool = False) -> StoreError | None:
    """The `StoreError` that `exc` means, or None if `exc` is not about the database.

    `opening` says the error came while connecting, which changes the wording.
    """
    if isinstance(exc, sqlite3.Error):
        return _translate_sqlite(exc, url, opening)
    psycopg = sys.modules.get("psycopg")  # imported only when a PostgreSQL URL is used
    if psycopg is not None and isinstance(exc, psycopg.Error):
        return _translate_psycopg(exc, url, opening)
    return None


def first_line(exc: BaseException, url: DbUrl) -> str:
    """The first line of the driver's message, with the URL's password scrubbed out."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else type(exc).__name__
    password = _password(url)
    return text.replace(password, "***") if password else text


def _translate_sqlite(exc: sqlite3.Error, url: DbUrl, opening: bool) -> StoreError | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary, reason, where = code & 0xFF, first_line(exc, url), url.display
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return TransientError(f"database at {where} is busy: {reason}; retry the transaction")
    if primary == _SQLITE_CONSTRAINT:
        return ConstraintError(f"database at {where} refused the write: {reason}")
    if primary == _SQLITE_FULL:
        return StoreError(f"database at {where} cannot grow: {reason}; free disk space")
    if primary in (_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_NOTADB, _SQLITE_PROTOCOL):
        return StoreError(
            f"database at {where} is unreadable: {reason}; check the disk and the path, "
            "or restore the last backup"
        )
    if primary in (_SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_READONLY, _SQLITE_AUTH) or opening:
        verb = "open" if opening or primary == _SQLITE_CANTOPEN else "write"
        return StoreError(
            f"cannot {verb} database at {where}: {reason}; check the path and permissions"
        )
    return None


def _translate_psycopg(exc: BaseException, url: DbUrl, opening: bool) -> StoreError | None:
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    reason, where = first_line(exc, url), url.display
    if sqlstate in _PG_TRANSIENT:
        return TransientError(f"database at {where}: {reason}; retry the transaction")
    if sqlstate is not None and sqlstate.startswith("23"):
        return ConstraintError(f"database at {where} refused the write: {reason}")
    psycopg = sys.modules["psycopg"]
    lost = sqlstate is None and isinstance(exc, psycopg.OperationalError)
    if opening or lost or (sqlstate is not None and sqlstate[:2] in _PG_UNAVAILABLE_CLASSES):
        verb = "cannot connect to" if opening else "lost or refused by"
        return StoreError(
            f"{verb} database at {where}: {reason}; "
            "check that PostgreSQL is running and the URL, user and permissions"
        )
    return None


def _password(url: DbUrl) -> str:
    if url.dsn is None:
        return ""
    parts = urlsplit(url.dsn)
    try:
        from_userinfo = parts.password or ""
    except ValueError:
        from_userinfo = ""
    from_query = parse_qs(parts.query).get("password", [""])[0]
    return from_userinfo or from_query
