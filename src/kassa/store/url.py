"""Database URLs: which database a Kassa process keeps its data in.

Two kinds are accepted, and nothing else::

    sqlite:///relative/path/host.db     a file relative to the working directory
    sqlite:////absolute/path/host.db    an absolute file (four slashes)
    host.db, ./data/host.db, /var/lib/kassa/host.db
                                        a plain path ending in .db, .sqlite or .sqlite3
    postgresql://user@host:port/db      PostgreSQL (also postgres:// and postgresql+psycopg://)

The SQLite form follows SQLAlchemy's convention: everything after ``sqlite:///`` (three
slashes) is the path, so a fourth slash makes it absolute. The path is taken literally:
no query string, no percent-decoding, and no in-memory database (``:memory:``), because
an in-memory store cannot keep the durability promise.

A PostgreSQL URL is handed to libpq as it is (libpq parses it; query parameters such as
``?host=/run/postgresql`` or ``sslmode=require`` work). Passwords are never shown: every
message and ``repr`` uses `mask_url`, which replaces the password with ``***``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from kassa.errors import ConfigError

Dialect = Literal["sqlite", "postgresql"]

_USAGE = "use sqlite:///path/file.db or postgresql://user@host/db"
_SQLITE_PREFIX = "sqlite:///"
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DbUrl:
    """A parsed database URL.

    `kind` is the dialect. For SQLite `path` is the database file (relative paths are
    relative to the working directory) and `dsn` is None; for PostgreSQL `dsn` is the
    libpq connection URI (it may hold a password, hence hidden from `repr`) and `path` is
    None. `display` is the masked form to put in messages and logs.
    """

    kind: Dialect
    path: Path | None = None
    dsn: str | None = field(default=None, repr=False)
    display: str = ""

    def __str__(self) -> str:
        return self.display


def mask_url(text: str) -> str:
    """`text` with any password (``user:pw@`` or ``?password=pw``) replaced by ``***``.

    Errs on the side of hiding: a password holding an unescaped ``/`` or ``@`` is still
    hidden, because everything from the first ``:`` of the user part to the last ``@`` goes.
    """
    head, sep, rest = text.partition("://")
    at = rest.rfind("@")
    if sep and at >= 0 and ":" in rest[:at]:
        user = rest[: rest.index(":")]
        text = f"{head}://{user}:***{rest[at:]}"
    return _QUERY_PASSWORD.sub(r"\1***", text)


def parse_db_url(text: str, source: str = "--db") -> DbUrl:
    """Parse a database URL or a plain ``.db`` path; `ConfigError` naming `source` if wrong."""
    raw = text.strip()
    match = _SCHEME.match(raw)
    scheme = match.group(1).lower() if match else ""
    if scheme == "sqlite":
        return _parse_sqlite_url(raw, source)
    if scheme in _PG_SCHEMES:
        return _parse_postgresql_url(raw, scheme, source)
    if not match and raw.lower().endswith(_SQLITE_SUFFIXES):
        return _sqlite(Path(raw), raw, source)
    raise ConfigError(f"{source} {mask_url(raw)!r}: unsupported database; {_USAGE}")


def _parse_sqlite_url(raw: str, source: str) -> DbUrl:
    if not raw.startswith(_SQLITE_PREFIX):
        raise ConfigError(
            f"{source} {mask_url(raw)!r}: a SQLite URL is sqlite:///relative/file.db "
            "or sqlite:////absolute/file.db (three or four slashes)"
        )
    rest = raw[len(_SQLITE_PREFIX) :]
    if "?" in rest or "#" in rest:
        raise ConfigError(
            f"{source} {mask_url(raw)!r}: SQLite URLs take no options; give only the path"
        )
    return _sqlite(Path(rest), raw, source)


def _sqlite(path: Path, raw: str, source: str) -> DbUrl:
    name = str(path)
    if name in ("", ".") or name.endswith("/") or raw.endswith("/"):
        raise ConfigError(f"{source} {raw!r}: no database file given; {_USAGE}")
    if ":memory:" in name or name.startswith("file:"):
        raise ConfigError(
            f"{source} {raw!r}: in-memory SQLite cannot keep transactions durably; "
            "give a file path such as sqlite:///kassa.db"
        )
    return DbUrl(kind="sqlite", path=path, display=raw)


def _parse_postgresql_url(raw: str, scheme: str, source: str) -> DbUrl:
    masked = mask_url(raw)
    try:
        parts = urlsplit(raw)
        # urllib raises ValueError for a non-numeric or out-of-range port; a libpq
        # multi-host list (h1:5432,h2:5433) is left for libpq to check.
        port = None if "," in parts.netloc else parts.port
    except ValueError as exc:
        raise ConfigError(f"{source} {masked!r}: bad PostgreSQL URL ({exc}); {_USAGE}") from None
    if port == 0:
        raise ConfigError(f"{source} {masked!r}: port 0 is not a port; {_USAGE}")
    if parts.fragment:
        raise ConfigError(f"{source} {masked!r}: a PostgreSQL URL has no #fragment; {_USAGE}")
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError(
            f"{source} {masked!r}: no host; give postgresql://user@host/db "
            "or postgresql:///db?host=/socket/dir"
        )
    dsn = "postgresql" + raw[len(scheme) :]  # libpq knows postgresql:// and postgres:// only
    return DbUrl(kind="postgresql", dsn=dsn, display=masked)
