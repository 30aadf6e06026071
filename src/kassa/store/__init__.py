"""Storage shell: one interface over SQLite and PostgreSQL, with versioned migrations.

    db = connect("sqlite:///kassa.db")          # or postgresql://user@host/db
    migrate(db, "host", HOST_MIGRATIONS)
    with db.transaction() as tx:
        tx.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, b"\\x00"))

Conventions (``?`` placeholders, tuples, integer UTC milliseconds, bytes, 64-bit integers)
and the threading model are in `kassa.store.db`.
"""

from __future__ import annotations

from kassa.store._errors import ConstraintError, TransientError
from kassa.store._sql import expand_sql
from kassa.store._tx import Cursor, Params, Row, Transaction
from kassa.store.db import Database, Isolation, connect
from kassa.store.migrate import Migration, migrate, schema_version
from kassa.store.url import DbUrl, Dialect, mask_url, parse_db_url

__all__ = [
    "ConstraintError",
    "Cursor",
    "Database",
    "DbUrl",
    "Dialect",
    "Isolation",
    "Migration",
    "Params",
    "Row",
    "Transaction",
    "TransientError",
    "connect",
    "expand_sql",
    "mask_url",
    "migrate",
    "parse_db_url",
    "schema_version",
]
