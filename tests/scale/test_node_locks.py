"""Two host nodes' group transactions on one PostgreSQL database, step by step.

Each node's `GroupCommitter` holds one transaction open for a whole group, so whatever
row a request locks stays locked until the group commits. Rows every request touches are
shared by all nodes. They used to be the RRN counter (`counters`, UPDATE ... RETURNING)
and, for every sale, the card's and the merchant's `accounts` rows (upserts): node B's
group holding the counter and node A's holding the merchant waited on each other, as did
two groups that had charged two cards in opposite orders in different requests; one
group was aborted ("deadlock detected" after `deadlock_timeout`, 1 s). Now an RRN comes
from a sequence (`nextval`, no row lock) and balance upserts are deferred to the group's
COMMIT, all accounts in sorted order (`Transaction.defer`): no lock cycle can form.

Here those interleavings are built deterministically with two cores and two
connections, as two nodes run them; both groups must commit with every answer given.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from nodes import MID, TMK_HEX, load, pan, tid

from kassa.card import CardInput
from kassa.errors import StoreError
from kassa.host import repo
from kassa.host.admin import card_ref_for
from kassa.host.check import check_host
from kassa.host.runtime import HostRuntime, open_host
from kassa.iso8583 import decode
from kassa.iso8583.fields import Field60
from kassa.iso8583.framing import Frame, Header, split_body
from kassa.iso8583.keys import KeyMode, WorkingKeys, unwrap_working_keys
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.ledger import card_account, merchant_account
from kassa.terminal import requests as rq

pytestmark = pytest.mark.postgres

TPDU = bytes.fromhex("6000030000")
HEADER = Header(bytes.fromhex("603100310000"))


def body(raw: bytes) -> bytes:
    return Frame(TPDU, HEADER, raw).to_bytes()[2:]


class Node:
    """A host core with its own database connection, as one `kassa host serve` has."""

    def __init__(self, db_url: str, home: Path) -> None:
        self.runtime: HostRuntime = open_host(db_url, home)

    def handle(self, frame: bytes) -> str:
        with self.runtime.db.transaction() as tx, tx.savepoint():
            answer = self.runtime.core.handle(tx, frame, int(time.time() * 1000))
        assert answer is not None
        return str(decode(split_body(answer).message)[39])


def sign_on(node: Node, n: int) -> tuple[rq.Identity, WorkingKeys, str]:
    who = rq.Identity(tid(n), MID)
    with node.runtime.db.transaction() as tx:
        raw = node.runtime.core.handle(
            tx, body(rq.seal(rq.sign_on(who, "000001", "000001"), None)), int(time.time() * 1000)
        )
    assert raw is not None
    reply = decode(split_body(raw).message)
    keys, ok = unwrap_working_keys(bytes.fromhex(TMK_HEX), bytes.fromhex(reply[62]), KeyMode.DOUBLE)
    assert ok
    return who, keys, Field60.parse(reply[60]).batch


def request(term: tuple[rq.Identity, WorkingKeys, str], txn: TxnType, stan: str, card: int,
            amount: int | None) -> bytes:  # fmt: skip
    who, keys, batch = term
    entry = CardInput.from_swipe(f";{pan(card)}=30121010000012345?")
    block = make_pin_block(keys.pik, "1234", pan(card))
    return body(rq.seal(rq.financial(txn, who, stan, batch, amount, entry, block), keys.mak))


def test_two_groups_on_two_nodes_both_commit(pg_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    load(pg_url, home, 2, 4)
    node_a, node_b = Node(pg_url, home), Node(pg_url, home)
    term_a, term_b = sign_on(node_a, 0), sign_on(node_b, 1)
    outcome: dict[str, object] = {}
    b_holds_counter = threading.Event()

    def node_b_group() -> None:
        try:
            with node_b.runtime.db.transaction() as tx:
                now = int(time.time() * 1000)
                first = node_b.runtime.core.handle(
                    tx, request(term_b, TxnType.BALANCE, "000011", 1, None), now
                )  # its RRN (formerly: the counter row, locked until this group commits)
                b_holds_counter.set()
                time.sleep(
                    0.5
                )  # node A's sale meanwhile (formerly locked the merchant, then waited)
                second = node_b.runtime.core.handle(
                    tx, request(term_b, TxnType.SALE, "000012", 2, 5_000), now
                )
            outcome["b"] = (first is not None, second is not None)
        except StoreError as exc:
            outcome["b"] = exc

    thread = threading.Thread(target=node_b_group)
    thread.start()
    assert b_holds_counter.wait(10)
    try:
        outcome["a"] = node_a.handle(request(term_a, TxnType.SALE, "000021", 3, 7_000))
    except StoreError as exc:
        outcome["a"] = exc
    thread.join(30)
    node_a.runtime.close()
    node_b.runtime.close()
    for value in outcome.values():
        if isinstance(value, StoreError):
            raise value  # "deadlock detected": a whole group aborted
    assert outcome == {"a": "00", "b": (True, True)}


def test_two_cards_charged_in_opposite_orders_both_commit(pg_url: str, tmp_path: Path) -> None:
    """The cycle that sorting within one request cannot break: node A's group charges card
    1 then (next request) card 2, node B's group card 2 then card 1, same merchant. Were
    each sale's account rows locked at once, A would hold card 1 and the merchant, B card
    2 and wait for the merchant, then A wait for card 2: a deadlock across requests."""
    home = tmp_path / "home"
    load(pg_url, home, 2, 4)
    node_a, node_b = Node(pg_url, home), Node(pg_url, home)
    term_a, term_b = sign_on(node_a, 0), sign_on(node_b, 1)
    a_first, b_first, a_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def node_b_group() -> None:
        try:
            with node_b.runtime.db.transaction() as tx:
                now = int(time.time() * 1000)
                assert a_first.wait(10)
                first = node_b.runtime.core.handle(
                    tx, request(term_b, TxnType.SALE, "000031", 2, 4_000), now
                )
                b_first.set()
                a_done.wait(5)  # formerly: A blocked on card 2 here, and B below on card 1
                second = node_b.runtime.core.handle(
                    tx, request(term_b, TxnType.SALE, "000032", 1, 6_000), now
                )
            outcome["b"] = [code_of(first), code_of(second)]
        except StoreError as exc:
            outcome["b"] = exc

    thread = threading.Thread(target=node_b_group)
    thread.start()
    try:
        with node_a.runtime.db.transaction() as tx:
            now = int(time.time() * 1000)
            first = node_a.runtime.core.handle(
                tx, request(term_a, TxnType.SALE, "000041", 1, 1_000), now
            )
            a_first.set()
            b_first.wait(3)  # formerly B was blocked on the merchant account by then
            second = node_a.runtime.core.handle(
                tx, request(term_a, TxnType.SALE, "000042", 2, 3_000), now
            )
        outcome["a"] = [code_of(first), code_of(second)]
    except StoreError as exc:
        outcome["a"] = exc
    a_done.set()
    thread.join(30)
    balances = {}
    with node_a.runtime.db.transaction(write=False) as tx:
        for card in (1, 2):
            ref_ = card_ref_for(node_a.runtime.secrets, pan(card))
            balances[card] = repo.balance(tx, card_account(ref_))
        balances[0] = repo.balance(tx, merchant_account(MID))
        report = check_host(tx)
    node_a.runtime.close()
    node_b.runtime.close()
    for value in outcome.values():
        if isinstance(value, StoreError):
            raise value
    assert outcome == {"a": ["00", "00"], "b": ["00", "00"]}
    opening = 10_000_000  # "100000.00" in the reference
    assert balances == {1: opening - 7_000, 2: opening - 7_000, 0: 14_000}
    assert report.ok, report.problems


def code_of(answer: bytes | None) -> str:
    assert answer is not None
    return str(decode(split_body(answer).message)[39])
