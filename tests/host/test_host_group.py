"""Group commits without a savepoint per request: a request that fails with a bug has the
group redone request by request, so it alone goes unanswered and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostkit import HEADER, T0_MS, TPDU, Term, open_host

from kassa.host.check import check_host
from kassa.host.core import HostCore
from kassa.host.service import GroupCommitter
from kassa.iso8583 import Message, decode
from kassa.iso8583.framing import Frame, split_body
from kassa.iso8583.transactions import TxnType
from kassa.store import Transaction
from kassa.terminal import requests as rq


class BuggyCore(HostCore):
    """The host core, but a request whose STAN is in `broken` raises after the core has
    handled it (its rows are written), as a bug late in the request would."""

    broken: frozenset[str] = frozenset()
    calls = 0

    def handle(self, tx: Transaction, body: bytes, now_ms: int) -> bytes | None:
        self.calls += 1
        answer = super().handle(tx, body, now_ms)
        if decode(split_body(body).message)[11] in self.broken:
            raise RuntimeError("a bug in the core")
        return answer


@pytest.fixture
def term(db_url: str) -> Iterator[Term]:
    db, core = open_host(db_url)
    t = Term(db, core)
    t.sign_on()
    try:
        yield t
    finally:
        db.close()


def body(term: Term, msg: Message) -> bytes:
    assert term.keys is not None
    return Frame(TPDU, HEADER, rq.seal(msg, term.keys.mak)).to_bytes()[2:]


def stored_stans(term: Term) -> list[str]:
    with term.db.transaction(write=False) as tx:
        rows = tx.fetchall("SELECT stan FROM txns WHERE mti = '0200' ORDER BY stan")
    return [str(r[0]) for r in rows]


def test_a_group_without_bugs_is_handled_once(term: Term) -> None:
    core = BuggyCore(term.core.secrets, term.core.config, term.core.rand)
    sales = [term.request(TxnType.SALE, 100 + n) for n in range(3)]
    answers = GroupCommitter(term.db, core).handle_group([body(term, s) for s in sales], T0_MS)
    assert core.calls == 3
    assert [decode(split_body(a).message)[39] for a, _ in answers if a] == ["00"] * 3
    assert stored_stans(term) == [s[11] for s in sales]


def test_a_failing_request_alone_is_unanswered_and_leaves_nothing(term: Term) -> None:
    core = BuggyCore(term.core.secrets, term.core.config, term.core.rand)
    sales = [term.request(TxnType.SALE, 100 + n) for n in range(4)]
    core.broken = frozenset({sales[1][11]})
    answers = GroupCommitter(term.db, core).handle_group([body(term, s) for s in sales], T0_MS)
    assert core.calls == 2 + 4  # optimistic up to the failure, then all four isolated
    assert answers[1] == (None, None)
    replies = [decode(split_body(a).message) for a, _ in answers if a is not None]
    assert [r[11] for r in replies] == [sales[n][11] for n in (0, 2, 3)]
    assert all(r[39] == "00" for r in replies)
    assert all(outcome == ("sale", "00") for a, outcome in answers if a is not None)
    # The failed request's rows were undone; the others' stand once each.
    assert stored_stans(term) == [sales[n][11] for n in (0, 2, 3)]
    with term.db.transaction(write=False) as tx:
        assert check_host(tx).ok
