"""The risk counters shared through `risk_feed`: across nodes, across restarts, with gaps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostkit import card_three_engine

from kassa.host.riskfeed import RiskFeed, max_window_ms
from kassa.host.schema import COMPONENT, MIGRATIONS
from kassa.risk import Action, RiskEvent
from kassa.store import Database, connect, migrate

T0 = 1_790_000_000_000


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = connect(db_url)
    migrate(database, COMPONENT, MIGRATIONS)
    yield database
    database.close()


def sale(at_ms: int, card: str = "card-1") -> RiskEvent:
    return RiskEvent(at_ms, "12345678", "123456789012345", card, "sale", 10_000)


def approve(db: Database, feed: RiskFeed, event: RiskEvent) -> None:
    """What the host does for an approval: observe in memory, append to the feed."""
    with db.transaction() as tx:
        feed.catch_up(tx, event.at_ms)
        feed.engine.observe(event, "00")
        feed.publish(tx, event, "00")


def verdict(db: Database, feed: RiskFeed, event: RiskEvent) -> Action:
    with db.transaction() as tx:
        feed.catch_up(tx, event.at_ms)
    return feed.engine.evaluate(event).action


def test_a_card_spread_over_two_nodes_is_counted_once_in_all(db: Database) -> None:
    a, b = RiskFeed(card_three_engine(), "node-a"), RiskFeed(card_three_engine(), "node-b")
    for i in range(3):
        approve(db, a, sale(T0 + i * 1000))
    assert verdict(db, b, sale(T0 + 5000)) is Action.DECLINE
    assert b.replayed == 3
    assert verdict(db, a, sale(T0 + 6000)) is Action.DECLINE
    assert a.replayed == 0  # its own rows are not counted twice


def test_without_sharing_the_other_node_would_not_know(db: Database) -> None:
    a, b = (
        RiskFeed(card_three_engine(), "node-a"),
        RiskFeed(card_three_engine(), "node-b", share=False),
    )
    for i in range(3):
        approve(db, a, sale(T0 + i * 1000))
    assert verdict(db, b, sale(T0 + 5000)) is Action.ALLOW


def test_a_restarted_node_warms_up_from_the_feed_within_the_window(db: Database) -> None:
    a = RiskFeed(card_three_engine(), "node-a")
    approve(db, a, sale(T0 - 700_000))  # older than the 600 s window: not replayed
    for i in range(3):
        approve(db, a, sale(T0 + i * 1000))
    restarted = RiskFeed(card_three_engine(), "node-a")
    with db.transaction() as tx:
        assert restarted.warm(tx, T0 + 4000) == 3
    assert restarted.engine.evaluate(sale(T0 + 4000)).action is Action.DECLINE
    assert restarted.engine.evaluate(sale(T0 + 4000, "card-2")).action is Action.ALLOW


def test_a_row_committed_late_below_the_last_id_is_still_seen(db: Database) -> None:
    """Ids are not commit order: a skipped id is asked for again until it appears."""
    b = RiskFeed(card_three_engine(), "node-b")
    with db.transaction() as tx:
        b.warm(tx, T0)
    start = b.last_id
    late, early = start + 1, start + 2
    insert = "INSERT INTO risk_feed (id, node, at_ms, event, code) VALUES (?, ?, ?, ?, ?)"
    rows = [(early + i, T0 + i) for i in range(2)]
    with db.transaction() as tx:
        for row_id, at in rows:
            tx.execute(insert, (row_id, "node-a", at, _json(sale(at)), "00"))
    with db.transaction() as tx:
        assert b.catch_up(tx, T0 + 10) == 2
    assert late in b.gaps
    with db.transaction() as tx:  # node a's slower transaction commits now
        tx.execute(insert, (late, "node-a", T0 + 5, _json(sale(T0 + 5)), "00"))
    with db.transaction() as tx:
        assert b.catch_up(tx, T0 + 20) == 1
    assert not b.gaps
    assert b.engine.evaluate(sale(T0 + 30)).action is Action.DECLINE


def test_catch_up_reads_once_per_group_time(db: Database) -> None:
    a, b = RiskFeed(card_three_engine(), "node-a"), RiskFeed(card_three_engine(), "node-b")
    with db.transaction() as tx:
        b.catch_up(tx, T0)
    approve(db, a, sale(T0))
    with db.transaction() as tx:
        assert b.catch_up(tx, T0) == 0  # same group time: already looked
        assert b.catch_up(tx, T0 + 1) == 1


def test_prune_drops_what_no_window_reaches(db: Database) -> None:
    a = RiskFeed(card_three_engine(), "node-a")
    assert a.keep_ms == max_window_ms(a.engine) == 600_000
    approve(db, a, sale(T0))
    approve(db, a, sale(T0 + 500_000))
    with db.transaction() as tx:
        a.prune(tx, T0 + 700_000)
        left = tx.fetchall("SELECT at_ms FROM risk_feed ORDER BY id")
    assert [int(r[0]) for r in left] == [T0 + 500_000]


def _json(event: RiskEvent) -> str:
    from kassa.host.riskfeed import _event_json

    return _event_json(event)


# -- through the host core -------------------------------------------------------------


def test_a_restarted_host_still_declines_a_card_past_its_limit(db_url: str) -> None:
    """Three approved sales, then the host restarts (a new core, its engine empty): warmed
    from the feed, it declines the fourth with the rule's 59; a host without the feed
    would have approved it."""
    from hostkit import Term, open_host

    from kassa.iso8583.transactions import TxnType

    db, core = open_host(db_url)
    try:
        core.financial.risk = card_three_engine()
        core.financial.feed = RiskFeed(core.financial.risk, "before")
        term = Term(db, core)
        term.sign_on()
        assert [term.send(term.request(TxnType.SALE, 100))[39] for _ in range(3)] == ["00"] * 3
        restarted, cold = card_three_engine(), card_three_engine()
        core.financial.risk = restarted
        core.financial.feed = RiskFeed(restarted, "after")
        with db.transaction() as tx:
            assert core.financial.feed.warm(tx, term.now_ms) == 3
        assert cold.evaluate(sale(term.now_ms)).action is Action.ALLOW
        assert term.send(term.request(TxnType.SALE, 100))[39] == "59"
    finally:
        db.close()
