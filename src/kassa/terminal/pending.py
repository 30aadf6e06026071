"""Everything unfinished, sent before any new transaction and before settlement:
reversals of transactions in doubt, advices to resend, offline sales to upload.

A reversal counts as done only when the host really processed it. A gate refusal
(A0 MAC, C1 not signed on, 77 batch, 99 PIN format) means it was not looked at: the
terminal signs on again and resends it, same STAN, until it is answered.

Every send is counted (`attempts`) on disk before it leaves, so a row whose answer kills
the terminal shows its count rising from one restart to the next. Within a run of rows
the next row's count rides in the commit of the previous row's outcome (with its event
and receipts): one durable commit per row. A power cut between the two leaves the row
unresolved, to be sent again with the same identity; the host answers a repeat from its
idempotency store. A run also reads the working keys and the clock offset once, not once
per row (`_Reads`), and again after each sign-on it makes, the only thing changing them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from kassa.iso8583 import Message, decode
from kassa.iso8583.keys import WorkingKeys
from kassa.net import ConnectFailed, LinkError
from kassa.store import Transaction
from kassa.terminal.context import Ctx
from kassa.terminal.drill import power_cut
from kassa.terminal.journal import TxnRecord
from kassa.terminal.states import Event, State, next_state
from kassa.terminal.verdict import judge

log = logging.getLogger("kassa.terminal")
_ADVICE_TYPES = frozenset({"refund", "completion_advice", "offline_sale"})
_NOT_PROCESSED = frozenset({"A0", "C1", "77", "99", "97", "03", "30"})
_SIGN_ON_AGAIN = frozenset({"A0", "C1", "77", "99"})
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


class _Reads:
    """The settings a run of follow-ups needs on every row, read once for the run: the
    working keys (unsealed) and the clock offset. Only a sign-on changes them, and
    `Pending` starts a fresh `_Reads` after each sign-on it makes."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._keys: WorkingKeys | None = None
        self._keys_read = False
        self._offset_ms: int | None = None

    def keys(self) -> WorkingKeys | None:
        if not self._keys_read:
            self._keys, self._keys_read = self._ctx.keys(), True
        return self._keys

    def now_ms(self) -> int:
        """`Ctx.now_ms()` without reading the offset from the journal every time."""
        if self._offset_ms is None:
            self._offset_ms = self._ctx.journal.clock_offset_ms()
        return self._ctx.clock.now_ms() + self._offset_ms


