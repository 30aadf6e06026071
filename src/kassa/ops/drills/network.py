"""Drills of the line and the host: the host goes down; the network cuts mid-sale."""

from __future__ import annotations

from kassa.ops.doctor import examine_terminal
from kassa.ops.drills.cast import Till
from kassa.ops.drills.stage import Stage
from kassa.terminal.states import State

TID = "10000001"


async def doctor_says(stage: Stage, till: Till, *prefixes: str, ntp: str | None = None) -> None:
    """Run the doctor on `till`'s home and tell the findings whose names start so."""
    found = await examine_terminal(till.home, ntp=ntp, timeout_s=2.0, clock=till.clock)
    stage.say.checks([c for c in found if c.name.startswith(prefixes)])


def state_of(till: Till, txn_id: int | None) -> State | None:
    row = till.terminal.journal.txn(txn_id) if txn_id is not None else None
    return row.state if row else None


async def host_down(stage: Stage) -> None:
    """主机故障: the host process dies; sales under the floor limit are approved offline
    and stored, sales over it are refused (nothing charged); the host comes back, the
    stored sales are uploaded before the next sale."""
    say = stage.say
    say.step("开店", "Opening: the host is up, the terminal signs on (floor limit RMB 100)")
    till = stage.till(TID, settings={"floor_limit_fen": "100.00"})
    result = await till.terminal.sign_on()
    say(f"  签到 sign-on: {result.code}, batch {result.batch}")
    first = await till.sale("25.00")
    say.outcome("消费 sale", first)
    say.expect(first.state is State.APPROVED, "the first sale is approved online")

    say.step("主机宕机", "The host dies (a host process is killed with SIGKILL)")
    await stage.stop_host(crash=True)
    await doctor_says(stage, till, "tcp", "echo")
    offline = await till.sale("30.00")
    say.outcome("消费 sale under the floor limit", offline)
    say.expect(offline.state is State.OFFLINE, "a sale under the floor limit is approved offline")
    refused = await till.sale("300.00")
    say.outcome("消费 sale over the floor limit", refused)
    say.expect(refused.state is State.NOT_SENT, "a sale over the floor limit is not sent")
    say.expect(refused.code == "host_unreachable", "the cashier is told: host unreachable")
    await doctor_says(stage, till, "store-and-forward")

    say.step("主机恢复", f"The host is back on the same port {stage.port}")
    await stage.start_host(stage.port)
    after = await till.sale("12.00")
    say.outcome("消费 sale (uploads the stored one first)", after)
    say.expect(after.state is State.APPROVED, "the sale after the outage is approved")
    uploaded = state_of(till, offline.txn_id)
    say(f"  存储转发 stored sale of RMB 30.00 is now: {uploaded}")
    say.expect(uploaded is State.UPLOADED, "the offline sale was uploaded and approved")


async def network_cut(stage: Stage) -> None:
    """网络中断: the answer to a sale is lost on the way back (the host did charge it); the
    terminal reverses it at once. Then the line stays down: the reversal waits, new sales
    are held back until it is answered, and nothing is charged twice."""
    say = stage.say
    port = await stage.start_proxy()
    assert stage.proxy is not None
    say.step("开店", f"The terminal reaches the host through a line we can cut (:{port})")
    till = stage.till(TID, port=port)
    result = await till.terminal.sign_on()
    say(f"  签到 sign-on: {result.code}, batch {result.batch}")
    say.outcome("消费 sale", await till.sale("10.00"))

    say.step("网络中断", "The answer to the next sale is lost after the host charged it")
    stage.proxy.cut_next_response()
    lost = await till.sale("20.00")
    say.outcome("消费 sale, answer lost", lost)
    say.expect(state_of(till, lost.txn_id) is State.REVERSED, "the lost sale is reversed at once")

    say.step("线路不通", "Answer lost again, and the line stays down: the reversal must wait")
    stage.proxy.refusing = True
    stage.proxy.cut_next_response()
    waiting = await till.sale("30.00")
    say.outcome("消费 sale, answer lost", waiting)
    say.expect("reversal_pending" in waiting.notes, "the reversal waits for the line")
    held = await till.sale("5.00")
    say.outcome("消费 next sale while the reversal waits", held)
    say.expect(held.state is State.NOT_SENT, "no new sale goes out before the reversal")
    await doctor_says(stage, till, "reversals", "echo")

    say.step("线路恢复", "The line is back: the reversal goes first, then the sale")
    stage.proxy.refusing = False
    after = await till.sale("8.00")
    say.outcome("消费 sale", after)
    say.expect(after.state is State.APPROVED, "the sale after the cut is approved")
    reversed_now = state_of(till, waiting.txn_id)
    say(f"  冲正 the RMB 30.00 sale is now: {reversed_now}")
    say.expect(reversed_now is State.REVERSED, "the waiting reversal was answered first")
    faults = ", ".join(f"{kind} x{n}" for kind, n in stage.proxy.faults.items())
    say(f"  faults injected on the line: {faults}")
