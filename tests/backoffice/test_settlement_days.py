"""Across days: a late transaction, undoing what an earlier day settled, a negative net
carried as owed by the merchant, fees returned on a later refund. Numbers by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from test_settlement_kit import (
    AT_MS,
    CUT,
    DAY,
    DAY_MS,
    M1,
    M2,
    RUN_MS,
    World,
    at,
    day_one,
    open_world,
    refund,
    sale,
    void,
)

from kassa.backoffice import MerchantSettlement, RefundFees, load_details, run_day
from kassa.host.check import check_host
from kassa.ledger import FEE_INCOME, merchant_account
from kassa.terminal import requests as rq

DAY2, DAY3 = DAY + timedelta(days=1), DAY + timedelta(days=2)


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    w = open_world(db_url)
    try:
        yield w
    finally:
        w.close()


def only(result_merchants: tuple[MerchantSettlement, ...], mid: str) -> MerchantSettlement:
    (found,) = [m for m in result_merchants if m.mid == mid]
    return found


def assert_ledger_ok(world: World) -> None:
    with world.db.transaction(write=False) as tx:
        report = check_host(tx)
    assert report.ok, report.problems


def test_a_late_transaction_goes_to_the_next_day_once(world: World) -> None:
    day_one(world)
    first = run_day(world.db, DAY, RUN_MS, CUT)
    # A sale stamped inside day one's window reaches the store after day one was settled
    # (a host clock behind, a commit in flight at the cut-off).
    at(world, AT_MS + 60_000)
    sale(world.t1, 20_000)  # fee 1.20 + 0.10 = 1.30
    assert run_day(world.db, DAY, RUN_MS + 120_000, CUT) == first  # day one is closed
    second = run_day(world.db, DAY2, RUN_MS + DAY_MS, CUT)
    m1 = only(second.merchants, M1)
    assert (m1.gross_fen, m1.fee_fen, m1.net_fen, m1.payout_fen, m1.count) == (
        20_000, 130, 19_870, 19_870, 1,
    )  # fmt: skip
    assert [m.mid for m in second.merchants] == [M1]
    with world.db.transaction(write=False) as tx:
        assert [d.amount_fen for d in load_details(tx, "2026-11-19")] == [20_000]
    assert world.balance(merchant_account(M1)) == 0
    assert_ledger_ok(world)


def test_undoing_a_settled_sale_is_an_adjustment_and_a_carried_debt(world: World) -> None:
    day = day_one(world)
    run_day(world.db, DAY, RUN_MS, CUT)
    fee_income = world.balance(FEE_INCOME)
    # Day two: M2 voids the 25.00 sale settled on day one, and sells nothing.
    at(world, AT_MS + DAY_MS)
    the_void = void(world.t2, day.m2_sale_25, 2_500)
    two = only(run_day(world.db, DAY2, RUN_MS + DAY_MS, CUT).merchants, M2)
    # -25.00 back to the card; the 0.10 fee charged on day one comes back to the merchant.
    assert (two.gross_fen, two.adjust_fen, two.fee_fen, two.net_fen) == (0, -2_500, -10, -2_490)
    assert (two.payout_fen, two.carry_out_fen, two.count) == (0, -2_490, 1)
    assert two.payout_entry_id is None and two.fee_entry_id == f"fee:2026-11-19:{M2}"
    assert world.balance(FEE_INCOME) == fee_income - 10
    assert world.balance(merchant_account(M2)) == -2_490  # owed by the merchant
    assert_ledger_ok(world)
    # Day three: the void is reversed (the sale stands again: +25.00, fee 0.10 again)
    # and M2 sells 100.00 (fee 0.38); the debt carried in is taken off the payout.
    at(world, AT_MS + 2 * DAY_MS)
    world.t2.send(rq.reversal(the_void, "98"))
    sale(world.t2, 10_000)
    three = only(run_day(world.db, DAY3, RUN_MS + 2 * DAY_MS, CUT).merchants, M2)
    assert (three.gross_fen, three.adjust_fen, three.fee_fen) == (10_000, 2_500, 48)
    assert (three.net_fen, three.carry_in_fen, three.payout_fen) == (12_452, -2_490, 9_962)
    assert three.carry_out_fen == 0 and three.count == 2
    assert world.balance(merchant_account(M2)) == 0
    assert_ledger_ok(world)


def test_a_void_and_its_reversal_on_the_same_day_cancel(world: World) -> None:
    day = day_one(world)
    run_day(world.db, DAY, RUN_MS, CUT)
    at(world, AT_MS + DAY_MS)
    world.t2.send(rq.reversal(void(world.t2, day.m2_sale_25, 2_500), "98"))
    two = only(run_day(world.db, DAY2, RUN_MS + DAY_MS, CUT).merchants, M2)
    assert (two.adjust_fen, two.fee_fen, two.net_fen, two.count) == (0, 0, 0, 0)
    with world.db.transaction(write=False) as tx:
        roles = [d.role for d in load_details(tx, "2026-11-19", M2)]
    assert roles == ["excluded", "excluded"]
    assert world.balance(merchant_account(M2)) == 0
    assert_ledger_ok(world)


def test_fees_returned_on_a_later_refund_use_the_fee_charged(world: World) -> None:
    day = day_one(world)
    run_day(world.db, DAY, RUN_MS, CUT, refund_fees=RefundFees.returned)
    at(world, AT_MS + DAY_MS)
    refund(world.t1, day.m1_sale, 6_000)  # the rest of the 100.00 sale
    # 0.28 came back with the first 40.00; the last 60.00 brings the rest of 0.70: 0.42.
    two = only(
        run_day(world.db, DAY2, RUN_MS + DAY_MS, CUT, refund_fees=RefundFees.returned).merchants,
        M1,
    )
    assert (two.refunds_fen, two.fee_fen, two.net_fen, two.payout_fen) == (6_000, -42, -5_958, 0)
    assert world.balance(merchant_account(M1)) == -5_958
    assert_ledger_ok(world)
