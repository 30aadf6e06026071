"""A settlement day end to end on SQLite and PostgreSQL: numbers worked out by hand (see
test_settlement_kit), reruns, a crash half-way, the ledger kept sound."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from test_settlement_kit import (
    AT_MS,
    CUT,
    DAY,
    M1,
    M2,
    RUN_MS,
    World,
    day_one,
    open_world,
)

from kassa.backoffice import Cutoff, MerchantSettlement, RefundFees, load_day, run_day
from kassa.errors import InputError
from kassa.host.check import check_host
from kassa.ledger import FEE_INCOME, merchant_account

# (gross, refunds, adjust, fee, net, carry_in, payout, count) per merchant, by hand.
M1_KEPT = (528_100, 4_000, 0, 2_238, 521_862, 0, 521_862, 5)
M2_KEPT = (1_104_999, 100_000, 0, 2_899, 1_002_100, 0, 1_002_100, 5)
M1_RETURNED = (528_100, 4_000, 0, 2_210, 521_890, 0, 521_890, 5)
M2_RETURNED = (1_104_999, 100_000, 0, 2_519, 1_002_480, 0, 1_002_480, 5)


def numbers(m: MerchantSettlement) -> tuple[int, ...]:
    return (m.gross_fen, m.refunds_fen, m.adjust_fen, m.fee_fen, m.net_fen, m.carry_in_fen,
            m.payout_fen, m.count)  # fmt: skip


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    w = open_world(db_url)
    try:
        yield w
    finally:
        w.close()


def assert_ledger_ok(world: World) -> None:
    with world.db.transaction(write=False) as tx:
        report = check_host(tx)
    assert report.ok, report.problems


@pytest.mark.parametrize(
    ("policy", "m1", "m2"),
    [(RefundFees.kept, M1_KEPT, M2_KEPT), (RefundFees.returned, M1_RETURNED, M2_RETURNED)],
)
def test_a_day_of_two_merchants(
    world: World, policy: RefundFees, m1: tuple[int, ...], m2: tuple[int, ...]
) -> None:
    day_one(world)
    before = world.entries()
    result = run_day(world.db, DAY, RUN_MS, CUT, refund_fees=policy)
    assert result.status == "done" and result.settle_day == "2026-11-18"
    assert (result.window_start_ms, result.window_end_ms) == CUT.window_ms(DAY)
    assert [m.mid for m in result.merchants] == [M1, M2]
    assert numbers(result.merchants[0]) == m1
    assert numbers(result.merchants[1]) == m2
    assert result.merchants[0].name == "测试商户, 一号"
    assert result.merchants[0].payout_entry_id == f"payout:2026-11-18:{M1}"
    assert result.merchants[1].fee_entry_id == f"fee:2026-11-18:{M2}"
    assert result.total("payout_fen") == m1[6] + m2[6]
    # One fee and one payout entry per merchant; everything owed was paid out.
    assert world.entries() == before + 4
    assert world.balance(merchant_account(M1)) == 0
    assert world.balance(merchant_account(M2)) == 0
    assert world.balance(FEE_INCOME) == m1[3] + m2[3]
    assert_ledger_ok(world)


def test_running_a_day_again_changes_nothing(world: World) -> None:
    day_one(world)
    first = run_day(world.db, DAY, RUN_MS, CUT)
    entries = world.entries()
    again = run_day(world.db, DAY, RUN_MS + 5 * 3_600_000, CUT)
    assert again == first
    assert world.entries() == entries
    with world.db.transaction(write=False) as tx:
        assert load_day(tx, "2026-11-18") == first


class Crash(Exception):
    pass


def test_a_crash_after_the_first_merchant_resumes_with_the_rest(world: World) -> None:
    day_one(world)

    def crash(settled: MerchantSettlement) -> None:
        raise Crash(settled.mid)

    with pytest.raises(Crash, match=M1):
        run_day(world.db, DAY, RUN_MS, CUT, after_merchant=crash)
    with world.db.transaction(write=False) as tx:
        half = load_day(tx, "2026-11-18")
    assert half is not None and half.status == "running"
    assert [numbers(m) for m in half.merchants] == [M1_KEPT]
    assert world.balance(merchant_account(M2)) == M2_KEPT[0] - M2_KEPT[1]  # not paid yet
    # Another day cannot start while this one is half done.
    with pytest.raises(InputError, match="did not finish"):
        run_day(world.db, DAY + timedelta(days=1), RUN_MS + 86_400_000, CUT)

    seen: list[str] = []
    done = run_day(world.db, DAY, RUN_MS + 60_000, CUT, after_merchant=lambda m: seen.append(m.mid))
    assert seen == [M2]  # M1 is not settled (nor paid) twice
    assert done.status == "done"
    assert [numbers(m) for m in done.merchants] == [M1_KEPT, M2_KEPT]
    assert world.balance(merchant_account(M1)) == 0
    assert world.balance(merchant_account(M2)) == 0
    assert_ledger_ok(world)


def test_a_resume_must_use_the_same_terms(world: World) -> None:
    day_one(world)
    with pytest.raises(Crash):
        run_day(world.db, DAY, RUN_MS, CUT, after_merchant=lambda m: (_ for _ in ()).throw(Crash()))
    with pytest.raises(InputError, match="same options"):
        run_day(world.db, DAY, RUN_MS, CUT, refund_fees=RefundFees.returned)
    with pytest.raises(InputError, match="same options"):
        run_day(world.db, DAY, RUN_MS, Cutoff(22, 0))


def test_a_day_is_settled_only_after_its_cut_off_and_in_order(world: World) -> None:
    day_one(world)
    end = CUT.end_ms(DAY)
    with pytest.raises(InputError, match="closes at 2026-11-18 23:00 UTC\\+0800"):
        run_day(world.db, DAY, end - 1, CUT)
    run_day(world.db, DAY, end, CUT)
    with pytest.raises(InputError, match="settle days in order"):
        run_day(world.db, DAY - timedelta(days=1), end, CUT)


def test_an_empty_day_settles_nobody(world: World) -> None:
    result = run_day(world.db, date(2026, 11, 10), RUN_MS, CUT)
    assert result.status == "done" and result.merchants == ()
    assert result.total("net_fen") == 0


def test_cut_off_windows() -> None:
    # 23:00 UTC+8 is 15:00 UTC: day D runs from D-1 15:00 UTC to D 15:00 UTC.
    start, end = Cutoff().window_ms(DAY)
    assert end - start == 86_400_000
    assert end == 1_795_014_000_000  # 2026-11-18T15:00:00Z
    assert start <= AT_MS < end
    # An early-morning cut-off closes the day in the small hours after it.
    assert Cutoff(2, 0).end_ms(DAY) == end + 3 * 3_600_000  # 02:00 on D+1, 3 h after 23:00
    assert Cutoff(0, 0).end_ms(DAY) == end + 3_600_000  # midnight at the end of D
    assert Cutoff(23, 0, 0).end_ms(DAY) == end + 8 * 3_600_000  # the same clock time in UTC
    assert Cutoff().last_closed_day(end) == DAY
    assert Cutoff().last_closed_day(end - 1) == DAY - timedelta(days=1)
    assert Cutoff(0, 0).last_closed_day(end + 3_600_000) == DAY


@pytest.mark.parametrize("text", ["25:00", "23", "23:5", "ab:cd", "", "23:60", "-1:00"])
def test_bad_cut_offs_are_one_line_input_errors(text: str) -> None:
    with pytest.raises(InputError, match=r"give e\.g\. 23:00") as caught:
        Cutoff.parse(text)
    assert "\n" not in str(caught.value)


def test_cut_off_parses() -> None:
    assert Cutoff.parse("23:00") == Cutoff()
    assert Cutoff.parse(" 02:30 ", 0) == Cutoff(2, 30, 0)
