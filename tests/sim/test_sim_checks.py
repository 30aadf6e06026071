"""The invariant checks stay quiet on a clean day and catch each planted breakage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from kassa.iso8583.transactions import TxnType
from kassa.sim import run_seed
from kassa.sim.cashier import Cashier
from kassa.sim.checks import Checker
from kassa.sim.reference import CARDS
from kassa.sim.world import World
from kassa.terminal.states import State

CARD = CARDS[0]


@pytest.mark.parametrize("seed", [3, 14, 159])
def test_a_day_without_faults_keeps_every_invariant(seed: int) -> None:
    result = run_seed(seed, terminals=3, faults=False)
    assert result.ok, result.report()
    assert result.transactions > 10
    assert all(step.faults == () for step in result.trace)
    assert result.trace[-1].operation == "settle (end of day)"


async def _shop(tmp_path: Path, settle: bool) -> tuple[World, Checker, int]:
    """One till: signed on, one approved sale of 123.45, settled if asked."""
    world = World(1, 1, tmp_path)
    world.calm()
    checker = Checker(world)
    till = world.tills[0]
    assert (await till.pos.sign_on()).ok
    out = await till.pos.transact(Cashier.request(till, TxnType.SALE, 12_345, CARD, CARD.pin))
    assert out.state is State.APPROVED and out.txn_id is not None
    checker.told[(0, out.txn_id)] = out.state
    if settle:
        assert (await till.pos.settle()).ok
    return world, checker, out.txn_id


def _planted(tmp_path: Path, settle: bool, plant: Callable[[World, int], None],
             final: bool) -> set[str]:  # fmt: skip
    async def go() -> set[str]:
        world, checker, txn_id = await _shop(tmp_path, settle)
        try:
            checker.step(1)
            assert checker.violations == []  # nothing wrong before the plant
            plant(world, txn_id)
            checker.final(2) if final else checker.step(2)
            return {v.invariant for v in checker.violations}
        finally:
            world.close()

    return asyncio.run(go())


def _host(world: World, sql: str) -> None:
    with world.host_db.transaction() as tx:
        tx.execute(sql)


def _journal(world: World, sql: str, txn_id: int) -> None:
    with world.tills[0].pos.journal.db.transaction() as tx:
        tx.execute(sql, (txn_id,))


def test_clean_settled_shop_passes_the_final_checks(tmp_path: Path) -> None:
    assert _planted(tmp_path, True, lambda w, t: None, final=True) == set()


def test_money_made_from_nothing_is_caught(tmp_path: Path) -> None:
    sql = "UPDATE ledger_postings SET amount_fen = amount_fen + 1 WHERE seq = 0"
    found = _planted(tmp_path, False, lambda w, t: _host(w, sql), final=False)
    assert "money-conserved" in found


def test_an_identity_authorised_twice_is_caught(tmp_path: Path) -> None:
    sql = (
        "INSERT INTO txns (tid, batch, stan, mti, txn_type, content_hash, mid, amount_fen,"
        " response_code, status, settle_date, created_ms, updated_ms, request, response)"
        " SELECT tid, batch, stan, '0100', txn_type, content_hash, mid, amount_fen,"
        " response_code, status, settle_date, created_ms, updated_ms, request, response"
        " FROM txns WHERE mti = '0200'"
    )
    found = _planted(tmp_path, False, lambda w, t: _host(w, sql), final=False)
    assert "authorised-once" in found


def test_an_approval_the_cashier_saw_being_undone_is_caught(tmp_path: Path) -> None:
    sql = "UPDATE txns SET state = 'reversed' WHERE id = ?"
    found = _planted(tmp_path, False, lambda w, t: _journal(w, sql, t), final=False)
    assert "told-approved-stays" in found


def test_host_disagreeing_with_the_terminal_is_caught(tmp_path: Path) -> None:
    sql = "UPDATE txns SET status = 'declined' WHERE mti = '0200'"
    found = _planted(tmp_path, True, lambda w, t: _host(w, sql), final=True)
    assert {"terminal-agrees-with-host", "settlement-agrees"} <= found


def test_a_batch_never_settled_is_caught(tmp_path: Path) -> None:
    assert "batch-settled" in _planted(tmp_path, False, lambda w, t: None, final=True)


def test_a_charge_the_journal_does_not_know_is_caught(tmp_path: Path) -> None:
    sql = "UPDATE txns SET state = 'declined' WHERE id = ?"
    found = _planted(tmp_path, True, lambda w, t: _journal(w, sql, t), final=True)
    assert {"terminal-agrees-with-host", "card-balance", "merchant-balance"} <= found


def test_a_lost_receipt_is_caught(tmp_path: Path) -> None:
    sql = "DELETE FROM print_jobs WHERE txn_id = ?"
    found = _planted(tmp_path, True, lambda w, t: _journal(w, sql, t), final=True)
    assert found == {"receipt-kept"}
