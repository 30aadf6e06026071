"""Builders and the worked examples of the ledger brief."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from kassa.ledger import (
    FEE_INCOME,
    FUNDING,
    SUSPENSE,
    EntryKind,
    balances,
    card_account,
    check_all,
    completion,
    completion_max_fen,
    completion_void_of,
    correction,
    fee,
    fund,
    hold_account,
    merchant_account,
    preauth_hold,
    preauth_release,
    refund,
    reversal_of,
    sale,
    settlement_payout,
    void_of,
)

REF = "tok-0001"
MID = "898100012340001"
CARD, HOLD, SHOP = card_account(REF), hold_account(REF), merchant_account(MID)


def yuan(text: str) -> int:
    """Yuan to fen, computed here independently of the code under test."""
    return int(Decimal(text) * 100)


def test_sale_then_void_leaves_every_balance_where_it_started() -> None:
    funded = fund(REF, yuan("300.00"), txn_key="TOPUP:1", at_ms=1, entry_id="e1")
    before = balances([funded])
    bought = sale("T1:000001:000010", REF, MID, yuan("100.00"), at_ms=2, entry_id="e2")
    assert balances([funded, bought])[CARD] == yuan("200.00")
    voided = void_of(bought, txn_key="T1:000001:000011", at_ms=3, entry_id="e3")
    after = balances([funded, bought, voided])
    assert {a: n for a, n in after.items() if n} == {a: n for a, n in before.items() if n}
    assert after[SHOP] == 0
    assert voided.reverses == "e2" and voided.txn_key == "T1:000001:000011"
    approved = {"TOPUP:1", "T1:000001:000010"} - {"TOPUP:1"}
    assert check_all([funded, bought, voided], approved, lambda _ref: 0) == []


def test_hold_of_500_completed_for_480_leaves_card_at_minus_480_and_hold_at_0() -> None:
    # A credit card: no funding, floor at -limit.
    held = preauth_hold("T1:000001:000020", REF, yuan("500"), at_ms=1, entry_id="h")
    assert balances([held]) == {CARD: -yuan("500"), HOLD: yuan("500")}
    done = completion(held, yuan("480"), mid=MID, txn_key="T1:000001:000021", at_ms=2, entry_id="c")
    result = balances([held, done])
    assert result == {CARD: -yuan("480"), HOLD: 0, SHOP: yuan("480")}
    assert done.reverses == "h"
    problems = check_all([held, done], {"T1:000001:000021"}, lambda _ref: -yuan("1000"))
    assert problems == []


def test_completion_void_reopens_the_hold_and_it_can_be_released() -> None:
    held = preauth_hold("P:1", REF, 50000, at_ms=1, entry_id="h")
    done = completion(held, 52000, mid=MID, txn_key="P:2", at_ms=2, entry_id="c")
    undone = completion_void_of(done, txn_key="P:3", at_ms=3, entry_id="cv")
    assert balances([held, done, undone]) == {CARD: -50000, HOLD: 50000, SHOP: 0}
    released = preauth_release(held, txn_key="P:4", at_ms=4, entry_id="r")
    final = balances([held, done, undone, released])
    assert final == {CARD: 0, HOLD: 0, SHOP: 0}
    entries = [held, done, undone, released]
    # The completion was approved and stays counted: its void is a transaction of its own.
    assert check_all(entries, {"P:2"}, lambda _ref: -100000) == []


def test_fee_at_038_percent_is_a_separate_entry_from_the_sale() -> None:
    amount = yuan("1234.56")
    # 0.38% of ¥1234.56 is ¥4.691328, rounded half up to the fen: 469 fen.
    fee_fen = int((Decimal(amount) * Decimal("0.0038")).quantize(Decimal(1), ROUND_HALF_UP))
    assert fee_fen == 469
    funded = fund(REF, amount, txn_key="F", at_ms=0, entry_id="f")
    bought = sale("S", REF, MID, amount, at_ms=1, entry_id="s")
    charged = fee(MID, fee_fen, txn_key="S", at_ms=2, entry_id="fee-s")
    assert charged.kind is EntryKind.fee
    assert {p.account for p in bought.postings} == {CARD, SHOP}
    assert balances([funded, bought, charged]) == {
        FUNDING: -amount,
        CARD: 0,
        SHOP: amount - fee_fen,
        FEE_INCOME: fee_fen,
    }


def test_reversal_carries_the_original_identity_and_mirrors_it() -> None:
    bought = sale("T1:000001:000030", REF, MID, 999, at_ms=1, entry_id="s")
    back = reversal_of(bought, at_ms=2, entry_id="rv")
    assert back.txn_key == bought.txn_key and back.reverses == "s"
    assert {(p.account, -p.amount_fen) for p in back.postings} == {
        (p.account, p.amount_fen) for p in bought.postings
    }
    void = void_of(bought, txn_key="T1:000001:000031", at_ms=3, entry_id="v")
    void_back = reversal_of(void, at_ms=4, entry_id="vr")
    assert void_back.txn_key == "T1:000001:000031"


def test_over_capture_is_bounded_at_115_percent() -> None:
    held = preauth_hold("P", REF, 10001, at_ms=1, entry_id="h")
    limit = completion_max_fen(10001)
    assert limit == 11501  # 10001 * 1.15 = 11501.15, rounded down
    assert (
        completion(held, limit, mid=MID, txn_key="C", at_ms=2, entry_id="c").amount_on(SHOP)
        == limit
    )
    with pytest.raises(ValueError, match="exceeds"):
        completion(held, limit + 1, mid=MID, txn_key="C", at_ms=2, entry_id="c")
    assert completion_max_fen(10000, over_capture_max_percent=0) == 10000


def test_builders_refuse_what_the_host_should_have_refused() -> None:
    bought = sale("S", REF, MID, 100, at_ms=1, entry_id="s")
    for amount in (0, -1, 1.5, True, 10**13):
        with pytest.raises(ValueError):
            sale("S", REF, MID, amount, at_ms=1, entry_id="s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot undo"):
        void_of(
            void_of(bought, txn_key="V", at_ms=2, entry_id="v"),
            txn_key="V2",
            at_ms=3,
            entry_id="v2",
        )
    with pytest.raises(ValueError, match="cannot undo"):
        preauth_release(bought, txn_key="R", at_ms=2, entry_id="r")
    with pytest.raises(ValueError, match="captures a preauth_hold"):
        completion(bought, 100, mid=MID, txn_key="C", at_ms=2, entry_id="c")
    refunded = refund("RF", REF, MID, 100, at_ms=3, entry_id="rf")
    with pytest.raises(ValueError, match="cannot undo"):
        reversal_of(refunded, at_ms=4, entry_id="rr")  # refunds are advices, never reversed
    with pytest.raises(ValueError, match="reason"):
        correction(SUSPENSE, CARD, 100, "  ", txn_key="K", at_ms=1, entry_id="k")


def test_refund_correction_and_payout_move_money_as_documented() -> None:
    entries = [
        fund(REF, 1000, txn_key="F", at_ms=0, entry_id="f"),
        sale("S", REF, MID, 700, at_ms=1, entry_id="s"),
        refund("RF", REF, MID, 200, at_ms=2, entry_id="rf"),
        correction(
            SHOP, SUSPENSE, 50, "ops: double-keyed, ticket 17", txn_key="K", at_ms=3, entry_id="k"
        ),
        settlement_payout(MID, 450, txn_key="PAY:1", at_ms=4, entry_id="p"),
    ]
    assert entries[3].memo == "ops: double-keyed, ticket 17"
    assert balances(entries) == {FUNDING: -550, CARD: 500, SHOP: 0, SUSPENSE: 50}
    assert check_all(entries, {"S"}, lambda _ref: 0) == []
