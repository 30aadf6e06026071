"""The terminal journal (shell): SQLite with WAL and synchronous=FULL.

Every write here is committed to disk before the caller goes on: `open_txn` before the
request leaves the terminal, `settle_txn` before the cashier is told the outcome.
Secrets (TMK, working keys, pending requests and reversals) are sealed with the
device key; nothing sensitive is stored in the clear.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kassa.iso8583.keys import WorkingKeys
from kassa.store import Database, Transaction, connect, migrate
from kassa.terminal.config import TerminalConfig
from kassa.terminal.schema import COMPONENT, MIGRATIONS
from kassa.terminal.states import State
from kassa.vault import open_sealed, seal

_NONCE = 12
TXN_COLUMNS = (
    "id, batch, stan, txn_type, amount_fen, state, reversible, entry_mode, pan_masked,"
    " operator, reversal_reason, attempts, response_code, rrn, auth_code, host_date, orig_id,"
    " orig_batch, orig_stan, orig_rrn, orig_auth, offline, note, created_ms, updated_ms, tz"
)


@dataclass(frozen=True, slots=True)
class TxnRecord:
    """One journal row, without its sealed blobs."""

    id: int
    batch: str
    stan: str
    txn_type: str
    amount_fen: int | None
    state: State
    reversible: bool
    entry_mode: str | None
    pan_masked: str | None
    operator: str | None
    reversal_reason: str | None
    attempts: int
    response_code: str | None
    rrn: str | None
    auth_code: str | None
    host_date: str | None
    orig_id: int | None
    orig_batch: str | None
    orig_stan: str | None
    orig_rrn: str | None
    orig_auth: str | None
    offline: bool
    note: str | None
    created_ms: int
    updated_ms: int
    tz: str

    def to_json(self) -> dict[str, Any]:
        doc = {name: getattr(self, name) for name in self.__slots__}
        doc["state"] = self.state.value
        return doc


def _record(row: Any) -> TxnRecord:
    r = list(row)
    r[5], r[6], r[21] = State(r[5]), bool(r[6]), bool(r[21])
    return TxnRecord(*r)


class Journal:
    """The terminal's durable memory."""

    def __init__(self, db: Database, device_key: bytes) -> None:
        self.db = db
        self._key = device_key

    @classmethod
    def open(cls, path: str, device_key: bytes) -> Journal:
        db = connect(f"sqlite:///{path}", durable=True)
        migrate(db, COMPONENT, MIGRATIONS)
        return cls(db, device_key)

    def close(self) -> None:
        self.db.close()

    # -- sealing ----------------------------------------------------------------------

    def seal(self, data: bytes, label: str) -> bytes:
        return seal(self._key, data, label.encode(), os.urandom(_NONCE))

    def unseal(self, blob: bytes, label: str) -> bytes:
        return open_sealed(self._key, bytes(blob), label.encode())

    # -- settings -----------------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        with self.db.transaction(write=False) as tx:
            row = tx.fetchone("SELECT value FROM settings WHERE key = ?", (key,))
        return row[0] if row else default

    def put(self, **values: str | None) -> None:
        with self.db.transaction() as tx:
            self.put_in(tx, **values)

    @staticmethod
    def put_in(tx: Transaction, **values: str | None) -> None:
        for key, value in values.items():
            if value is None:
                tx.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    def config(self) -> TerminalConfig:
        text = self.get("config")
        return TerminalConfig.from_json(text) if text else TerminalConfig()

    @staticmethod
    def config_in(tx: Transaction) -> TerminalConfig:
        """The configuration, read inside an open transaction."""
        row = tx.fetchone("SELECT value FROM settings WHERE key = 'config'")
        return TerminalConfig.from_json(row[0]) if row else TerminalConfig()

    def save_config(self, config: TerminalConfig) -> None:
        self.put(config=config.check().to_json())

    def clock_offset_ms(self) -> int:
        """How far the host's clock is from ours, as adopted at the last sign-on."""
        return int(self.get("clock_offset_ms", "0") or 0)

    def tmk(self) -> bytes | None:
        blob = self.get("tmk")
        return self.unseal(bytes.fromhex(blob), "tmk") if blob else None

    def set_tmk(self, tmk: bytes) -> None:
        self.put(tmk=self.seal(tmk, "tmk").hex(), keys=None, signed_on="0")

    def keys(self) -> WorkingKeys | None:
        blob = self.get("keys")
        if not blob:
            return None
        doc = json.loads(self.unseal(bytes.fromhex(blob), "keys"))
        tdk = bytes.fromhex(doc["tdk"]) if doc["tdk"] else None
        return WorkingKeys(bytes.fromhex(doc["pik"]), bytes.fromhex(doc["mak"]), tdk)

    def keys_value(self, keys: WorkingKeys) -> str:
        doc = {
            "pik": keys.pik.hex(),
            "mak": keys.mak.hex(),
            "tdk": keys.tdk.hex() if keys.tdk else "",
        }
        return self.seal(json.dumps(doc).encode(), "keys").hex()

    # -- transactions -------------------------------------------------------------------

    def next_stan(self, tx: Transaction) -> str:
        row = tx.fetchone("SELECT value FROM settings WHERE key = 'stan'")
        stan = int(row[0]) % 999_999 + 1 if row else 1
        self.put_in(tx, stan=str(stan))
        return f"{stan:06d}"

    def insert_txn(self, tx: Transaction, values: dict[str, Any]) -> int:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        row = tx.fetchone(
            f"INSERT INTO txns ({cols}) VALUES ({marks}) RETURNING id", tuple(values.values())
        )
        assert row is not None
        return int(row[0])

    def update_txn(
        self, txn_id: int, now_ms: int, tx: Transaction | None = None, **values: Any
    ) -> None:
        values["updated_ms"] = now_ms
        sets = ", ".join(f"{k} = ?" for k in values)
        params = (*(v.value if isinstance(v, State) else v for v in values.values()), txn_id)
        if tx is not None:
            tx.execute(f"UPDATE txns SET {sets} WHERE id = ?", params)
            return
        with self.db.transaction() as own:
            own.execute(f"UPDATE txns SET {sets} WHERE id = ?", params)

    @staticmethod
    def count_attempt(tx: Transaction, txn_id: int, now_ms: int) -> None:
        """One more send of this row's request (or reversal), counted inside `tx`."""
        tx.execute(
            "UPDATE txns SET attempts = attempts + 1, updated_ms = ? WHERE id = ?",
            (now_ms, txn_id),
        )

    def txn(self, txn_id: int) -> TxnRecord | None:
        with self.db.transaction(write=False) as tx:
            row = tx.fetchone(f"SELECT {TXN_COLUMNS} FROM txns WHERE id = ?", (txn_id,))
        return _record(row) if row else None

    def txns(self, where: str = "1 = 1", params: tuple[Any, ...] = ()) -> list[TxnRecord]:
        with self.db.transaction(write=False) as tx:
            rows = tx.fetchall(f"SELECT {TXN_COLUMNS} FROM txns WHERE {where} ORDER BY id", params)
        return [_record(r) for r in rows]

    def in_states(self, *states: State) -> list[TxnRecord]:
        marks = ", ".join("?" for _ in states)
        return self.txns(f"state IN ({marks})", tuple(s.value for s in states))

    def sealed(self, txn_id: int, column: str) -> bytes | None:
        assert column in ("request_sealed", "reversal_sealed", "pan_sealed")
        with self.db.transaction(write=False) as tx:
            row = tx.fetchone(f"SELECT {column} FROM txns WHERE id = ?", (txn_id,))
        if not row or row[0] is None:
            return None
        return self.unseal(bytes(row[0]), f"{column}:{txn_id}")

    def iter_batch(self, batch: str) -> Iterator[TxnRecord]:
        yield from self.txns("batch = ?", (batch,))

    # -- events and print jobs ----------------------------------------------------------

    def event(self, now_ms: int, kind: str, code: str | None, detail: str,
              txn_id: int | None = None) -> None:  # fmt: skip
        with self.db.transaction() as tx:
            self.event_in(tx, now_ms, kind, code, detail, txn_id)

    @staticmethod
    def event_in(tx: Transaction, now_ms: int, kind: str, code: str | None, detail: str,
                 txn_id: int | None = None) -> None:  # fmt: skip
        tx.execute(
            "INSERT INTO events (at_ms, kind, code, txn_id, detail) VALUES (?, ?, ?, ?, ?)",
            (now_ms, kind, code, txn_id, detail),
        )

    def add_print_job(self, tx: Transaction, txn_id: int | None, kind: str, copy: str,
                      payload: bytes, now_ms: int) -> None:  # fmt: skip
        tx.execute(
            "INSERT INTO print_jobs (txn_id, kind, copy, payload, state, created_ms)"
            " VALUES (?, ?, ?, ?, 'queued', ?)",
            (txn_id, kind, copy, payload, now_ms),
        )

    def queued_prints(self) -> list[tuple[int, bytes]]:
        with self.db.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT id, payload FROM print_jobs WHERE state = 'queued' ORDER BY id"
            )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def mark_printed(self, job_id: int, now_ms: int) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE print_jobs SET state = 'printed', printed_ms = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (now_ms, job_id),
            )
