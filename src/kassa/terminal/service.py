"""The terminal's transactions (shell): journal before send, one identity per transaction,
automatic reversal of anything in doubt, store-and-forward while the host is away.

    resolve what is pending (reversals first) ─> journal the request and its reversal
    (batch + STAN fixed, committed to disk) ─> send ─> judge the answer ─> record the
    outcome (and the receipts to print) in one commit ─> tell the cashier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from kassa.card import CardInput, mask_pan
from kassa.errors import StoreError
from kassa.iso8583 import Message, decode, encode
from kassa.iso8583.keys import check_value
from kassa.iso8583.transactions import TxnType, spec_of
from kassa.net import ConnectFailed, LinkError
from kassa.terminal import requests as rq
from kassa.terminal.context import Ctx
from kassa.terminal.drill import power_cut
from kassa.terminal.offline import Stored, offline_refusal
from kassa.terminal.outcome import Outcome
from kassa.terminal.pending import Pending
from kassa.terminal.states import Event, State, next_state
from kassa.terminal.verdict import Verdict, judge

log = logging.getLogger("kassa.terminal")
_ADVICES = frozenset({TxnType.REFUND, TxnType.COMPLETION_ADVICE, TxnType.OFFLINE_SALE})
_UNDOES = {TxnType.VOID, TxnType.PREAUTH_VOID, TxnType.COMPLETION_VOID}


@dataclass(frozen=True, slots=True)
class TxnRequest:
    """What the cashier asked for. The PIN is already a PIN block (never the clear PIN)."""

    txn: TxnType
    amount_fen: int | None
    card: CardInput
    pin_block: bytes | None = None
    original: rq.Original | None = None
    orig_id: int | None = None
    pik_check: bytes | None = None  # check value of the PIK that made pin_block


class Transactions:
    def __init__(self, ctx: Ctx, pending: Pending) -> None:
        self.ctx = ctx
        self.pending = pending

    async def run(self, req: TxnRequest) -> Outcome:
        outcome = await self._run(req)
        if outcome.txn_id is None or outcome.stan is not None:
            return outcome
        row = self.ctx.journal.txn(outcome.txn_id)
        return replace(outcome, stan=row.stan, batch=row.batch) if row else outcome

    async def _run(self, req: TxnRequest) -> Outcome:
        ctx = self.ctx
        ctx.reload()
        if not ctx.signed_on:
            return Outcome(None, "not_signed_on")
        if unfinished_settlement(ctx) is not None:
            # Totals were already sent for this batch: a new transaction would make them
            # wrong. The settlement is finished first (kassa pos settle resumes it).
            return Outcome(None, "settlement_interrupted", None, req.amount_fen)
        try:
            await self.pending.resolve()
        except StoreError as exc:
            return Outcome(None, "storage_failure", None, req.amount_fen, notes=(str(exc),))
        if req.pin_block is not None and req.pik_check is not None:
            keys = ctx.keys()
            if keys is None or check_value(keys.pik) != req.pik_check:
                # Re-sign-on while resolving brought a new PIK: the PIN block is unreadable
                # now, and sending it would count a wrong PIN against the cardholder.
                return Outcome(None, "keys_stale", None, req.amount_fen, notes=("re-enter PIN",))
        blocked = bool(ctx.journal.in_states(State.IN_DOUBT))
        try:
            txn_id, msg = self._journal(req)
        except StoreError as exc:
            # Nothing was written, so nothing is sent: the customer is not charged.
            log.error("cannot journal the request, nothing sent: %s", exc)
            fault = "disk_full" if "full" in str(exc).lower() else "storage_failure"
            return Outcome(None, fault, None, req.amount_fen, notes=(str(exc),))
        power_cut("after_journal")
        if blocked:
            return self._not_sent(txn_id, req, "reversal_pending")
        try:
            body = await ctx.link.exchange(ctx.frame(msg, ctx.keys()))
        except ConnectFailed:
            return self._not_sent(txn_id, req, "host_unreachable")
        except LinkError as exc:
            log.warning("no answer for txn %s: %s", txn_id, exc)
            return await self._no_answer(txn_id, req, "response_timeout")
        power_cut("after_send")
        verdict = judge(msg, body, ctx.keys(), ctx.header_mode)
        return await self._apply(txn_id, req, verdict)

    # -- journal before send ----------------------------------------------------------

    def _journal(self, req: TxnRequest) -> tuple[int, Message]:
        """Fix the identity and write request + reversal durably before anything is sent."""
        ctx, spec = self.ctx, spec_of(req.txn)
        now, who, batch = ctx.now_ms(), ctx.who, ctx.batch
        with ctx.journal.db.transaction() as tx:
            stan = ctx.journal.next_stan(tx)
            msg = rq.financial(req.txn, who, stan, batch, req.amount_fen, req.card,
                               req.pin_block, req.original)  # fmt: skip
            row = self._row(req, who.operator, batch, stan, spec.reversible, now)
            txn_id = ctx.journal.insert_txn(tx, row)
            sealed: dict[str, Any] = {
                "request_sealed": ctx.journal.seal(encode(msg), f"request_sealed:{txn_id}"),
                "pan_sealed": ctx.journal.seal(req.card.pan.encode(), f"pan_sealed:{txn_id}"),
            }
            if spec.reversible:
                reversal = encode(rq.reversal(msg, "98"))
                sealed["reversal_sealed"] = ctx.journal.seal(reversal, f"reversal_sealed:{txn_id}")
            ctx.journal.update_txn(txn_id, now, tx, **sealed)
        return txn_id, msg

    def _row(self, req: TxnRequest, operator: str, batch: str, stan: str, reversible: bool,
             now: int) -> dict[str, Any]:  # fmt: skip
        orig = req.original
        return {
            "batch": batch, "stan": stan, "txn_type": req.txn.value,
            "amount_fen": req.amount_fen, "state": State.PENDING.value,
            "reversible": int(reversible), "entry_mode": req.card.entry_mode,
            "pan_masked": mask_pan(req.card.pan), "operator": operator,
            "orig_id": req.orig_id, "orig_batch": orig.batch if orig else None,
            "orig_stan": orig.stan if orig else None, "orig_rrn": orig.rrn if orig else None,
            "orig_auth": orig.auth_code if orig else None,
            "created_ms": now, "updated_ms": now, "tz": self.ctx.tz,
        }  # fmt: skip

    # -- outcomes -----------------------------------------------------------------------

    def _not_sent(self, txn_id: int, req: TxnRequest, fault: str) -> Outcome:
        """Nothing left the terminal: approve offline if the rules allow, else not charged."""
        ctx = self.ctx
        now = ctx.now_ms()
        refusal = fault
        if req.txn is TxnType.SALE and req.amount_fen:
            refusal = offline_refusal(ctx.config, req.amount_fen, self._stored(), now) or ""
            refusal = fault if refusal == "host_unreachable" else refusal
        if refusal:
            ctx.journal.update_txn(txn_id, now, state=next_state(State.PENDING, Event.NOT_SENT),
                                   request_sealed=None, reversal_sealed=None, response_code=refusal)  # fmt: skip
            return Outcome(State.NOT_SENT, refusal, txn_id, req.amount_fen)
        upload = self._offline_upload(txn_id, req)
        with ctx.journal.db.transaction() as tx:
            ctx.journal.update_txn(txn_id, now, tx, state=State.OFFLINE, offline=1,
                                   reversal_sealed=None, request_sealed=upload)  # fmt: skip
            self.pending.receipts.queue(tx, txn_id, now)
        self.pending.receipts.flush()
        return Outcome(State.OFFLINE, "00", txn_id, req.amount_fen, notes=("saf",))

    def _offline_upload(self, txn_id: int, req: TxnRequest) -> bytes:
        row = self.ctx.journal.txn(txn_id)
        assert row is not None
        msg = rq.financial(TxnType.OFFLINE_SALE, self.ctx.who, row.stan, row.batch,
                           req.amount_fen, req.card)  # fmt: skip
        return self.ctx.journal.seal(encode(msg), f"request_sealed:{txn_id}")

    def _stored(self) -> Stored:
        rows = self.ctx.journal.in_states(State.OFFLINE)
        return Stored(len(rows), sum(r.amount_fen or 0 for r in rows),
                      min((r.created_ms for r in rows), default=None))  # fmt: skip

    async def _no_answer(
        self, txn_id: int, req: TxnRequest, fault: str, reason: str = "98"
    ) -> Outcome:
        ctx = self.ctx
        now = ctx.now_ms()
        if spec_of(req.txn).reversible:
            ctx.journal.update_txn(txn_id, now, state=State.IN_DOUBT, reversal_reason=reason,
                                   request_sealed=None, note=fault)  # fmt: skip
            reversed_now = await self.pending.reverse_all()
            note = "reversed" if reversed_now else "reversal_pending"
            return Outcome(State.IN_DOUBT, fault, txn_id, req.amount_fen, notes=(note,))
        if req.txn in _ADVICES:
            ctx.journal.update_txn(txn_id, now, state=State.RESEND, note=fault)
            return Outcome(State.RESEND, fault, txn_id, req.amount_fen, notes=("resend",))
        ctx.journal.update_txn(txn_id, now, state=State.NO_ANSWER, request_sealed=None, note=fault)
        return Outcome(State.NO_ANSWER, fault, txn_id, req.amount_fen)

    async def _apply(self, txn_id: int, req: TxnRequest, verdict: Verdict) -> Outcome:
        if verdict.event is Event.NO_ANSWER:
            return await self._no_answer(txn_id, req, "malformed_response")
        if verdict.event is Event.MAC_BAD:
            outcome = await self._no_answer(txn_id, req, "bad_response_mac", reason="A0")
            await self.pending.resign_on()
            return outcome
        try:
            outcome = self._record(txn_id, req, verdict)
            power_cut("after_record")
        except StoreError:
            log.exception("could not store the outcome of txn %s; it will be reversed", txn_id)
            return await self._store_failed(txn_id, req)
        self.pending.receipts.flush()
        if verdict.resign_on:
            await self.pending.resign_on()
        return outcome

    def _record(self, txn_id: int, req: TxnRequest, verdict: Verdict) -> Outcome:
        ctx, reply = self.ctx, verdict.reply
        assert reply is not None
        now = ctx.now_ms()
        state = next_state(State.PENDING, verdict.event)
        with ctx.journal.db.transaction() as tx:
            ctx.journal.update_txn(
                txn_id, now, tx, state=state, response_code=verdict.code, rrn=reply.get(37),
                auth_code=reply.get(38), host_date=reply.get(13), request_sealed=None,
                reversal_sealed=None,
            )  # fmt: skip
            if state is State.APPROVED and req.txn in _UNDOES and req.orig_id is not None:
                tx.execute("UPDATE txns SET state = ? WHERE id = ? AND state IN ('approved', 'uploaded')",
                           (State.VOIDED.value, req.orig_id))  # fmt: skip
            if state is State.APPROVED and req.txn is not TxnType.BALANCE:
                self.pending.receipts.queue(tx, txn_id, now)
        row = ctx.journal.txn(txn_id)
        assert row is not None
        return Outcome(state, verdict.code or "", txn_id, req.amount_fen, row.rrn, row.auth_code,
                       row.stan, row.batch, _balance_note(reply))  # fmt: skip

    async def _store_failed(self, txn_id: int, req: TxnRequest) -> Outcome:
        """The answer came but could not be stored: the row is still pending. It gets its
        safe state by type (a charge is reversed with reason 96, an advice resent, an
        inquiry dropped) as soon as the journal can be written again."""
        try:
            self.ctx.journal.update_txn(txn_id, self.ctx.now_ms(), reversal_reason="96")
            moved = dict(self.pending.settle_pending_rows("storage_failure"))
        except StoreError:
            return Outcome(State.PENDING, "storage_failure", txn_id, req.amount_fen)
        state = moved.get(txn_id, State.PENDING)
        if state is State.IN_DOUBT:
            await self.pending.reverse_all()
        return Outcome(state, "storage_failure", txn_id, req.amount_fen)


def unfinished_settlement(ctx: Ctx) -> str | None:
    """The batch of a settlement that was started and not finished, if any."""
    with ctx.journal.db.transaction(write=False) as tx:
        row = tx.fetchone(
            "SELECT batch FROM settlement_runs WHERE step <> 'done' AND step <> 'started'"
            " ORDER BY batch LIMIT 1"
        )
    return str(row[0]) if row else None


def _balance_note(reply: Message) -> tuple[str, ...]:
    return (f"balance:{reply[54]}",) if 54 in reply else ()


def decode_sealed(raw: bytes | None) -> Message | None:
    return decode(raw) if raw else None
