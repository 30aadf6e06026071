"""Drills of time and keys: the terminal's clock jumps; the host loses the terminal's keys."""

from __future__ import annotations

import os

from kassa.clock import SYSTEM
from kassa.iso8583.keys import KeyMode, generate_working_keys
from kassa.ops.drills.cast import Till
from kassa.ops.drills.network import TID, doctor_says, state_of
from kassa.ops.drills.stage import Stage
from kassa.ops.ntp import SntpServer
from kassa.terminal.states import State

JUMP_MS = 15 * 60 * 1000
_CLOSE_MS = 5_000  # how near true time a journal stamp must be once the clock is fixed


class JumpingClock:
    """The system clock plus `jump_ms`: a CMOS clock gone wrong, or a hand that set it."""

    def __init__(self) -> None:
        self.jump_ms = 0

    def now_ms(self) -> int:
        return SYSTEM.now_ms() + self.jump_ms

    def monotonic_s(self) -> float:
        return SYSTEM.monotonic_s()


def _stamp_error_ms(till: Till, txn_id: int | None) -> int | None:
    """How far the journal's UTC stamp of a transaction is from true time now."""
    row = till.terminal.journal.txn(txn_id) if txn_id is not None else None
    return None if row is None else row.created_ms - SYSTEM.now_ms()


async def clock_jump(stage: Stage) -> None:
    """时钟跳变: the terminal's clock jumps 15 minutes ahead. The doctor reports the drift
    against the host (echo F12/F13) and against NTP; sales carry on; a sign-on takes the
    host's time again and the journal's stamps are right once more."""
    say = stage.say
    with SntpServer() as ntp:
        server = f"127.0.0.1:{ntp.port}"
        clock = JumpingClock()
        say.step("开店", f"The terminal signs on; an NTP server answers at {server}")
        till = stage.till(TID, clock=clock)
        result = await till.terminal.sign_on()
        say(f"  签到 sign-on: {result.code}, clock drift {result.drift_ms} ms")
        say.outcome("消费 sale", await till.sale("10.00"))
        await doctor_says(stage, till, "clock", ntp=server)

        say.step("时钟跳变", "The terminal's clock jumps 15 minutes ahead")
        clock.jump_ms = JUMP_MS
        await doctor_says(stage, till, "clock", ntp=server)
        skewed = await till.sale("20.00")
        say.outcome("消费 sale (the terminal keeps working)", skewed)
        say.expect(skewed.state is State.APPROVED, "sales go on while the clock is wrong")
        error = _stamp_error_ms(till, skewed.txn_id)
        say(f"  journal stamp of that sale is {error} ms off true time")
        say.guide("clock_skew")

        say.step("重新签到", "The operator signs on again: the host's time is adopted")
        result = await till.terminal.sign_on()
        say(f"  签到 sign-on: {result.code}, clock drift {result.drift_ms} ms adopted")
        say.expect(result.ok and abs((result.drift_ms or 0) + JUMP_MS) < 2 * _CLOSE_MS,
                   "sign-on measured the jump and adopted the host's time")  # fmt: skip
        await doctor_says(stage, till, "clock", ntp=server)
        fixed = await till.sale("30.00")
        say.outcome("消费 sale", fixed)
        error = _stamp_error_ms(till, fixed.txn_id)
        say(f"  journal stamp of that sale is {error} ms off true time")
        say.expect(error is not None and abs(error) < _CLOSE_MS, "stamps are right again")
    zones = {r.tz for r in till.terminal.journal.txns()}
    say(f"  journal time zones: {sorted(zones)} (times are UTC milliseconds + the zone)")
    say.expect(zones == {"UTC+08:00"}, "every row records its zone")
    with till.terminal.journal.db.transaction(write=False) as tx:
        skew = tx.fetchall("SELECT detail FROM events WHERE kind = 'clock_skew'")
    say.expect(bool(skew), "the terminal logged the clock skew it corrected")


def _auto_sign_ons(till: Till) -> int:
    """How many automatic re-sign-ons succeeded so far."""
    with till.terminal.journal.db.transaction(write=False) as tx:
        row = tx.fetchone("SELECT COUNT(*) FROM events WHERE kind = 'auto_sign_on' AND code = '00'")
    return int(row[0]) if row else 0


async def _break_keys(stage: Stage, till: Till, how: str) -> None:
    say = stage.say
    if how == "dropped":
        say.step("主机丢失密钥", "The host loses the terminal's working keys (restored from "
                 "an old backup): it answers C1")  # fmt: skip
        stage.host_write("UPDATE terminals SET keys_sealed = NULL, signed_on = 0 WHERE tid = ?",
                         (till.tid,))  # fmt: skip
        return
    say.step("密钥不符", "The host holds other working keys than the terminal: MACs fail (A0)")
    assert stage.secrets is not None
    keys = generate_working_keys(KeyMode.DOUBLE_TDK, os.urandom)
    sealed = stage.secrets.seal_keys(till.tid, keys, os.urandom)
    stage.host_write("UPDATE terminals SET keys_sealed = ? WHERE tid = ?", (sealed, till.tid))


async def stale_keys(stage: Stage) -> None:
    """密钥失效: the host no longer has (or no longer matches) the terminal's keys. The next
    sale is refused (C1, then A0) with nothing charged, the terminal signs on again by
    itself, and the sale tried again is approved."""
    say = stage.say
    say.step("开店", "The terminal signs on and takes a sale")
    till = stage.till(TID)
    await till.terminal.sign_on()
    say.outcome("消费 sale", await till.sale("10.00"))
    for number, (how, code) in enumerate((("dropped", "C1"), ("mismatch", "A0")), start=1):
        await _break_keys(stage, till, how)
        refused = await till.sale("20.00")
        say.outcome("消费 sale", refused)
        say.expect(refused.code == code, f"the host refuses with {code}")
        say.expect(state_of(till, refused.txn_id) is not State.APPROVED, "nothing charged")
        signed = _auto_sign_ons(till) == number
        say(f"  自动重新签到 automatic re-sign-on: {'done' if signed else 'FAILED'}")
        say.expect(signed, "the terminal signed on again by itself")
        again = await till.sale("20.00")
        say.outcome("消费 sale, tried again", again)
        say.expect(again.state is State.APPROVED, "the sale tried again is approved")
