"""Power-cut drills: a real `kassa pos` process killed (SIGKILL) mid-sale and mid-settlement
at the points of `kassa.terminal.drill`, then started again: recovery finishes the work."""

from __future__ import annotations

from kassa.ops.drills.cast import CARD_AND_PIN, Till
from kassa.ops.drills.network import TID, doctor_says, state_of
from kassa.ops.drills.stage import Stage
from kassa.terminal.states import State

KILLED = -9  # what a process killed by SIGKILL exits with, as asyncio reports it


async def _signed_on_till(stage: Stage) -> Till:
    till = stage.till(TID)
    result = await till.terminal.sign_on()
    stage.say(f"  签到 sign-on: {result.code}, batch {result.batch}")
    return till


async def power_cut_sale(stage: Stage) -> None:
    """断电: `kassa pos sale` dies after the host approved but before the terminal wrote
    the answer down. At restart the terminal finds the sale in its journal, reverses it
    (the customer is not charged) and only then takes the next sale."""
    say = stage.say
    say.step("开店", "The terminal signs on and takes a sale")
    till = await _signed_on_till(stage)
    say.outcome("消费 sale", await till.sale("10.00"))

    say.step("断电", "kassa pos sale 66.00 — the power goes right after the host answers")
    code, _, _ = await stage.pos(till, "sale", "66.00", stdin=CARD_AND_PIN, power_cut="after_send")
    say(f"  the terminal process exited with {code} (SIGKILL: no clean-up at all)")
    say.expect(code == KILLED, "the terminal process died at the power-cut point")
    cut = till.terminal.journal.txns("state = 'pending'")
    say(f"  journal after the cut: {len(cut)} transaction(s) pending, outcome unknown")
    say.expect(len(cut) == 1, "the interrupted sale is in the journal (journal before send)")
    await doctor_says(stage, till, "in flight")

    say.step("来电重启", "Power back: kassa pos sale 15.00 — recovery runs first")
    code, doc, err = await stage.pos(till, "sale", "15.00", stdin=CARD_AND_PIN)
    for line in err.splitlines():
        if "recovered" in line:
            say(f"  {line.strip()}")
    say.guide("power_loss_recovered")
    say(f"  新交易 new sale: {doc.get('screen_zh')} / {doc.get('screen_en')} [{doc.get('code')}]")
    say.expect(code == 0 and doc.get("approved") is True, "the sale after the restart is approved")
    if cut:
        after = state_of(till, cut[0].id)
        say(f"  the interrupted RMB 66.00 sale is now: {after} (approved by the host, reversed)")
        say.expect(after is State.REVERSED, "the interrupted sale was reversed at restart")


async def _cut_and_resume(stage: Stage, till: Till, point: str, batch: str) -> None:
    say = stage.say
    say.step("结算断电", f"kassa pos settle — the power goes at {point!r}")
    code, _, _ = await stage.pos(till, "settle", power_cut=point)
    say(f"  the terminal process exited with {code}")
    say.expect(code == KILLED, f"the settlement process died at {point}")
    await doctor_says(stage, till, "settlement")
    say.step("重新结算", "Power back: kassa pos settle again — it resumes where it stopped")
    code, doc, _ = await stage.pos(till, "settle")
    say(f"  结算 settlement batch {doc.get('batch')}: {doc.get('code')}, "
        f"balanced {doc.get('balanced')}, step {doc.get('step')}")  # fmt: skip
    say.expect(code == 0 and doc.get("ok") is True, f"settlement of batch {batch} completes")
    say.expect(doc.get("batch") == batch, f"the resumed settlement is batch {batch}")


async def power_cut_settle(stage: Stage) -> None:
    """结算断电: settlement killed after the host answered the totals (0500), then after
    the host closed the batch; each time settling again resumes and the batch is closed
    exactly once, at both ends."""
    say = stage.say
    say.step("开店", "The terminal signs on and takes two sales")
    till = await _signed_on_till(stage)
    for amount in ("10.00", "20.00"):
        say.outcome("消费 sale", await till.sale(amount))
    await _cut_and_resume(stage, till, "settle_totals", "000001")
    say.outcome("消费 sale in the new batch", await till.sale("5.00"))
    await _cut_and_resume(stage, till, "settle_end", "000002")
    say.outcome("消费 sale in the new batch", await till.sale("3.00"))
    db = stage.host_db()
    try:
        with db.transaction(write=False) as tx:
            closed = tx.fetchall("SELECT batch, status FROM settlements ORDER BY batch")
    finally:
        db.close()
    say(f"  主机结算记录 host settlements: {closed}")
    say.expect([tuple(r) for r in closed] == [("000001", "closed"), ("000002", "closed")],
               "the host closed each batch exactly once")  # fmt: skip
    batch = till.terminal.journal.get("batch")
    say.expect(batch == "000003", f"the terminal moved on exactly twice (batch {batch})")
