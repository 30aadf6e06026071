"""What lets several host nodes share one PostgreSQL database (issue 9), piece by piece:
RRNs without a row lock, balance moves locked only at COMMIT (and read back inside the
group), the terminal's row lock that serialises one request sent to two nodes, and a
group retried after a conflict answering from the attempt that committed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from hostkit import HEADER, PAN, T0_MS, TPDU, Term, open_host, signed_on

from kassa import ledger
from kassa.errors import StoreError
from kassa.host import repo
from kassa.host.admin import card_ref_for
from kassa.host.check import check_host
from kassa.host.core import HostCore
from kassa.host.schema import MIGRATIONS
from kassa.host.service import GroupCommitter
from kassa.iso8583 import Message, decode
from kassa.iso8583.fields import Field54
from kassa.iso8583.framing import Frame, split_body
from kassa.iso8583.transactions import TxnType
from kassa.store import Database, Transaction, TransientError, connect, migrate
from kassa.terminal import requests as rq

MID = "123456789012345"
OPENING_FEN = 100_000  # the PAN's "1000.00" in hostkit's reference


@pytest.fixture
def term(db_url: str) -> Iterator[Term]:
    with signed_on(*open_host(db_url)) as term:
        yield term


def body(term: Term, msg: Message) -> bytes:
    return Frame(TPDU, HEADER, rq.seal(msg, term.keys.mak if term.keys else None)).to_bytes()[2:]


def answer(raw: bytes | None) -> Message:
    assert raw is not None
    return decode(split_body(raw).message)


def balance_now(term: Term, account: str) -> int:
    with term.db.transaction(write=False) as tx:
        return repo.balance(tx, account)


# -- one group: balances read back inside it ------------------------------------------


def test_a_group_reads_its_own_balance_moves(term: Term) -> None:
    """Three requests in one transaction (one group): the second sees the first's debit
    although the balance rows are only written at COMMIT, and the third is refused for
    funds the group already spent."""
    account = ledger.card_account(card_ref_for(term.core.secrets, PAN))
    requests = [term.request(TxnType.SALE, 60_000), term.request(TxnType.BALANCE, None),
                term.request(TxnType.SALE, 50_000)]  # fmt: skip
    with term.db.transaction() as tx:
        replies = [answer(term.core.handle(tx, body(term, r), T0_MS)) for r in requests]
        assert repo.balance(tx, account) == OPENING_FEN - 60_000
    assert [r[39] for r in replies] == ["00", "00", "51"]
    assert Field54.parse(replies[1][54]).items[0].amount_fen == OPENING_FEN - 60_000
    assert balance_now(term, account) == OPENING_FEN - 60_000
    assert balance_now(term, ledger.merchant_account(MID)) == 60_000
    with term.db.transaction(write=False) as tx:
        assert check_host(tx).ok


def test_rrns_are_unique_increasing_and_twelve_digits(term: Term) -> None:
    rrns = [term.send(term.request(TxnType.BALANCE, None))[37] for _ in range(5)]
    assert all(len(r) == 12 and r.isdigit() for r in rrns)
    assert rrns == sorted(set(rrns))


# -- two nodes (two connections) on PostgreSQL ----------------------------------------


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[Term, Database]]:
    """A signed-on terminal on node A's connection, and node B's connection."""
    db, core = open_host(pg_url)
    t = Term(db, core)
    t.sign_on()
    other = connect(pg_url)
    try:
        yield t, other
    finally:
        other.close()
        db.close()


def impatient(tx: Transaction) -> None:
    """Fail with TransientError (lock_not_available) instead of waiting for a row lock."""
    tx.execute("SET LOCAL lock_timeout = '200ms'")


def test_an_rrn_takes_no_row_lock(two: tuple[Term, Database]) -> None:
    term, other = two
    with term.db.transaction() as tx_a:
        held = repo.next_rrn(tx_a)  # node A's group keeps going ...
        with other.transaction() as tx_b:
            impatient(tx_b)
            got = repo.next_rrn(tx_b)  # ... node B's does not wait for it
    assert got != held


def test_the_rrns_of_two_open_groups_never_meet(two: tuple[Term, Database]) -> None:
    """Each group takes its numbers from the sequence in blocks: two groups open at once,
    each using more than a block, never hand out the same RRN."""
    term, other = two
    with term.db.transaction() as tx_a, other.transaction() as tx_b:
        a = [repo.next_rrn(tx_a) for _ in range(40)]
        b = [repo.next_rrn(tx_b) for _ in range(40)]
        a += [repo.next_rrn(tx_a) for _ in range(5)]
    assert len(set(a) | set(b)) == 85
    assert a == sorted(a) and b == sorted(b)


def test_rrns_continue_past_the_counter_when_migrating(pg_url: str) -> None:
    """Host schema 3 starts the PostgreSQL sequence past the `counters` value: an RRN
    already given before the upgrade is never given again."""
    db = connect(pg_url)
    try:
        migrate(db, "host", MIGRATIONS[:2])
        with db.transaction() as tx:
            tx.execute("UPDATE counters SET value = 987654 WHERE name = 'rrn'")
        migrate(db, "host", MIGRATIONS)
        with db.transaction() as tx:
            assert repo.next_rrn(tx) > 987654
    finally:
        db.close()


def test_balance_moves_lock_nothing_before_commit(two: tuple[Term, Database]) -> None:
    """Two groups move the same card and merchant accounts: neither waits while handling
    (the rows are locked only at COMMIT, briefly, in account order) and both moves stand."""
    term, other = two
    ref = card_ref_for(term.core.secrets, PAN)
    account = ledger.card_account(ref)
    with term.db.transaction() as tx_a:
        repo.append_entry(tx_a, ledger.sale("a", ref, MID, 100, at_ms=T0_MS, entry_id="a"))
        with other.transaction() as tx_b:
            impatient(tx_b)
            repo.append_entry(tx_b, ledger.sale("b", ref, MID, 250, at_ms=T0_MS, entry_id="b"))
            assert repo.balance(tx_b, account) == OPENING_FEN - 250
        assert repo.balance(tx_a, account) == OPENING_FEN - 250 - 100  # B committed
    assert balance_now(term, account) == OPENING_FEN - 350
    assert balance_now(term, ledger.merchant_account(MID)) == 350


def test_the_terminal_lock_is_a_row_lock(two: tuple[Term, Database]) -> None:
    term, other = two
    with term.db.transaction() as tx_a:
        repo.lock_terminal(tx_a, term.who.tid, T0_MS)
        with pytest.raises(TransientError), other.transaction() as tx_b:
            impatient(tx_b)
            repo.lock_terminal(tx_b, term.who.tid, T0_MS)


def test_the_same_request_at_two_nodes_waits_then_replays(two: tuple[Term, Database]) -> None:
    """`_gate` locks the terminal's row BEFORE the idempotency look-up: node B, given the
    request node A is still handling, waits for A's commit, then replays A's answer. Were
    the lock taken later (or not at all), B would find nothing, try to book the sale too
    and fail on the unique identity: its terminal would get no answer."""
    term, other = two
    request = body(term, term.request(TxnType.SALE, 4_321))
    second: list[object] = []

    def node_b() -> None:
        try:
            with other.transaction() as tx:
                second.append(term.core.handle(tx, request, T0_MS))
        except StoreError as exc:
            second.append(exc)

    thread = threading.Thread(target=node_b)
    with term.db.transaction() as tx:
        first = answer(term.core.handle(tx, request, T0_MS))
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "node B did not wait for node A's open transaction"
    thread.join(10)
    assert len(second) == 1 and isinstance(second[0], bytes), second
    replay = answer(second[0])
    assert first[39] == "00"
    assert (replay[39], replay[37], replay[38]) == (first[39], first[37], first[38])
    with term.db.transaction(write=False) as tx:
        rows = tx.fetchall("SELECT COUNT(*) FROM txns WHERE stan = ?", (first[11],))
        assert rows[0][0] == 1
        assert check_host(tx).ok


# -- a group retried after a conflict ---------------------------------------------------


class ConflictOnce(HostCore):
    """The host core, but the first group's COMMIT fails as a deadlock would (after every
    request was handled and answered in memory)."""

    conflicts = 1

    def handle(self, tx: Transaction, body: bytes, now_ms: int) -> bytes | None:
        tx.defer("zz_injected", "conflict", 0, self._conflict)
        return super().handle(tx, body, now_ms)

    def _conflict(self, tx: Transaction, totals: list[tuple[str, int]]) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise TransientError("deadlock detected; retry the transaction")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_retried_group_answers_from_the_attempt_that_committed(term: Term) -> None:
    core = ConflictOnce(term.core.secrets, term.core.config, term.core.rand)
    committer = GroupCommitter(term.db, core)
    committer.start()
    try:
        requests = [body(term, term.request(TxnType.SALE, 1_000 + n)) for n in range(4)]
        raws = await asyncio.gather(*(committer.submit(r) for r in requests))
    finally:
        await committer.stop()
    assert core.conflicts == 0, "the injected conflict happened"
    replies = [answer(r) for r in raws]
    with term.db.transaction(write=False) as tx:
        for reply in replies:
            row = tx.fetchone(
                "SELECT rrn, auth_code, status FROM txns WHERE stan = ? AND mti = '0200'",
                (reply[11],),
            )
            assert row is not None
            assert (reply[39], reply[37], reply[38]) == ("00", row[0], row[1])
            assert row[2] == "approved"
        assert check_host(tx).ok
    account = ledger.card_account(card_ref_for(term.core.secrets, PAN))
    assert balance_now(term, account) == OPENING_FEN - sum(1_000 + n for n in range(4))


# -- funds decided at two nodes from one balance ---------------------------------------


def spend(tx: Transaction, ref: str, key: str, amount: int) -> int:
    """What a node's debit does: read the funds (the decision), then book the sale."""
    funds = repo.balance(tx, ledger.card_account(ref))
    repo.append_entry(tx, ledger.sale(key, ref, MID, amount, at_ms=T0_MS, entry_id=key))
    return funds


