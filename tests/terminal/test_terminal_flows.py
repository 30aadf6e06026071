"""The terminal's promise, end to end against the real host core: journal before send,
automatic reversal, store-and-forward, recovery after a power cut, settlement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from termkit import Rig, balance, ledger_ok, make_rig, rigged

from kassa.iso8583.transactions import TxnType
from kassa.net import Fault
from kassa.terminal.requests import Original
from kassa.terminal.service import TxnRequest
from kassa.terminal.states import State

pytestmark = pytest.mark.anyio
T = TxnType


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    with rigged(db_url, tmp_path, floor_limit_fen=20_000) as r:
        yield r


async def test_sign_on_and_sale(rig: Rig) -> None:
    result = await rig.terminal.sign_on()
    assert result.ok and result.batch == "000001"
    assert rig.terminal.status()["signed_on"] is True
    outcome = await rig.sale(12_345)
    assert outcome.state is State.APPROVED and outcome.code == "00" and outcome.rrn
    row = rig.terminal.journal.txn(outcome.txn_id or 0)
    assert row is not None and row.state is State.APPROVED and row.pan_masked.startswith("621226")
    assert rig.terminal.journal.sealed(row.id, "request_sealed") is None  # no track/PIN kept
    assert balance(rig) == 100_000 - 12_345
    ledger_ok(rig)


async def test_not_signed_on_sends_nothing(rig: Rig) -> None:
    out = await rig.terminal.transact(TxnRequest(T.SALE, 100, rig.card()))
    assert out.state is None and out.code == "not_signed_on"
    assert rig.terminal.journal.txns() == []  # nothing journaled, nothing sent


async def test_lost_response_is_reversed_automatically_never_charged(rig: Rig) -> None:
    await rig.terminal.sign_on()
    rig.schedule.add(Fault.DROP_RESPONSE)
    outcome = await rig.sale(5_000)
    assert outcome.state is State.IN_DOUBT and outcome.code == "response_timeout"
    assert "reversed" in outcome.notes
    row = rig.terminal.journal.txn(outcome.txn_id or 0)
    assert row is not None and row.state is State.REVERSED
    assert balance(rig) == 100_000  # the host had booked it; the reversal undid it
    ledger_ok(rig)


async def test_reversal_waits_while_host_is_away_then_goes_first(rig: Rig) -> None:
    await rig.terminal.sign_on()
    rig.schedule.add(Fault.DROP_RESPONSE).add(Fault.DROP_REQUEST)
    outcome = await rig.sale(5_000)
    assert outcome.state is State.IN_DOUBT and "reversal_pending" in outcome.notes
    assert balance(rig) == 100_000 - 5_000  # booked at the host, reversal not yet through
    nxt = await rig.sale(100)  # the pending reversal goes first, then this sale
    assert nxt.state is State.APPROVED
    assert rig.terminal.journal.in_states(State.IN_DOUBT) == []
    assert balance(rig) == 100_000 - 100
    ledger_ok(rig)


async def test_host_unreachable_sale_goes_offline_and_uploads_once(rig: Rig) -> None:
    await rig.terminal.sign_on()
    rig.schedule.add(Fault.DROP_REQUEST, times=3)  # the sale, one upload attempt, the next sale
    outcome = await rig.sale(8_000)
    assert outcome.state is State.OFFLINE
    too_big = await rig.sale(30_000)
    assert too_big.state is State.NOT_SENT and too_big.code == "host_unreachable"
    assert balance(rig) == 100_000
    assert rig.terminal.status()["saf_count"] == 1
    nxt = await rig.sale(1_000)  # the link is back: upload first, then the new sale
    assert nxt.state is State.APPROVED
    row = rig.terminal.journal.txn(outcome.txn_id or 0)
    assert row is not None and row.state is State.UPLOADED
    assert balance(rig) == 100_000 - 8_000 - 1_000
    await rig.terminal.pending.resolve()  # nothing uploads twice
    assert balance(rig) == 100_000 - 9_000
    ledger_ok(rig)


async def test_offline_caps_fail_closed(db_url: str, tmp_path: Path) -> None:
    rig = make_rig(db_url, tmp_path, floor_limit_fen=20_000, saf_count_max=2)
    try:
        await rig.terminal.sign_on()
        rig.schedule.add(Fault.DROP_REQUEST, times=10)
        states = [(await rig.sale(1_000)).state for _ in range(3)]
        assert states == [State.OFFLINE, State.OFFLINE, State.NOT_SENT]
        assert rig.terminal.status()["saf_count"] == 2  # nothing dropped
    finally:
        rig.close()


async def test_power_cut_after_journal_before_answer_is_recovered(rig: Rig) -> None:
    await rig.terminal.sign_on()
    req = rig.request(T.SALE, 7_000)
    txn_id, msg = rig.terminal.transactions._journal(req)
    # The request reached the host; then the terminal lost power before the answer.
    rig.host_handle(rig.terminal.ctx.frame(msg, rig.terminal.journal.keys()))
    assert balance(rig) == 100_000 - 7_000
    terminal = rig.restart()
    found = await terminal.recover()
    assert [o.code for o in found] == ["power_loss_recovered"]
    row = terminal.journal.txn(txn_id)
    assert row is not None and row.state is State.REVERSED
    assert balance(rig) == 100_000
    ledger_ok(rig)


async def test_power_cut_before_send_reversal_is_remembered(rig: Rig) -> None:
    await rig.terminal.sign_on()
    req = rig.request(T.SALE, 7_000)
    txn_id, msg = rig.terminal.transactions._journal(req)
    frame = rig.terminal.ctx.frame(msg, rig.terminal.journal.keys())
    terminal = rig.restart()
    await terminal.recover()
    assert terminal.journal.txn(txn_id).state is State.REVERSED  # type: ignore[union-attr]
    # The original turns up late (a retransmission in the network): declined, not charged.
    rig.host_handle(frame)
    assert balance(rig) == 100_000
    ledger_ok(rig)


async def test_void_and_refund(rig: Rig) -> None:
    await rig.terminal.sign_on()
    sale = await rig.sale(2_000)
    orig = Original(sale.batch or "", sale.stan or "", rrn=sale.rrn, auth_code=sale.auth_code)
    void = await rig.terminal.transact(
        rig.request(T.VOID, 2_000, original=orig, orig_id=sale.txn_id)
    )
    assert void.state is State.APPROVED
    assert rig.terminal.journal.txn(sale.txn_id or 0).state is State.VOIDED  # type: ignore[union-attr]
    sale2 = await rig.sale(3_000)
    ref = Original(sale2.batch or "", sale2.stan or "", date="1118", rrn=sale2.rrn)
    refund = await rig.terminal.transact(rig.request(T.REFUND, 1_000, pin=None, original=ref))
    assert refund.state is State.APPROVED
    assert balance(rig) == 100_000 - 3_000 + 1_000
    ledger_ok(rig)


async def test_refund_without_answer_is_resent_with_the_same_stan(rig: Rig) -> None:
    await rig.terminal.sign_on()
    sale = await rig.sale(3_000)
    ref = Original(sale.batch or "", sale.stan or "", date="1118", rrn=sale.rrn)
    rig.schedule.add(Fault.DROP_RESPONSE)
    refund = await rig.terminal.transact(rig.request(T.REFUND, 1_000, pin=None, original=ref))
    assert refund.state is State.RESEND
    await rig.terminal.pending.resolve()
    row = rig.terminal.journal.txn(refund.txn_id or 0)
    assert row is not None and row.state is State.APPROVED and row.stan == refund.stan
    assert balance(rig) == 100_000 - 3_000 + 1_000  # refunded once, not twice
    ledger_ok(rig)


async def test_bad_mac_on_approval_reverses_with_a0_and_signs_on_again(rig: Rig) -> None:
    await rig.terminal.sign_on()
    # Corrupt the MAC of the host's answer on its way back.
    original = rig.host_handle

    def tamper(body: bytes) -> bytes | None:
        answer = original(body)
        assert answer is not None
        return answer[:-1] + bytes([answer[-1] ^ 1])

    rig.terminal.ctx.link = type(rig.terminal.ctx.link)(tamper, schedule=rig.schedule)
    outcome = await rig.sale(4_000)
    rig.terminal.ctx.link = type(rig.terminal.ctx.link)(original, schedule=rig.schedule)
    await rig.terminal.pending.resolve()
    assert outcome.code == "bad_response_mac"
    row = rig.terminal.journal.txn(outcome.txn_id or 0)
    assert row is not None and row.state is State.REVERSED and row.reversal_reason == "A0"
    assert balance(rig) == 100_000
    ledger_ok(rig)


async def test_host_asks_for_sign_on_and_the_terminal_obeys(rig: Rig) -> None:
    await rig.terminal.sign_on()
    with rig.db.transaction() as tx:
        tx.execute("UPDATE terminals SET signed_on = 0")
    outcome = await rig.sale(500)
    assert outcome.code == "C1" and outcome.state is State.DECLINED
    assert rig.terminal.ctx.signed_on  # re-signed on by itself
    assert (await rig.sale(500)).state is State.APPROVED


async def test_settlement_balanced(rig: Rig) -> None:
    await rig.terminal.sign_on()
    for amount in (1_000, 2_000):
        await rig.sale(amount)
    result = await rig.terminal.settle()
    assert result.ok and result.balanced and result.batch == "000001"
    assert rig.terminal.ctx.batch == "000002"
    assert (await rig.sale(700)).state is State.APPROVED  # the new batch works at the host


async def test_settlement_unbalanced_uploads_the_batch(rig: Rig) -> None:
    await rig.terminal.sign_on()
    await rig.sale(1_000)
    sale = await rig.sale(2_000)
    with rig.db.transaction() as tx:  # the host lost track of one approval
        tx.execute("UPDATE txns SET status = 'declined' WHERE rrn = ?", (sale.rrn,))
    result = await rig.terminal.settle()
    assert result.ok and result.balanced is False and result.uploaded == 2
    with rig.db.transaction() as tx:
        rows = tx.fetchall("SELECT stan, match FROM batch_details ORDER BY stan")
    assert [r[1] for r in rows] == ["match", "status_mismatch"]


async def test_settlement_interrupted_resumes_and_never_settles_twice(rig: Rig) -> None:
    await rig.terminal.sign_on()
    await rig.sale(1_500)
    # The 0500 is answered; the batch-upload end is lost twice (the host closes the batch
    # the first time; the answer to the immediate retry is lost too).
    rig.schedule.add(None).add(Fault.DROP_RESPONSE, times=2)
    first = await rig.terminal.settle()
    assert not first.ok and first.step == "uploaded"
    second = await rig.terminal.settle()
    assert second.ok
    assert rig.terminal.ctx.batch == "000002"
    with rig.db.transaction() as tx:
        closed = tx.fetchall("SELECT batch, status FROM settlements")
    assert closed == [("000001", "closed")]


async def test_the_terminals_faults_are_visible_at_the_host(rig: Rig) -> None:
    await rig.terminal.sign_on()
    rig.schedule.add(Fault.DROP_RESPONSE)
    await rig.sale(5_000)  # in doubt, then reversed: events in the journal
    await rig.terminal.sign_on()  # the next sign-on reports them (0820, 60.3 = 362)
    with rig.db.transaction(write=False) as tx:
        rows = tx.fetchall("SELECT tid, detail FROM events WHERE kind = 'terminal_faults'")
    assert rows and rows[0][0] == "12345678" and "reversal" in rows[0][1]
    await rig.terminal.sign_on()
    with rig.db.transaction(write=False) as tx:
        again = tx.fetchall("SELECT detail FROM events WHERE kind = 'terminal_faults'")
    assert len(again) == 1  # nothing new to report: nothing sent twice


async def test_store_and_forward_depth_reaches_the_host_metrics(rig: Rig) -> None:
    from kassa.metrics import KassaMetrics

    await rig.terminal.sign_on()
    rig.schedule.add(Fault.DROP_REQUEST)
    assert (await rig.sale(1_000)).state is State.OFFLINE
    rig.schedule.add(None).add(Fault.DROP_REQUEST)  # sign-on answered; its upload attempt fails
    await rig.terminal.sign_on()
    text = KassaMetrics(rig.db).render().decode()
    assert 'kassa_saf_depth{tid="12345678"} 1.0' in text