class Pending:
    def __init__(self, ctx: Ctx, receipts: Receipts, sign_on: Callable[[], Awaitable[bool]]):
        self.ctx = ctx
        self.receipts = receipts
        self._sign_on = sign_on
        self._reads: _Reads | None = None  # while a run of follow-ups goes on
        self._counted: int | None = None  # the row whose coming send is already counted

    async def resign_on(self) -> bool:
        self.ctx.journal.put(signed_on="0")
        ok = await self._sign_on_again()
        if ok:
            await self.resolve()
        return ok

    async def _sign_on_again(self) -> bool:
        ok = await self._sign_on()
        if self._reads is not None:
            self._reads = _Reads(self.ctx)  # new working keys, new clock offset
        return ok

    @contextmanager
    def _run(self) -> Iterator[None]:
        """One run of follow-ups; a run inside a run (resolve -> reverse_all) joins it."""
        if self._reads is not None:
            yield
            return
        self._reads = _Reads(self.ctx)
        try:
            yield
        finally:
            self._reads, self._counted = None, None

    def _now(self) -> int:
        return self._reads.now_ms() if self._reads else self.ctx.now_ms()

    def _keys(self) -> WorkingKeys | None:
        return self._reads.keys() if self._reads else self.ctx.keys()

    def settle_pending_rows(self, note: str) -> list[tuple[int, State]]:
        """`settle_pending`, by row id."""
        return [(row.id, state) for row, state in self.settle_pending(note)]

    def settle_pending(self, note: str) -> list[tuple[TxnRecord, State]]:
        """Give every row left `pending` (a power cut, or a store that failed after the
        answer) its safe state: reversible -> in doubt (reason 98), advice -> resend with
        the same STAN, inquiry -> no answer, all in one commit. No row is pending while
        nothing is in flight. The rows as they were, each with its new state."""
        ctx, moved = self.ctx, list[tuple[TxnRecord, State]]()
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
                moved.append((row, state))
        return moved

    async def resolve(self) -> bool:
        """Reversals, then resends, then offline uploads. True when nothing is left."""
        self.settle_pending_rows("storage_failure")
        with self._run():
            if not await self.reverse_all():
                return False
            await self._resend_all()
            await self.upload_offline()
        left = self.ctx.journal.in_states(State.IN_DOUBT, State.RESEND, State.OFFLINE)
        return not left

    async def reverse_all(self) -> bool:
        """Try every reversal in doubt, a few times each. True when none is left."""
        with self._run():
            for row, next_id in _with_next(self.ctx.journal.in_states(State.IN_DOUBT)):
                for delay_ms in _BACKOFF_MS:
                    await self.ctx.sleep(delay_ms / 1000)
                    done = await self._reverse(row.id, row.reversal_reason or "98", next_id)
                    if done is None:  # host not reachable: stop trying for now
                        return False
                    if done:
                        break
        return not self.ctx.journal.in_states(State.IN_DOUBT)

    async def _reverse(self, txn_id: int, reason: str, next_id: int | None) -> bool | None:
        ctx = self.ctx
        raw = ctx.journal.sealed(txn_id, "reversal_sealed")
        if raw is None:  # nothing was ever sendable: balance inquiries and the like
            ctx.journal.update_txn(txn_id, self._now(), state=State.REVERSED)
            return True
        msg = decode(raw).with_fields(f39=reason)
        reply = await self._exchange(msg, txn_id)
        if reply is None:
            return None
        power_cut("follow_up_answered")
        code = reply.get(39) or ""
        if code in _NOT_PROCESSED:
            if code in _SIGN_ON_AGAIN:
                await self._sign_on_again()
            return False
        now = self._now()
        with self._outcome(now, next_id) as tx:
            ctx.journal.update_txn(txn_id, now, tx, state=State.REVERSED, reversal_sealed=None,
                                   note=f"reversal answered {code}")  # fmt: skip
            ctx.journal.event_in(tx, now, "reversal", code, f"reason {reason}", txn_id)
        power_cut("follow_up_recorded")
        return True

    @contextmanager
    def _outcome(self, now: int, next_id: int | None) -> Iterator[Transaction]:
        """The commit of one row's outcome; it counts the coming send of `next_id` too."""
        with self.ctx.journal.db.transaction() as tx:
            yield tx
            if next_id is not None:
                self.ctx.journal.count_attempt(tx, next_id, now)
        self._counted = next_id  # only once committed: a failed commit counted nothing

    async def _exchange(self, msg: Message, txn_id: int) -> Message | None:
        ctx = self.ctx
        if self._counted != txn_id:  # not counted with the previous row's outcome
            now = self._now()
            with ctx.journal.db.transaction() as tx:
                ctx.journal.count_attempt(tx, txn_id, now)
        self._counted = None  # the count is used up by this send
        keys = self._keys()
        try:
            body = await ctx.link.exchange(ctx.frame(msg, keys))
        except ConnectFailed:
            return None
        except LinkError as exc:
            log.warning("no answer to follow-up of txn %s: %s", txn_id, exc)
            return None
        verdict = judge(msg, body, keys, ctx.header_mode)
        if verdict.event is Event.MAC_BAD:
            # An approval we cannot authenticate is no answer: the row stays as it is, to
            # be sent again (the host replays its answer) after fresh keys.
            log.warning("follow-up of txn %s: approval with a bad MAC, not trusted", txn_id)
            await self._sign_on_again()
            return None
        return verdict.reply if verdict.event is not Event.NO_ANSWER else None

    async def _resend_all(self) -> None:
        with self._run():
            for row, next_id in _with_next(self.ctx.journal.in_states(State.RESEND)):
                raw = self.ctx.journal.sealed(row.id, "request_sealed")
                if raw is None:
                    continue
                await self._send_advice(row.id, decode(raw), State.RESEND, next_id)

    async def upload_offline(self) -> None:
        """Upload stored offline sales in order; stop at the first that gets no answer."""
        with self._run():
            for row, next_id in _with_next(self.ctx.journal.in_states(State.OFFLINE)):
                raw = self.ctx.journal.sealed(row.id, "request_sealed")
                if raw is None:
                    return
                if not await self._send_advice(row.id, decode(raw), State.OFFLINE, next_id):
                    return

    async def _send_advice(
        self, txn_id: int, msg: Message, state: State, next_id: int | None
    ) -> bool:
        ctx = self.ctx
        reply = await self._exchange(msg, txn_id)
        if reply is None:
            return False
        power_cut("follow_up_answered")
        code = reply.get(39) or ""
        if code in _NOT_PROCESSED:
            if code in _SIGN_ON_AGAIN:
                await self._sign_on_again()
            return False
        approved = code in ("00", "10", "11", "A2", "A4", "A5", "A6")
        if state is State.OFFLINE:
            event = Event.UPLOADED if approved else Event.UPLOAD_DECLINED
        else:
            event = Event.APPROVED if approved else Event.DECLINED
        new = next_state(state, event)
        now = self._now()
        with self._outcome(now, next_id) as tx:
            ctx.journal.update_txn(txn_id, now, tx, state=new, response_code=code,
                                   rrn=reply.get(37), auth_code=reply.get(38), request_sealed=None)  # fmt: skip
            if new in (State.OFFLINE_DECLINED, State.APPROVED):
                self.receipts.queue(tx, txn_id, now)  # the follow-up slip, or the late approval's
            if new is State.OFFLINE_DECLINED:
                ctx.journal.event_in(tx, now, "offline_declined_later", code,
                                     "follow up with the cardholder", txn_id)  # fmt: skip
        power_cut("follow_up_recorded")
        if new is State.OFFLINE_DECLINED:
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


def _with_next(rows: Sequence[TxnRecord]) -> Iterator[tuple[TxnRecord, int | None]]:
    """Each row with the id of the row after it (None for the last)."""
    for index, row in enumerate(rows):
        yield row, rows[index + 1].id if index + 1 < len(rows) else None
