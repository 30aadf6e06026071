"""Everything unfinished, sent before any new transaction and before settlement:
reversals of transactions in doubt, advices to resend, offline sales to upload.

A reversal counts as done only when the host really processed it. A gate refusal
(A0 MAC, C1 not signed on, 77 batch, 99 PIN format) means it was not looked at: the
terminal signs on again and resends it, same STAN, until it is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from kassa.iso8583 import Message, decode
from kassa.net import ConnectFailed, LinkError
from kassa.store import Transaction
from kassa.terminal.context import Ctx
from kassa.terminal.states import Event, State, next_state
from kassa.terminal.verdict import judge

log = logging.getLogger("kassa.terminal")
_ADVICE_TYPES = frozenset({"refund", "completion_advice", "offline_sale"})
_NOT_PROCESSED = frozenset({"A0", "C1", "77", "99", "97", "03", "30"})
_BACKOFF_MS = (0, 500, 2000)


class Receipts(Protocol):
    def queue(self, tx: Transaction, txn_id: int, now_ms: int) -> None: ...

    def flush(self) -> str | None: ...


class NoReceipts:
    """Used where no printer is configured: nothing is queued or printed."""

    def queue(self, tx: Transaction, txn_id: int, now_ms: int) -> None:
        return None

    def flush(self) -> str | None:
        return None


class Pending:
    def __init__(self, ctx: Ctx, receipts: Receipts, sign_on: Callable[[], Awaitable[bool]]):
        self.ctx = ctx
        self.receipts = receipts
        self._sign_on = sign_on

    async def resign_on(self) -> bool:
        self.ctx.journal.put(signed_on="0")
        ok = await self._sign_on()
        if ok:
            await self.resolve()
        return ok

    def settle_pending_rows(self, note: str) -> list[tuple[int, State]]:
        """Give every row left `pending` (a power cut, or a store that failed after the
        answer) its safe state: reversible -> in doubt (reason 98), advice -> resend with
        the same STAN, inquiry -> no answer. No row is pending while nothing is in flight."""
        ctx, moved = self.ctx, list[tuple[int, State]]()
        rows = ctx.journal.in_states(State.PENDING)
        if not rows:
            return moved
        now = ctx.now_ms()
        with ctx.journal.db.transaction() as tx:  # one commit for all, however many
            for row in rows:
                state, extra = _safe_state(row.reversible, row.txn_type, row.reversal_reason)
                ctx.journal.update_txn(row.id, now, tx, state=state, note=note, **extra)
                ctx.journal.event_in(
                    tx, now, "recovered", note, f"{row.txn_type} {state.value}", row.id
                )
                moved.append((row.id, state))
        return moved

    async def resolve(self) -> bool:
        """Reversals, then resends, then offline uploads. True when nothing is left."""
        self.settle_pending_rows("storage_failure")
        if not await self.reverse_all():
            return False
        await self._resend_all()
        await self.upload_offline()
        left = self.ctx.journal.in_states(State.IN_DOUBT, State.RESEND, State.OFFLINE)
        return not left

    async def reverse_all(self) -> bool:
        """Try every reversal in doubt, a few times each. True when none is left."""
        for row in self.ctx.journal.in_states(State.IN_DOUBT):
            for delay_ms in _BACKOFF_MS:
                await self.ctx.sleep(delay_ms / 1000)
                done = await self._reverse(row.id, row.reversal_reason or "98")
                if done is None:  # host not reachable: stop trying for now
                    return False
                if done:
                    break
        return not self.ctx.journal.in_states(State.IN_DOUBT)

    async def _reverse(self, txn_id: int, reason: str) -> bool | None:
        ctx = self.ctx
        raw = ctx.journal.sealed(txn_id, "reversal_sealed")
        if raw is None:  # nothing was ever sendable: balance inquiries and the like
            ctx.journal.update_txn(txn_id, ctx.now_ms(), state=State.REVERSED)
            return True
        msg = decode(raw).with_fields(f39=reason)
        reply = await self._exchange(msg, txn_id)
        if reply is None:
            return None
        code = reply.get(39) or ""
        if code in _NOT_PROCESSED:
            if code in ("A0", "C1", "77", "99"):
                await self._sign_on()
            return False
        ctx.journal.update_txn(txn_id, ctx.now_ms(), state=State.REVERSED, reversal_sealed=None,
                               note=f"reversal answered {code}")  # fmt: skip
        ctx.journal.event(ctx.now_ms(), "reversal", code, f"reason {reason}", txn_id)
        return True

    async def _exchange(self, msg: Message, txn_id: int) -> Message | None:
        ctx = self.ctx
        ctx.journal.update_txn(txn_id, ctx.now_ms(), attempts=_attempts(ctx, txn_id) + 1)
        try:
            body = await ctx.link.exchange(ctx.frame(msg, ctx.keys()))
        except ConnectFailed:
            return None
        except LinkError as exc:
            log.warning("no answer to follow-up of txn %s: %s", txn_id, exc)
            return None
        verdict = judge(msg, body, ctx.keys(), ctx.header_mode)
        return verdict.reply if verdict.event is not Event.NO_ANSWER else None

    async def _resend_all(self) -> None:
        for row in self.ctx.journal.in_states(State.RESEND):
            raw = self.ctx.journal.sealed(row.id, "request_sealed")
            if raw is None:
                continue
            await self._send_advice(row.id, decode(raw), State.RESEND)

    async def upload_offline(self) -> None:
        """Upload stored offline sales in order; stop at the first that gets no answer."""
        for row in self.ctx.journal.in_states(State.OFFLINE):
            raw = self.ctx.journal.sealed(row.id, "request_sealed")
            if raw is None or not await self._send_advice(row.id, decode(raw), State.OFFLINE):
                return

    async def _send_advice(self, txn_id: int, msg: Message, state: State) -> bool:
        ctx = self.ctx
        reply = await self._exchange(msg, txn_id)
        if reply is None:
            return False
        code = reply.get(39) or ""
        if code in _NOT_PROCESSED:
            if code in ("A0", "C1", "77", "99"):
                await self._sign_on()
            return False
        approved = code in ("00", "10", "11", "A2", "A4", "A5", "A6")
        if state is State.OFFLINE:
            event = Event.UPLOADED if approved else Event.UPLOAD_DECLINED
        else:
            event = Event.APPROVED if approved else Event.DECLINED
        new = next_state(state, event)
        now = ctx.now_ms()
        with ctx.journal.db.transaction() as tx:
            ctx.journal.update_txn(txn_id, now, tx, state=new, response_code=code,
                                   rrn=reply.get(37), auth_code=reply.get(38), request_sealed=None)  # fmt: skip
            if new in (State.OFFLINE_DECLINED, State.APPROVED):
                self.receipts.queue(tx, txn_id, now)  # the follow-up slip, or the late approval's
        if new is State.OFFLINE_DECLINED:
            ctx.journal.event(
                now, "offline_declined_later", code, "follow up with the cardholder", txn_id
            )
            self.receipts.flush()
        return True


def _safe_state(
    reversible: bool, txn_type: str, reason: str | None
) -> tuple[State, dict[str, Any]]:
    """Where a row left pending goes: a charge to reversal, an advice to resend, an
    inquiry to "no answer" (nothing to undo)."""
    if reversible:
        return State.IN_DOUBT, {"reversal_reason": reason or "98", "request_sealed": None}
    if txn_type in _ADVICE_TYPES:
        return State.RESEND, {}
    return State.NO_ANSWER, {"request_sealed": None}


def _attempts(ctx: Ctx, txn_id: int) -> int:
    row = ctx.journal.txn(txn_id)
    return row.attempts if row else 0
