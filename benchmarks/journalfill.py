"""Fast fixtures for a terminal journal (used by benchmarks/terminal.py).

Rows go in by direct inserts (executemany, one transaction), shaped as the terminal
itself leaves them: final rows without their sealed request or reversal (dropped once
final, PCI DSS 3.3.1), pending and offline rows with them, sealed under the device key
with the terminal's own labels, so that the real recovery and upload code reads them.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import benchkit as bk
from kassa.card import CardInput, mask_pan
from kassa.iso8583 import encode
from kassa.iso8583.transactions import TxnType
from kassa.terminal import requests as rq
from kassa.terminal.journal import Journal

OLD_BATCHES = 40
# (txn_type, state, reversible, weight): what a year of a busy terminal's journal holds.
_MIX = (
    ("sale", "approved", 1, 70), ("sale", "voided", 1, 4), ("void", "approved", 1, 4),
    ("sale", "declined", 1, 6), ("sale", "reversed", 1, 2), ("sale", "uploaded", 1, 3),
    ("sale", "not_sent", 1, 1), ("balance", "approved", 0, 6), ("refund", "approved", 0, 2),
    ("balance", "no_answer", 0, 1), ("sale", "offline_declined", 1, 1),
)  # fmt: skip
_COLUMNS = ("id", "batch", "stan", "txn_type", "amount_fen", "state", "reversible", "entry_mode",
            "pan_masked", "pan_sealed", "operator", "request_sealed", "reversal_sealed",
            "reversal_reason", "response_code", "rrn", "auth_code", "offline", "created_ms",
            "updated_ms", "tz")  # fmt: skip
_INSERT = (f"INSERT INTO txns ({', '.join(_COLUMNS)})"
           f" VALUES ({', '.join('?' for _ in _COLUMNS)})")  # fmt: skip


def _card(n: int) -> CardInput:
    return CardInput.from_swipe(f";{bk.pan_for(n % 100)}={bk.EXPIRY}1010000012345?")


def _next_id(journal: Journal) -> int:
    with journal.db.transaction(write=False) as tx:
        row = tx.fetchone("SELECT COALESCE(MAX(id), 0) FROM txns")
    return int(row[0]) + 1 if row else 1


def _row(**values: Any) -> tuple[Any, ...]:
    base: dict[str, Any] = dict.fromkeys(_COLUMNS)
    base.update(operator="01", tz="UTC+08:00", offline=0, entry_mode="021")
    base.update(values)
    return tuple(base[name] for name in _COLUMNS)


def _history(first_id: int, count: int, now_ms: int) -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    kinds = [m[:3] for m in _MIX]
    weights = [m[3] for m in _MIX]
    per_batch = -(-count // OLD_BATCHES)
    out = []
    for i in range(count):
        txn_type, state, reversible = rng.choices(kinds, weights)[0]
        amount = None if txn_type == "balance" else rng.randint(100, 500_000)
        code = {"approved": "00", "declined": "51", "voided": "00", "uploaded": "00"}.get(state)
        out.append(_row(id=first_id + i, batch=f"{800_001 + i // per_batch:06d}",
                        stan=f"{i % per_batch + 1:06d}", txn_type=txn_type, amount_fen=amount,
                        state=state, reversible=reversible, pan_masked="621226******1234",
                        response_code=code, rrn=f"{i:012d}" if code else None,
                        auth_code="123456" if code == "00" else None,
                        offline=int(state in ("uploaded", "offline_declined")),
                        created_ms=now_ms - (count - i) * 60_000, updated_ms=now_ms))  # fmt: skip
    return out


def _sealed_request(
    journal: Journal, txn: TxnType, txn_id: int, stan: str, n: int
) -> dict[str, Any]:
    who = rq.Identity(bk.tid_for(0), bk.mid_for(0))
    batch = journal.get("batch", "000001") or "000001"
    card = _card(n)
    msg = rq.financial(txn, who, stan, batch, 1000 + n, card)
    out = {"request_sealed": journal.seal(encode(msg), f"request_sealed:{txn_id}"),
           "pan_sealed": journal.seal(card.pan.encode(), f"pan_sealed:{txn_id}"),
           "batch": batch, "stan": stan, "amount_fen": 1000 + n,
           "pan_masked": mask_pan(card.pan)}  # fmt: skip
    if txn is TxnType.SALE:
        reversal = encode(rq.reversal(msg, "98"))
        out["reversal_sealed"] = journal.seal(reversal, f"reversal_sealed:{txn_id}")
    return out


def _stan_base(journal: Journal, offset: int) -> int:
    return (int(journal.get("stan", "0") or 0) + offset) % 900_000


def fill_journal(path: Path, device_key: bytes, rows: int, pending: int) -> int:
    """`rows` records: history in old batches, then `pending` sales in the current batch
    left as a power cut leaves them (pending, request and reversal sealed). Row count."""
    journal = Journal.open(str(path), device_key)
    try:
        first, now = _next_id(journal), now_ms()
        history = _history(first, rows - pending, now)
        base = _stan_base(journal, 500_000)  # far from the STANs the live terminal uses
        cut = []
        for k in range(pending):
            txn_id = first + len(history) + k
            sealed = _sealed_request(journal, TxnType.SALE, txn_id, f"{base + k + 1:06d}", k)
            cut.append(_row(id=txn_id, txn_type="sale", state="pending", reversible=1,
                            created_ms=now, updated_ms=now, **sealed))  # fmt: skip
        with journal.db.transaction() as tx:
            tx.executemany(_INSERT, history + cut)
        return len(history) + len(cut)
    finally:
        journal.close()


def fill_offline(path: Path, device_key: bytes, count: int) -> int:
    """`count` sales approved offline and waiting for upload, as `_not_sent` stores them."""
    journal = Journal.open(str(path), device_key)
    try:
        first, now = _next_id(journal), now_ms()
        base = _stan_base(journal, 1)
        rows = []
        for k in range(count):
            txn_id = first + k
            sealed = _sealed_request(journal, TxnType.OFFLINE_SALE, txn_id, f"{base + k:06d}", k)
            rows.append(_row(id=txn_id, txn_type="sale", state="offline", reversible=1,
                             offline=1, created_ms=now, updated_ms=now, **sealed))  # fmt: skip
        with journal.db.transaction() as tx:
            tx.executemany(_INSERT, rows)
            journal.put_in(tx, stan=str(base + count))
        return count
    finally:
        journal.close()


def now_ms() -> int:
    return int(time.time() * 1000)
