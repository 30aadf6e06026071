"""Scale-out under load (issue 9): two `kassa host serve` nodes, both active, on one
PostgreSQL database; 10 + 10 real terminals of ONE merchant sell for several seconds,
paying with a small pool of cards that both nodes charge at the same time.

Every group of each node then touches the same merchant account and card accounts the
other node's groups touch, and every request needs an RRN: the rows that deadlocked two
nodes (see `test_node_locks.py`). Checked afterwards: no group was aborted or retried
(neither node's log says "deadlock", "retried" or "not committed"), every sale was
answered (no terminal timed out, so none reversed), the ledger checks out, RRNs are
unique, and the money adds up from the terminals' side: each card account went down and
the merchant's account went up by exactly the sales the terminals hold as approved.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from nodes import MID, Node, host_facts, load, open_terminal, pan, sale, tid

from kassa.host.admin import card_ref_for
from kassa.host.runtime import open_host
from kassa.ledger import card_account, merchant_account
from kassa.store import connect
from kassa.terminal.outcome import Outcome
from kassa.terminal.pos import Terminal
from kassa.terminal.states import State

pytestmark = pytest.mark.postgres

PER_NODE = 10
CARDS = 6
RUN_S = 6.0
RESPONSE_TIMEOUT_S = 10.0
CARD_FEN = 10_000_000  # each card's opening balance in the reference ("100000.00")
# No risk rules: velocity declines would spare the accounts this test is about.
NO_RULES = "[state]\nkeys_max = 1000\n"


def prepare(db_url: str, home: Path) -> list[str]:
    """Load merchant, terminals and cards; the cards' ledger references."""
    load(db_url, home, 2 * PER_NODE, CARDS)
    runtime = open_host(db_url, home)
    try:
        return [card_ref_for(runtime.secrets, pan(c)) for c in range(CARDS)]
    finally:
        runtime.close()


async def sell(terminal: Terminal, n: int, until: float) -> list[tuple[int, Outcome]]:
    """Sign on, then sell until `until` (loop time): (card, outcome) of every sale."""
    result = await terminal.sign_on()
    assert result.ok, result
    loop, done, k = asyncio.get_running_loop(), [], 0
    while loop.time() < until:
        card = (n * 5 + k) % CARDS  # neighbours share cards, across the two nodes too
        done.append((card, await terminal.transact(sale(terminal, card, 1_000 + 7 * n + k))))
        k += 1
    await terminal.ctx.link.close()
    return done


async def drive(terminals: list[Terminal]) -> list[list[tuple[int, Outcome]]]:
    until = asyncio.get_running_loop().time() + RUN_S
    tasks = [sell(t, n, until) for n, t in enumerate(terminals)]
    return list(await asyncio.wait_for(asyncio.gather(*tasks), RUN_S + 60))


def balances(db_url: str) -> dict[str, int]:
    db = connect(db_url)
    try:
        with db.transaction(write=False) as tx:
            return {
                str(a): int(b) for a, b in tx.fetchall("SELECT account, balance_fen FROM accounts")
            }
    finally:
        db.close()


def test_two_active_nodes_one_merchant_no_deadlock(pg_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    card_refs = prepare(pg_url, home)
    rules = tmp_path / "no-rules.toml"
    rules.write_text(NO_RULES)
    nodes = [Node.start(pg_url, home, ("--risk-rules", str(rules))) for _ in range(2)]
    terminals = []
    try:
        for n in range(2 * PER_NODE):  # the first ten on node A only, the others on node B
            address = nodes[n // PER_NODE].address
            terminals.append(open_terminal(tmp_path / f"t{n}.db", n, [address], RESPONSE_TIMEOUT_S))
        started = time.monotonic()
        results = asyncio.run(drive(terminals))
        elapsed = time.monotonic() - started
    finally:
        for node in nodes:
            node.stop()
        for terminal in terminals:
            terminal.journal.close()

    outcomes = [o for done in results for _, o in done]
    print(f"\ntwo nodes, {2 * PER_NODE} terminals, one merchant: {len(outcomes)} sales in"
          f" {elapsed:.1f} s ({len(outcomes) / elapsed:.0f}/s)")  # fmt: skip
    for name, node in zip("AB", nodes, strict=True):
        assert node.proc.returncode == 0, f"node {name} stopped cleanly: {node.log[-5:]}"
        bad = [line for line in node.log
               if any(word in line for word in ("deadlock", "retried", "not committed"))]  # fmt: skip
        assert bad == [], f"node {name}: {bad[:3]}"
    unanswered = [(o.state, o.code) for o in outcomes if o.state is not State.APPROVED]
    assert unanswered == [], f"{len(unanswered)} of {len(outcomes)} sales: {unanswered[:5]}"

    sales, twice, rrns, verdict = host_facts(pg_url)
    assert verdict == "OK"
    assert twice == [] and rrns == []
    assert Counter(sales.values()) == {"approved": len(outcomes)}
    for n, done in enumerate(results):
        held = {(tid(n), o.batch, o.stan) for _, o in done}
        assert held == {k for k in sales if k[0] == tid(n)}, tid(n)
    spent: Counter[int] = Counter()
    for done in results:
        for card, outcome in done:
            assert outcome.amount_fen is not None
            spent[card] += outcome.amount_fen
    got = balances(pg_url)
    assert got[merchant_account(MID)] == sum(spent.values())
    for card, ref in enumerate(card_refs):
        assert got[card_account(ref)] == CARD_FEN - spent[card], card
