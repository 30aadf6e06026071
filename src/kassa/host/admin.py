"""Writing reference data: merchants, terminals and cards, one at a time or a whole file.

Card numbers are sealed and hashed, PINs kept only as keyed verification values, TMKs
sealed under the host master key; a card's opening balance is a ledger entry from
`funding`, so money enters the loop through the ledger like everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kassa import ledger
from kassa.card import mask_pan
from kassa.errors import InputError
from kassa.host import repo
from kassa.host.loader import Reference
from kassa.host.secrets import HostSecrets
from kassa.store import Transaction
from kassa.vault import pin_verification_value

Rand = Callable[[int], bytes]


def card_ref_for(secrets: HostSecrets, pan: str) -> str:
    """The card's reference in the ledger and logs: derived from the keyed hash, no PAN."""
    return "c" + secrets.pan_hash(pan)[:23]


def add_merchant(tx: Transaction, row: dict[str, Any], now_ms: int) -> None:
    if repo.merchant(tx, row["mid"]) is not None:
        raise InputError(f"merchant {row['mid']} already exists")
    tx.execute(
        "INSERT INTO merchants (mid, name, mcc, fee_rate_ppm, fee_fixed_fen, fee_min_fen,"
        " fee_max_fen, credit_allowed, txn_limit_fen, daily_limit_fen, status, created_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row["mid"], row["name"], row["mcc"], row["fee_rate_ppm"], row["fee_fixed_fen"],
         row["fee_min_fen"], row["fee_max_fen"], int(row["credit_allowed"]),
         row["txn_limit_fen"], row["daily_limit_fen"], str(row["status"]), now_ms),
    )  # fmt: skip


def add_terminal(
    tx: Transaction, secrets: HostSecrets, row: dict[str, Any], now_ms: int, rand: Rand
) -> None:
    if repo.terminal(tx, row["tid"]) is not None:
        raise InputError(f"terminal {row['tid']} already exists")
    if repo.merchant(tx, row["mid"]) is None:
        raise InputError(f"terminal {row['tid']}: merchant {row['mid']} does not exist")
    sealed = secrets.seal_tmk(row["tid"], row["tmk"], rand)
    tx.execute(
        "INSERT INTO terminals (tid, mid, tmk_sealed, status, batch, created_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (row["tid"], row["mid"], sealed, str(row["status"]), row["batch"], now_ms),
    )


def add_card(
    tx: Transaction, secrets: HostSecrets, row: dict[str, Any], now_ms: int, rand: Rand
) -> str:
    pan = row["pan"]
    pan_hash = secrets.pan_hash(pan)
    if repo.card_by_hash(tx, pan_hash) is not None:
        raise InputError(f"card {mask_pan(pan)} already exists")
    ref = card_ref_for(secrets, pan)
    tx.execute(
        "INSERT INTO cards (card_ref, pan_hash, pan_sealed, pan_masked, expiry, pvv, kind,"
        " credit_limit_fen, status, daily_limit_fen, daily_count_max, created_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (ref, pan_hash, secrets.seal_pan(pan, rand), mask_pan(pan), row["expiry"],
         pin_verification_value(secrets.pvk, pan, row["pin"]), str(row["kind"]),
         row["credit_limit_fen"], str(row["status"]), row["daily_limit_fen"],
         row["daily_count_max"], now_ms),
    )  # fmt: skip
    if row["balance_fen"]:
        fund_card(tx, ref, row["balance_fen"], now_ms, "opening balance")
    return ref


def fund_card(tx: Transaction, card_ref: str, amount_fen: int, now_ms: int, memo: str) -> None:
    """Money into a card from outside the loop (opening balance, top-up)."""
    seq = repo.next_counter(tx, "rrn")
    entry = ledger.fund(
        card_ref, amount_fen, txn_key=f"fund:{card_ref}", at_ms=now_ms,
        entry_id=f"fund:{card_ref}:{seq}", memo=memo,
    )  # fmt: skip
    repo.append_entry(tx, entry)


def load_reference(
    tx: Transaction, secrets: HostSecrets, ref: Reference, now_ms: int, rand: Rand
) -> tuple[int, int, int]:
    """Write a checked file's rows; any clash raises InputError and the caller rolls back."""
    for m in ref.merchants:
        add_merchant(tx, m, now_ms)
    for t in ref.terminals:
        add_terminal(tx, secrets, t, now_ms, rand)
    for c in ref.cards:
        add_card(tx, secrets, c, now_ms, rand)
    return len(ref.merchants), len(ref.terminals), len(ref.cards)


def set_status(tx: Transaction, table: str, key: str, value: str, status: str) -> bool:
    """Freeze/unfreeze (or mark lost/stolen) one row; False if it does not exist."""
    column = {"merchants": "mid", "terminals": "tid", "cards": "card_ref"}[table]
    cursor = tx.execute(f"UPDATE {table} SET status = ? WHERE {column} = ?", (status, value))
    _ = key
    return cursor.rowcount > 0
