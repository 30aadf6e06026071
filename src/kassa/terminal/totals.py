"""Settlement figures from the journal (pure): the F48 totals and batch-upload records.

Debits: approved sales, completions and uploaded offline sales; credits: approved
refunds. Voided and reversed transactions count in neither (reference §3.7).
"""

from __future__ import annotations

from collections.abc import Iterable

from kassa.iso8583.fields import BatchUploadRecord, Field48Settlement, SettlementTotals
from kassa.terminal.journal import TxnRecord
from kassa.terminal.states import State

DEBIT_TYPES = frozenset({"sale", "completion", "completion_advice", "offline_sale"})
CREDIT_TYPES = frozenset({"refund"})
COUNTED = frozenset({State.APPROVED, State.UPLOADED})


def counted(rows: Iterable[TxnRecord]) -> list[TxnRecord]:
    return [r for r in rows if r.state in COUNTED and r.txn_type in DEBIT_TYPES | CREDIT_TYPES]


def settlement_totals(rows: Iterable[TxnRecord]) -> Field48Settlement:
    debit = credit = debit_n = credit_n = 0
    for row in counted(rows):
        if row.txn_type in DEBIT_TYPES:
            debit, debit_n = debit + (row.amount_fen or 0), debit_n + 1
        else:
            credit, credit_n = credit + (row.amount_fen or 0), credit_n + 1
    domestic = SettlementTotals(debit, debit_n, credit, credit_n)
    return Field48Settlement(domestic, SettlementTotals(0, 0, 0, 0))


def upload_records(rows: Iterable[TxnRecord], pans: dict[int, str]) -> list[BatchUploadRecord]:
    """Detail records for batch upload; `pans` gives each row's PAN (from sealed data)."""
    return [
        BatchUploadRecord("00", r.stan, pans[r.id], r.amount_fen or 0)
        for r in counted(rows)
        if r.id in pans
    ]
