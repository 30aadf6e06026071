"""Operators in the database (I/O shell): read, decide with the pure core, write back.

    store = OperatorStore(db, seal=seal, open_sealed=open_sealed)   # migrates "auth"
    record, secret = store.add("01", Role.CASHIER, "739155", now_ms)
    result = store.login("01", "739155", None, now_ms)

`login` and `change_password` read, decide and write in one transaction; on PostgreSQL
the operator's row is locked (SELECT ... FOR UPDATE), on SQLite the write lock is held from
BEGIN, so concurrent attempts are counted one after the other and none is lost. The lock
is held during the hash verification (tens of milliseconds with the default cost).
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kassa.auth._change import (
    decide_change_password,
    new_operator,
    renew_totp,
    reset_password,
    unlock,
)
from kassa.auth._hashing import Rand
from kassa.auth._login import decide_login
from kassa.auth._record import AuthSettings, LoginResult, OperatorRecord, PasswordChangeResult
from kassa.auth._roles import Role
from kassa.auth._schema import COMPONENT, MIGRATIONS
from kassa.auth._totp import Open, Seal
from kassa.errors import InputError, StoreError
from kassa.store import Database, Transaction, migrate

__all__ = ["MIGRATIONS", "OperatorStore"]

_COLUMNS = (
    "operator_id, role, password_hash, password_set_ms, failed_count, locked_until_ms,"
    " totp_secret_sealed, active, last_totp_step, must_change, last_login_ms"
)


def _record(row: Any, history: builtins.list[str]) -> OperatorRecord:
    try:
        role = Role(row[1])
    except ValueError:
        raise StoreError(
            f"operator {row[0]!r} has unknown role {row[1]!r} in the database"
        ) from None
    sealed = row[6]
    return OperatorRecord(
        operator_id=row[0],
        role=role,
        password_hash=row[2],
        password_set_ms=row[3],
        failed_count=row[4],
        locked_until_ms=row[5],
        totp_secret_sealed=bytes(sealed) if sealed is not None else None,
        history=tuple(history),
        active=bool(row[7]),
        last_totp_step=row[8],
        must_change=bool(row[9]),
        last_login_ms=row[10],
    )


def _values(record: OperatorRecord) -> tuple[Any, ...]:
    return (
        record.role.value,
        record.password_hash,
        record.password_set_ms,
        record.failed_count,
        record.locked_until_ms,
        record.totp_secret_sealed,
        int(record.active),
        record.last_totp_step,
        int(record.must_change),
        record.last_login_ms,
    )


def _read(tx: Transaction, operator_id: str, for_update: bool = False) -> OperatorRecord | None:
    lock = " FOR UPDATE" if for_update and tx.dialect == "postgresql" else ""
    row = tx.fetchone(
        f"SELECT {_COLUMNS} FROM operators WHERE operator_id = ?{lock}", (operator_id,)
    )
    if row is None:
        return None
    history = tx.fetchall(
        "SELECT password_hash FROM password_history WHERE operator_id = ? ORDER BY position",
        (operator_id,),
    )
    return _record(row, [h[0] for h in history])


def _write_history(tx: Transaction, record: OperatorRecord) -> None:
    tx.execute("DELETE FROM password_history WHERE operator_id = ?", (record.operator_id,))
    tx.executemany(
        "INSERT INTO password_history (operator_id, position, password_hash) VALUES (?, ?, ?)",
        [(record.operator_id, position, h) for position, h in enumerate(record.history)],
    )


def _insert(tx: Transaction, record: OperatorRecord, now_ms: int) -> None:
    tx.execute(
        f"INSERT INTO operators ({_COLUMNS}, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.operator_id, *_values(record), now_ms),
    )
    _write_history(tx, record)


def _update(tx: Transaction, record: OperatorRecord, before: OperatorRecord | None) -> None:
    cursor = tx.execute(
        "UPDATE operators SET role = ?, password_hash = ?, password_set_ms = ?,"
        " failed_count = ?, locked_until_ms = ?, totp_secret_sealed = ?, active = ?,"
        " last_totp_step = ?, must_change = ?, last_login_ms = ? WHERE operator_id = ?",
        (*_values(record), record.operator_id),
    )
    if cursor.rowcount != 1:
        raise InputError(f"no operator {record.operator_id!r}: add it first")
    if before is None or before.history != record.history:
        _write_history(tx, record)


class OperatorStore:
    """Operators and their credentials in `db` (component "auth", migrated on creation).

    `seal` / `open_sealed` protect TOTP secrets (see `vault_sealer`); without them,
    operators with one-time codes can be neither added nor logged in (ConfigError).
    `rand` salts hashes and draws TOTP secrets (the OS's CSPRNG unless a test passes one).
    """

    def __init__(
        self,
        db: Database,
        *,
        settings: AuthSettings | None = None,
        seal: Seal | None = None,
        open_sealed: Open | None = None,
        rand: Rand = os.urandom,
    ) -> None:
        self.db = db
        self.settings = settings if settings is not None else AuthSettings()
        self._seal = seal
        self._open = open_sealed
        self._rand = rand
        migrate(db, COMPONENT, MIGRATIONS)

    def add(
        self,
        operator_id: str,
        role: Role,
        password: str,
        now_ms: int,
        totp: bool | None = None,
        *,
        temporary: bool = True,
    ) -> tuple[OperatorRecord, str | None]:
        """Create an operator; returns the record and the TOTP secret to enrol (once) or None.

        Raises `PasswordRejected` for a weak password, InputError for a taken id.
        """
        record, secret = new_operator(
            operator_id, role, password, now_ms, self.settings, self._rand,
            totp=totp, seal=self._seal, temporary=temporary,
        )  # fmt: skip
        with self.db.transaction() as tx:
            if _read(tx, operator_id) is not None:
                raise InputError(f"operator {operator_id!r} already exists: choose another id")
            _insert(tx, record, now_ms)
        return record, secret

    def get(self, operator_id: str) -> OperatorRecord | None:
        """The operator's record, or None."""
        with self.db.transaction(write=False) as tx:
            return _read(tx, operator_id)

    def save(self, record: OperatorRecord) -> None:
        """Write `record` over the stored one (InputError if there is none)."""
        with self.db.transaction() as tx:
            _update(tx, record, None)

    def list(self, role: Role | None = None) -> builtins.list[OperatorRecord]:
        """Every operator (of `role`, if given), by id."""
        where, params = (" WHERE role = ?", (role.value,)) if role else ("", ())
        with self.db.transaction(write=False) as tx:
            ids = tx.fetchall(
                f"SELECT operator_id FROM operators{where} ORDER BY operator_id", params
            )
            found = [_read(tx, row[0]) for row in ids]
        return [record for record in found if record is not None]

    def login(
        self, operator_id: str, password: str, totp_code: str | None, now_ms: int
    ) -> LoginResult:
        """Decide and record one login attempt (see `kassa.auth.decide_login`)."""
        with self.db.transaction() as tx:
            record = _read(tx, operator_id, for_update=True)
            result = decide_login(
                record, password, totp_code, now_ms, self.settings, self._rand, self._open
            )
            if result.updated_record is not None:
                _update(tx, result.updated_record, record)
        return result

    def change_password(
        self, operator_id: str, old_password: str, new_password: str, now_ms: int
    ) -> PasswordChangeResult:
        """Decide and record an operator's change of their own password."""
        with self.db.transaction() as tx:
            record = _read(tx, operator_id, for_update=True)
            result = decide_change_password(
                record, old_password, new_password, now_ms, self.settings, self._rand
            )
            if result.updated_record is not None:
                _update(tx, result.updated_record, record)
        return result

    def _modify(
        self, operator_id: str, change: Callable[[OperatorRecord], OperatorRecord]
    ) -> OperatorRecord:
        with self.db.transaction() as tx:
            record = _read(tx, operator_id, for_update=True)
            if record is None:
                raise InputError(f"no operator {operator_id!r}: check the operator id")
            updated = change(record)
            _update(tx, updated, record)
        return updated

    def set_active(self, operator_id: str, active: bool) -> OperatorRecord:
        """Enable or disable an operator (a disabled one cannot log in)."""
        return self._modify(operator_id, lambda r: replace(r, active=active))

    def unlock(self, operator_id: str) -> OperatorRecord:
        """Lift a lockout (a supervisor's action) and restart the failure count."""
        return self._modify(operator_id, unlock)

    def reset_password(self, operator_id: str, new_password: str, now_ms: int) -> OperatorRecord:
        """An administrator sets a temporary password, to be changed at first login."""
        return self._modify(
            operator_id,
            lambda r: reset_password(r, new_password, now_ms, self.settings, self._rand),
        )

    def renew_totp(self, operator_id: str) -> str:
        """A new TOTP secret for the operator (a lost phone); returns it to enrol, once."""
        secrets: builtins.list[str] = []

        def change(record: OperatorRecord) -> OperatorRecord:
            updated, secret = renew_totp(record, self._rand, self._seal)
            secrets.append(secret)
            return updated

        self._modify(operator_id, change)
        return secrets[0]
