"""Versioned schema migrations, one list per component (``host``, ``terminal``, ...).

A component declares its migrations as a tuple, oldest first, numbered 1, 2, 3, ...::

    HOST_MIGRATIONS = (
        Migration(1, "initial", "CREATE TABLE merchant (id {pk}, mid TEXT NOT NULL UNIQUE)"),
        Migration(2, "fees", {"sqlite": "...", "postgresql": "..."}),
    )

and calls ``migrate(db, "host", HOST_MIGRATIONS)`` at start-up. Missing migrations are
applied in order, each in its own transaction together with its row in
``schema_migrations(component, version, name, applied_ms)``, so a crash leaves the
schema at a whole version. SQL may hold several statements and the ``{pk}``, ``{blob}``,
``{bigint}`` tokens (see `expand_sql`), but no transaction control (BEGIN, COMMIT) and
nothing PostgreSQL refuses inside a transaction (CREATE INDEX CONCURRENTLY). A migration is never edited once released: add a
new one instead (the name recorded for each version is checked against the code).

Concurrent start-ups are safe: SQLite's write lock, or a PostgreSQL advisory lock, lets
one process migrate while the other waits and then finds nothing left to do.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import NamedTuple

from kassa.errors import StoreError
from kassa.store._sql import expand_sql
from kassa.store._tx import Transaction
from kassa.store.db import Database
from kassa.store.url import Dialect

_DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgresql")
# Any fixed 64-bit number; it names "the Kassa migration lock" among advisory locks.
_PG_MIGRATION_LOCK_KEY = 0x4B41_5353_4D49_47  # "KASSMIG"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_ms {bigint} NOT NULL,
    PRIMARY KEY (component, version)
)
"""


class Migration(NamedTuple):
    """One schema step: `sql` is one text for both dialects, or one per dialect."""

    version: int
    name: str
    sql: str | Mapping[Dialect, str]

    def sql_for(self, dialect: Dialect) -> str:
        """The SQL of this step for `dialect`, tokens expanded."""
        text = self.sql if isinstance(self.sql, str) else self.sql[dialect]
        return expand_sql(text, dialect)


def migrate(
    db: Database,
    component: str,
    migrations: Sequence[Migration | tuple[int, str, str | Mapping[Dialect, str]]],
    *,
    now_ms: int | None = None,
) -> tuple[int, ...]:
    """Bring `component`'s schema in `db` up to the last of `migrations`.

    Returns the versions applied by this call (empty when already up to date). Raises
    `StoreError` when the database is newer than `migrations` or disagrees with them,
    and ValueError when `migrations` themselves are malformed (a bug).
    """
    steps = _checked(component, migrations)
    current = db.run_in_transaction(lambda tx: _state(tx, component, steps))
    applied: list[int] = []
    for step in steps[current:]:
        stamp = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        if db.run_in_transaction(
            partial(_apply, component=component, steps=steps, step=step, now_ms=stamp)
        ):
            applied.append(step.version)
    return tuple(applied)


def schema_version(db: Database, component: str) -> int:
    """The highest migration version of `component` applied to `db`; 0 for none."""
    with db.transaction() as tx:
        _prepare(tx)
        row = tx.fetchone(
            "SELECT MAX(version) FROM schema_migrations WHERE component = ?", (component,)
        )
    return int(row[0]) if row and row[0] is not None else 0


def _apply(
    tx: Transaction, *, component: str, steps: Sequence[Migration], step: Migration, now_ms: int
) -> bool:
    if _state(tx, component, steps) >= step.version:
        return False  # applied by us earlier or by another process meanwhile
    tx.executescript(step.sql_for(tx.dialect))
    tx.execute(
        "INSERT INTO schema_migrations (component, version, name, applied_ms) VALUES (?, ?, ?, ?)",
        (component, step.version, step.name, now_ms),
    )
    return True


def _prepare(tx: Transaction) -> None:
    if tx.dialect == "postgresql":  # SQLite's BEGIN IMMEDIATE already serialises writers
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_PG_MIGRATION_LOCK_KEY,))
    tx.executescript(expand_sql(_CREATE_TABLE, tx.dialect))


def _state(tx: Transaction, component: str, steps: Sequence[Migration]) -> int:
    """The current version after checking the recorded history against `steps`."""
    _prepare(tx)
    recorded = tx.fetchall(
        "SELECT version, name FROM schema_migrations WHERE component = ? ORDER BY version",
        (component,),
    )
    current = recorded[-1][0] if recorded else 0
    if current > len(steps):
        raise StoreError(
            f"{component} database schema is version {current}, this kassa knows up to "
            f"{len(steps)}: upgrade kassa"
        )
    for position, (version, name) in enumerate(recorded, start=1):
        if version != position or name != steps[version - 1].name:
            known = steps[position - 1]
            raise StoreError(
                f"{component} database has migration {version} {name!r} where this kassa "
                f"has {known.version} {known.name!r}: wrong database, or a released "
                "migration was edited; restore the matching kassa version"
            )
    return int(current)


def _checked(
    component: str,
    migrations: Sequence[Migration | tuple[int, str, str | Mapping[Dialect, str]]],
) -> tuple[Migration, ...]:
    steps = tuple(Migration(*m) for m in migrations)
    if not component or not component.isidentifier():
        raise ValueError(f"component {component!r} must be a plain name such as 'host'")
    for position, step in enumerate(steps, start=1):
        if step.version != position:
            raise ValueError(
                f"{component} migration {step.name!r} has version {step.version}, "
                f"expected {position}: versions run 1, 2, 3, ... without gaps"
            )
        if not step.name:
            raise ValueError(f"{component} migration {step.version} has no name")
        if not isinstance(step.sql, str) and set(step.sql) != set(_DIALECTS):
            raise ValueError(
                f"{component} migration {step.version} must give SQL for exactly "
                f"{' and '.join(_DIALECTS)}"
            )
    return steps
