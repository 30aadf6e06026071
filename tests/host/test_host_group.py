"""Group commits without a savepoint per request: a request that fails with a bug has the
group redone request by request, so it alone goes unanswered and leaves nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hostkit import HEADER, T0_MS, TPDU, Term, open_host, signed_on

from kassa.errors import StoreError
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
    with signed_on(*open_host(db_url)) as term:
        yield term


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


# -- a group that does not commit --------------------------------------------------------


class StoreFailingCore(HostCore):
    """The database refuses a write half-way through the group (disk full, say)."""

    def handle(self, tx: Transaction, body: bytes, now_ms: int) -> bytes | None:
        answer = super().handle(tx, body, now_ms)
        if decode(split_body(body).message)[11] == self.failing_stan:
            raise StoreError("database or disk is full")
        return answer

    failing_stan = ""


async def through_the_committer(committer: GroupCommitter, bodies: list[bytes]) -> list[Any]:
    committer.start()
    try:
        return list(await asyncio.gather(*(committer.submit(b) for b in bodies)))
    finally:
        await committer.stop()


def test_failed_before_commit_an_authorisation_is_told_96_and_a_reversal_nothing(
    term: Term,
) -> None:
    """Nothing of the group stands, so the cashier may be told at once: 96 to each sale
    (matched to its request), no answer to a reversal (sent again, never taken as done)."""
    core = StoreFailingCore(term.core.secrets, term.core.config, term.core.rand)
    sales = [term.request(TxnType.SALE, 100 + n) for n in range(3)]
    core.failing_stan = sales[2][11]
    reversal = rq.reversal(term.request(TxnType.SALE, 500), "98")
    bodies = [body(term, m) for m in (*sales, reversal)]
    answers = asyncio.run(through_the_committer(GroupCommitter(term.db, core), bodies))
    replies = [decode(split_body(a).message) for a in answers[:3]]
    assert [(r.mti, r[11], r[4], r[39]) for r in replies] == [
        ("0210", s[11], s[4], "96") for s in sales
    ]
    assert answers[3] is None
    assert stored_stans(term) == []


def test_failed_at_commit_nothing_is_said(term: Term, monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMIT itself failed: the group may stand or not, so no terminal is told it did not
    (they reverse, as after a cut line)."""

    def commit_fails(conn: object) -> Any:
        def fail() -> None:
            raise StoreError("disk I/O error during COMMIT")

        return fail

    monkeypatch.setattr(term.db, "_commit_fn", commit_fails)
    sales = [term.request(TxnType.SALE, 100 + n) for n in range(2)]
    answers = asyncio.run(
        through_the_committer(GroupCommitter(term.db, term.core), [body(term, s) for s in sales])
    )
    assert answers == [None, None]


def test_rrns_stay_unique_across_groups_and_redone_requests(term: Term) -> None:
    """SQLite takes RRNs from a counter moved once per group (at COMMIT): a request whose
    savepoint rolled back gives its number back, the next group starts above the last
    committed one, and no two stored answers share an RRN. The terminal's "seen" time,
    also written at COMMIT there, is the latest group's."""
    core = BuggyCore(term.core.secrets, term.core.config, term.core.rand)
    committer = GroupCommitter(term.db, core)
    first = [term.request(TxnType.SALE, 100 + n) for n in range(4)]
    core.broken = frozenset({first[1][11]})
    committer.handle_group([body(term, s) for s in first], T0_MS)
    second = [term.request(TxnType.SALE, 200 + n) for n in range(3)]
    answers = committer.handle_group([body(term, s) for s in second], T0_MS + 60_000)
    with term.db.transaction(write=False) as tx:
        stored = [str(r[0]) for r in tx.fetchall("SELECT rrn FROM txns WHERE mti = '0200'")]
        seen = tx.fetchone("SELECT last_seen_ms FROM terminals WHERE tid = ?", (term.who.tid,))
    answered = [decode(split_body(a).message)[37] for a, _ in answers if a is not None]
    assert len(stored) == len(set(stored)) == 3 + 3
    assert set(answered) <= set(stored)
    assert seen is not None and seen[0] == T0_MS + 60_000
