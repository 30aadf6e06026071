"""The in-memory risk counters count what committed, once: a group retried after a
transient conflict, a group redone request by request after a bug, a group that failed,
leave them as the stored feed says (a fresh engine warmed from `risk_feed`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hostkit import HEADER, PAN, T0_MS, TPDU, Term, card_three_engine, open_host, signed_on

from kassa.clock import FixedClock
from kassa.errors import StoreError
from kassa.host.core import HostCore
from kassa.host.riskfeed import RiskFeed
from kassa.host.service import GroupCommitter
from kassa.iso8583 import Message, decode
from kassa.iso8583.framing import Frame, split_body
from kassa.iso8583.transactions import TxnType
from kassa.risk import RiskEngine, RiskEvent
from kassa.store import Transaction, TransientError
from kassa.terminal import requests as rq


class FaultyCore(HostCore):
    """The host core, with faults after a request is handled (its rows written, its answer
    observed): `conflicts` groups meet a transient conflict at their deferred flush right
    before COMMIT (as two nodes' overdraft race does); a request whose STAN is in `buggy`
    raises a bug, and one in `disk_full` a StoreError."""

    conflicts = 0
    buggy: frozenset[str] = frozenset()
    disk_full: frozenset[str] = frozenset()

    def handle(self, tx: Transaction, body: bytes, now_ms: int) -> bytes | None:
        answer = super().handle(tx, body, now_ms)
        stan = decode(split_body(body).message)[11]
        if stan in self.buggy:
            raise RuntimeError("a bug in the core")
        if stan in self.disk_full:
            raise StoreError("database or disk is full")
        if self.conflicts:
            tx.append_deferred("test.conflict", (), self._conflict)
        return answer

    def _conflict(self, tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
        self.conflicts -= 1
        raise TransientError("card:x was debited at another host node after this group read it")


@pytest.fixture
def term(db_url: str) -> Iterator[Term]:
    db, plain = open_host(db_url)
    engine = card_three_engine()
    core = FaultyCore(plain.secrets, plain.config, plain.rand, engine)
    core.financial.feed = RiskFeed(engine, "node-a")  # shared: catch_up runs too
    with signed_on(db, core) as term:
        yield term


def engine_of(term: Term) -> RiskEngine:
    assert term.core.financial.risk is not None
    return term.core.financial.risk


def core_of(term: Term) -> FaultyCore:
    assert isinstance(term.core, FaultyCore)
    return term.core


def through_the_committer(term: Term, sales: list[Message], now_ms: int = T0_MS) -> list[str]:
    """The sales as one group through the group committer; their response codes."""
    committer = GroupCommitter(term.db, term.core, clock=FixedClock(now_ms))
    assert term.keys is not None
    bodies = [Frame(TPDU, HEADER, rq.seal(m, term.keys.mak)).to_bytes()[2:] for m in sales]

    async def run() -> list[bytes | None]:
        committer.start()
        try:
            return list(await asyncio.gather(*(committer.submit(b) for b in bodies)))
        finally:
            await committer.stop()

    return [decode(split_body(a).message)[39] if a else "--" for a in asyncio.run(run())]


def sales(term: Term, count: int) -> list[Message]:
    return [term.request(TxnType.SALE, 100 + n) for n in range(count)]


def as_stored(term: Term, now_ms: int = T0_MS) -> dict[str, Any]:
    """The counters a fresh engine gets from the committed feed."""
    fresh = RiskFeed(card_three_engine(), "fresh")
    with term.db.transaction() as tx:
        fresh.warm(tx, now_ms)
    return fresh.engine.state.to_dict()


def stored_sales(term: Term) -> int:
    with term.db.transaction(write=False) as tx:
        row = tx.fetchone("SELECT COUNT(*) FROM txns WHERE mti = '0200' AND response_code = '00'")
    assert row is not None
    return int(row[0])


def test_a_group_retried_after_a_transient_conflict_is_counted_once(term: Term) -> None:
    core_of(term).conflicts = 1
    assert through_the_committer(term, sales(term, 2)) == ["00", "00"]
    assert core_of(term).conflicts == 0  # the first attempt did meet the conflict
    assert stored_sales(term) == 2
    assert engine_of(term).state.to_dict() == as_stored(term)
    # two sales counted, not four: the third still passes the rule (at most 3), the fourth not
    assert through_the_committer(term, sales(term, 2), T0_MS + 1000) == ["00", "59"]


def test_a_group_redone_after_a_bug_does_not_count_the_failed_request(term: Term) -> None:
    group = sales(term, 3)
    core_of(term).buggy = frozenset({group[0][11]})
    assert through_the_committer(term, group) == ["--", "00", "00"]
    assert stored_sales(term) == 2
    assert engine_of(term).state.to_dict() == as_stored(term)
    assert through_the_committer(term, sales(term, 2), T0_MS + 1000) == ["00", "59"]


def test_a_group_that_failed_leaves_the_counters_as_they_were(term: Term) -> None:
    assert through_the_committer(term, sales(term, 1)) == ["00"]
    before = engine_of(term).state.to_dict()
    group = sales(term, 3)
    core_of(term).disk_full = frozenset({group[2][11]})
    assert through_the_committer(term, group, T0_MS + 1000) == ["96", "96", "96"]
    assert engine_of(term).state.to_dict() == before == as_stored(term)
    core_of(term).disk_full = frozenset()
    assert through_the_committer(term, sales(term, 3), T0_MS + 2000) == ["00", "00", "59"]


def test_another_nodes_sales_read_by_a_retried_group_are_still_counted(term: Term) -> None:
    """The first attempt folded node b's rows in and was rolled back (undone with it); the
    retry, at the same group time, reads them again."""
    with term.db.transaction() as tx:
        row = tx.fetchone(
            "SELECT card_ref FROM cards WHERE pan_hash = ?", (term.core.secrets.pan_hash(PAN),)
        )
        assert row is not None
        node_b = RiskFeed(card_three_engine(), "node-b")
        for n in range(2):
            event = RiskEvent(T0_MS - 5000 + n, "87654321", "123456789012345", str(row[0]),
                              "sale", 100, 480, "5411")  # fmt: skip
            node_b.publish(tx, event, "00")
    core_of(term).conflicts = 1
    assert through_the_committer(term, sales(term, 2)) == ["00", "59"]  # 2 of b's + 1
    assert core_of(term).conflicts == 0
    assert engine_of(term).state.to_dict() == as_stored(term)


def test_a_warm_up_that_rolls_back_leaves_the_counters_and_the_cursor_as_they_were(
    term: Term,
) -> None:
    """`HostServer.start` warms in `run_in_transaction`, which retries a transient failure:
    the retry must not count the feed twice."""
    assert through_the_committer(term, sales(term, 2)) == ["00", "00"]
    restarted = RiskFeed(card_three_engine(), "node-a")
    with contextlib.suppress(TransientError), term.db.transaction() as tx:
        assert restarted.warm(tx, T0_MS) == 2
        raise TransientError("deadlock detected")
    assert restarted.engine.state.to_dict() == card_three_engine().state.to_dict()
    assert (restarted.last_id, restarted.replayed) == (0, 0)
    with term.db.transaction() as tx:
        assert restarted.warm(tx, T0_MS) == 2
    assert restarted.engine.state.to_dict() == engine_of(term).state.to_dict()
