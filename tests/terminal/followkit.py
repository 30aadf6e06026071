"""Helpers for the follow-up tests (reversals, resends, offline uploads): rows left in
each unfinished state the way the terminal itself leaves them, and a count of the
journal's durable commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from termkit import Rig

from kassa.iso8583.transactions import TxnType
from kassa.net import Fault
from kassa.store import Isolation, Transaction
from kassa.terminal.journal import Journal
from kassa.terminal.requests import Original
from kassa.terminal.states import State

START_FEN = 100_000  # the test card's balance in hostkit's reference data


def pending_sale(rig: Rig, amount: int, delivered: bool) -> int:
    """A sale journaled (request and reversal on disk) when the power went: delivered to
    the host (which charged it) or not. The row is left `pending`, as the cut leaves it."""
    txn_id, msg = rig.terminal.transactions._journal(rig.request(TxnType.SALE, amount))
    if delivered:
        assert rig.host_handle(rig.terminal.ctx.frame(msg, rig.terminal.journal.keys()))
    return txn_id


def offline_sale(rig: Rig, amount: int) -> int:
    """A sale approved offline and stored for upload, as a host out of reach leaves it."""
    req = rig.request(TxnType.SALE, amount)
    txn_id, _ = rig.terminal.transactions._journal(req)
    outcome = rig.terminal.transactions._not_sent(txn_id, req, "host_unreachable")
    assert outcome.state is State.OFFLINE, outcome
    return txn_id


async def refund_to_resend(rig: Rig, sale_fen: int, refund_fen: int) -> int:
    """An approved sale, then a refund of part of it whose answer was lost (to resend)."""
    sale = await rig.sale(sale_fen)
    assert sale.state is State.APPROVED, sale
    ref = Original(sale.batch or "", sale.stan or "", date="1118", rrn=sale.rrn)
    rig.schedule.add(Fault.DROP_RESPONSE)
    req = rig.request(TxnType.REFUND, refund_fen, pin=None, original=ref)
    refund = await rig.terminal.transact(req)
    assert refund.state is State.RESEND and refund.txn_id is not None, refund
    return refund.txn_id


def states(journal: Journal, *ids: int) -> list[State]:
    rows = {row.id: row for row in journal.txns()}
    return [rows[i].state for i in ids]


@dataclass
class Commits:
    writes: int = 0


@contextmanager
def counting_commits(journal: Journal) -> Iterator[Commits]:
    """Count the write transactions (durable commits) opened on `journal` in the block."""
    counts, inner = Commits(), journal.db.transaction

    @contextmanager
    def counted(
        *, write: bool = True, isolation: Isolation = "read committed"
    ) -> Iterator[Transaction]:
        counts.writes += int(write)
        with inner(write=write, isolation=isolation) as tx:
            yield tx

    journal.db.transaction = counted  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        del journal.db.transaction  # the class's method again
