"""`kassa host check`: prove the ledger balances and every approval has one capture.

Runs the ledger's validation passes over every stored entry, then checks that the
`accounts` projection equals the sum of the postings, and reports problems as data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kassa import ledger
from kassa.host import repo
from kassa.host.records import CAPTURE_TYPES
from kassa.store import Transaction


@dataclass(frozen=True, slots=True)
class CheckReport:
    entries: int
    accounts: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _approved_keys(tx: Transaction) -> set[str]:
    marks = ", ".join("?" for _ in CAPTURE_TYPES)
    rows = tx.fetchall(
        "SELECT tid, batch, stan FROM txns WHERE status IN ('approved', 'voided')"
        f" AND txn_type IN ({marks})",
        CAPTURE_TYPES,
    )
    return {f"{r[0]}:{r[1]}:{r[2]}" for r in rows}


def _floors(tx: Transaction) -> dict[str, int]:
    rows = tx.fetchall("SELECT card_ref, kind, credit_limit_fen FROM cards")
    return {r[0]: -int(r[2]) if r[1] == "credit" else 0 for r in rows}


def check_host(tx: Transaction) -> CheckReport:
    floors = _floors(tx)
    counted = 0
    malformed: list[str] = []

    reversals: set[str] = set()

    def counting() -> Iterator[ledger.LedgerEntry]:
        nonlocal counted
        for entry in repo.entries_where(tx, "1 = 1", problems=malformed):
            counted += 1
            if entry.kind is ledger.EntryKind.reversal:
                reversals.add(entry.entry_id)
            yield entry

    found = ledger.check_all(counting(), _approved_keys(tx), lambda ref: floors.get(ref, 0))
    # A reversal puts back an earlier state and is never refused: if the card spent the
    # money in between, the overdraft it leaves is a debt to collect (reported by
    # reconciliation), not a ledger fault.
    problems = [
        f"{p.code}: {p.message} (entries {', '.join(p.entry_ids) or '-'})"
        for p in found
        if not (p.code == "card_below_floor" and p.entry_ids and set(p.entry_ids) <= reversals)
    ]
    problems = malformed + problems
    rows = tx.fetchall(
        "SELECT a.account, a.balance_fen, COALESCE(SUM(p.amount_fen), 0) FROM accounts a"
        " LEFT JOIN ledger_postings p ON p.account = a.account"
        " GROUP BY a.account, a.balance_fen"
    )
    for account, stored, summed in rows:
        if int(stored) != int(summed):
            problems.append(f"projection: account {account} says {stored}, postings sum {summed}")
    return CheckReport(counted, len(rows), tuple(problems))
