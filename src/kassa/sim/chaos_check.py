"""The promise, checked from the databases after a chaos run (shell: reads both stores).

Each check returns violations as one line of text each; none means the promise held:
- `check_host` passes (the ledger balances, each approval has exactly one capture);
- no identity (TID + batch + STAN) was captured twice or reversed twice;
- every sale is charged at the host exactly when its terminal says approved;
- nothing the terminals stored is lost or left unresolved (pending, in doubt, to resend);
- what the cashier was shown holds: an approval shown is charged, a decline is not;
- money adds up per card and per terminal, terminal journal against host ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kassa.host.check import check_host
from kassa.sim.chaos_rig import CARD_BALANCE_FEN
from kassa.store import Transaction, connect
from kassa.terminal.journal import TxnRecord
from kassa.terminal.runtime import open_journal

CHARGED_AT_TERMINAL = frozenset({"approved", "uploaded", "voided"})
CHARGED_AT_HOST = frozenset({"approved", "voided"})
UNRESOLVED = frozenset({"pending", "in_doubt", "resend"})


@dataclass(frozen=True, slots=True)
class Shown:
    """What one `kassa pos sale` that ran to its end told the cashier."""

    tid: str
    batch: str
    stan: str
    approved: bool
    state: str | None


HostRows = dict[tuple[str, str, str], tuple[str, int]]


def check_run(db_url: str, homes: Mapping[str, Path], shown: Iterable[Shown]) -> list[str]:
    """Every violation of the promise found in the host database and the journals."""
    terminals = {tid: _journal_rows(home) for tid, home in homes.items()}
    with connect(db_url) as db, db.transaction(write=False) as tx:
        report = check_host(tx)
        problems = [f"host check: {p}" for p in report.problems]
        problems += _twice(tx)
        host = _host_sales(tx)
        problems += _money(tx, host)
    for tid, rows in terminals.items():
        problems += _agree(tid, rows, host)
        problems += _lost(tid, rows)
    problems += _shown(shown, terminals, host)
    return problems


def _journal_rows(home: Path) -> list[TxnRecord]:
    journal = open_journal(home)
    try:
        return journal.txns()
    finally:
        journal.close()


def _twice(tx: Transaction) -> list[str]:
    captured = tx.fetchall(
        "SELECT txn_key, kind, COUNT(*) FROM ledger_entries WHERE kind IN ('sale', 'completion')"
        " GROUP BY txn_key, kind HAVING COUNT(*) > 1"
    )
    reversed_ = tx.fetchall(
        "SELECT reverses, COUNT(*) FROM ledger_entries WHERE kind = 'reversal'"
        " GROUP BY reverses HAVING COUNT(*) > 1"
    )
    return [f"identity {k} has {n} {kind} entries" for k, kind, n in captured] + [
        f"entry {e} reversed {n} times" for e, n in reversed_
    ]


def _host_sales(tx: Transaction) -> HostRows:
    rows = tx.fetchall(
        "SELECT tid, batch, stan, status, amount_fen FROM txns"
        " WHERE txn_type = 'sale' AND mti IN ('0200', '0220')"
    )
    return {(r[0], r[1], r[2]): (str(r[3]), int(r[4])) for r in rows}


def _money(tx: Transaction, host: HostRows) -> list[str]:
    """Per card, the balance moved by exactly the sales the host says it charged."""
    problems = []
    charged = tx.fetchall(
        "SELECT card_ref, COALESCE(SUM(amount_fen), 0) FROM txns WHERE txn_type = 'sale'"
        " AND status IN ('approved', 'voided') AND mti IN ('0200', '0220') GROUP BY card_ref"
    )
    for card_ref, total in charged:
        row = tx.fetchone(
            "SELECT balance_fen FROM accounts WHERE account = ?", (f"card:{card_ref}",)
        )
        moved = CARD_BALANCE_FEN - int(row[0]) if row else None
        if moved != int(total):
            problems.append(f"card {card_ref}: balance moved {moved} fen, sales charged {total}")
    if not charged and any(status in CHARGED_AT_HOST for status, _ in host.values()):
        problems.append("sales approved at the host but no card was charged")
    return problems


def _agree(tid: str, rows: list[TxnRecord], host: HostRows) -> list[str]:
    """Charged at the host exactly when the terminal says approved, and for the same sum."""
    problems = []
    term_total = host_total = 0
    for row in rows:
        if row.txn_type != "sale":
            continue
        status, amount = host.get((tid, row.batch, row.stan), ("absent", 0))
        at_terminal = row.state.value in CHARGED_AT_TERMINAL
        if at_terminal != (status in CHARGED_AT_HOST):
            problems.append(
                f"{tid}:{row.batch}:{row.stan} terminal {row.state.value}, host {status}"
            )
        term_total += (row.amount_fen or 0) if at_terminal else 0
    known = {(r.batch, r.stan) for r in rows}
    for (t, batch, stan), (status, amount) in host.items():
        if t == tid and status in CHARGED_AT_HOST:
            host_total += amount
            if (batch, stan) not in known:
                problems.append(
                    f"{tid}:{batch}:{stan} charged at the host, unknown to the terminal"
                )
    if term_total != host_total:
        problems.append(f"{tid}: terminal approved {term_total} fen, host charged {host_total}")
    return problems


def _lost(tid: str, rows: list[TxnRecord]) -> list[str]:
    return [
        f"{tid}:{r.batch}:{r.stan} {r.txn_type} left {r.state.value} after recovery"
        for r in rows
        if r.state.value in UNRESOLVED
    ]


def _shown(shown: Iterable[Shown], terminals: Mapping[str, list[TxnRecord]],
           host: HostRows) -> list[str]:  # fmt: skip
    """A sale shown approved is charged; one shown declined or not sent is not."""
    problems = []
    for s in shown:
        states = {(r.batch, r.stan): r.state.value for r in terminals.get(s.tid, [])}
        status = host.get((s.tid, s.batch, s.stan), ("absent", 0))[0]
        where = f"{s.tid}:{s.batch}:{s.stan}"
        if s.approved and (status not in CHARGED_AT_HOST or
                           states.get((s.batch, s.stan)) not in CHARGED_AT_TERMINAL):  # fmt: skip
            problems.append(f"{where} shown approved; terminal {states.get((s.batch, s.stan))}, "
                            f"host {status}")  # fmt: skip
        if s.state in ("declined", "not_sent", "reversed") and status in CHARGED_AT_HOST:
            problems.append(f"{where} shown {s.state} but charged at the host")
    return problems