def test_two_nodes_cannot_both_spend_one_balance(two: tuple[Term, Database]) -> None:
    """Both nodes read 1000.00 and approve 800.00: the group that commits second finds the
    card moved under it and overdrawn, and is refused as a transient conflict (the group
    committer handles it again and then declines 51); only the first debit stands."""
    term, other = two
    ref = card_ref_for(term.core.secrets, PAN)
    with (
        pytest.raises(TransientError, match="another host node"),
        term.db.transaction() as tx_a,
    ):
        assert spend(tx_a, ref, "a", 80_000) == OPENING_FEN
        with other.transaction() as tx_b:
            assert spend(tx_b, ref, "b", 80_000) == OPENING_FEN
    assert balance_now(term, ledger.card_account(ref)) == OPENING_FEN - 80_000
    with term.db.transaction(write=False) as tx:
        assert repo.entry(tx, "a") is None  # the refused group left nothing
        assert repo.entry(tx, "b") is not None


def test_two_nodes_spending_within_the_balance_both_stand(two: tuple[Term, Database]) -> None:
    term, other = two
    ref = card_ref_for(term.core.secrets, PAN)
    with term.db.transaction() as tx_a:
        spend(tx_a, ref, "a", 30_000)
        with other.transaction() as tx_b:
            spend(tx_b, ref, "b", 30_000)
    assert balance_now(term, ledger.card_account(ref)) == OPENING_FEN - 60_000
