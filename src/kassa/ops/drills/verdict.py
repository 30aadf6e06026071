"""The verdict of a drill, computed from the databases alone (never from what the drill
believes happened):

- the host's ledger proof passes (`check_host`: balanced, one capture per approval);
- every terminal transaction is settled one way or the other (nothing pending, in doubt,
  waiting to resend or to upload);
- approved at the terminal ⇔ captured at the host, for every transaction identity
  (TID + batch + STAN), and the host holds no capture the terminal does not know;
- the card lost exactly what the terminals say they charged: nothing lost, nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kassa.host.check import check_host
from kassa.money import Amount
from kassa.store import Database
from kassa.terminal.journal import TxnRecord
from kassa.terminal.runtime import open_journal
from kassa.terminal.states import State

_CHARGED_AT_TERMINAL = frozenset({State.APPROVED, State.UPLOADED, State.VOIDED})
_UNRESOLVED = frozenset({State.PENDING, State.IN_DOUBT, State.RESEND, State.OFFLINE})
_CHARGED_AT_HOST = frozenset({"approved", "voided"})
_DEBITS = frozenset({"sale", "offline_sale"})


@dataclass(frozen=True, slots=True)
class Verdict:
    problems: tuple[str, ...]
    summary: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def journal_rows(home: Path) -> list[TxnRecord]:
    journal = open_journal(home)
    try:
        return journal.txns()
    finally:
        journal.close()


def _host_rows(db: Database, tid: str) -> dict[tuple[str, str], str]:
    with db.transaction(write=False) as tx:
        rows = tx.fetchall(
            "SELECT batch, stan, status FROM txns WHERE tid = ? AND mti IN ('0200', '0220')",
            (tid,),
        )
    return {(str(r[0]), str(r[1])): str(r[2]) for r in rows}


def compare(tid: str, rows: list[TxnRecord], host: dict[tuple[str, str], str]) -> list[str]:
    """Problems between one terminal's journal and the host's records of it."""
    problems = []
    for row in rows:
        if row.state in _UNRESOLVED:
            problems.append(f"{tid} trace {row.stan}: still {row.state.value}")
            continue
        at_host = host.get((row.batch, row.stan))
        if (row.state in _CHARGED_AT_TERMINAL) != (at_host in _CHARGED_AT_HOST):
            problems.append(f"{tid} batch {row.batch} trace {row.stan}: terminal says "
                            f"{row.state.value}, host says {at_host or 'nothing'}")  # fmt: skip
    known = {(r.batch, r.stan) for r in rows}
    for (batch, stan), status in host.items():
        if status in _CHARGED_AT_HOST and (batch, stan) not in known:
            problems.append(f"{tid} batch {batch} trace {stan}: captured at the host, "
                            "unknown to the terminal")  # fmt: skip
    return problems


def charged_fen(rows: list[TxnRecord]) -> int:
    return sum(r.amount_fen or 0 for r in rows
               if r.state in _CHARGED_AT_TERMINAL and r.txn_type in _DEBITS)  # fmt: skip


def judge(db: Database, terminals: list[tuple[str, Path]], card_start_fen: int) -> Verdict:
    """The verdict over the host database `db` and each (tid, home) terminal journal."""
    with db.transaction(write=False) as tx:
        proof = check_host(tx)
        cards = tx.fetchall("SELECT balance_fen FROM accounts WHERE account LIKE 'card:%'")
    problems = [f"ledger: {p}" for p in proof.problems]
    charged = 0
    summary = [f"ledger: {proof.entries} entries, {proof.accounts} accounts, "
               f"{'balanced' if proof.ok else 'NOT balanced'}"]  # fmt: skip
    for tid, home in terminals:
        rows = journal_rows(home)
        problems += compare(tid, rows, _host_rows(db, tid))
        charged += charged_fen(rows)
        states = ", ".join(
            f"{s.value} {n}" for s in State if (n := sum(1 for r in rows if r.state is s))
        )
        summary.append(f"terminal {tid}: {states or 'no transactions'}")
    if len(cards) != 1:
        problems.append(f"expected one card account at the host, found {len(cards)}")
    else:
        spent = card_start_fen - int(cards[0][0])
        summary.append(f"card: RMB {Amount(spent).yuan()} taken, terminals charged "
                       f"RMB {Amount(charged).yuan()}")  # fmt: skip
        if spent != charged:
            problems.append(f"money: the card lost {spent} fen, the terminals charged {charged}")
    return Verdict(tuple(problems), tuple(summary))
