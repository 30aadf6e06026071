"""Reversal 0400 (冲正, reference §3.6): undo whatever the original did, exactly once.

The original is matched by TID + batch + STAN (+ amount). The host must be right whether
the reversal arrives after the original, instead of it, or before it: a reversal for a
request never seen is remembered, so that a late original is declined, not approved.
Repeats are answered from the store by the core's idempotency step.
"""

from __future__ import annotations

from typing import Any

from kassa import ledger
from kassa.host import repo
from kassa.host.context import Ctx
from kassa.host.netmgmt import allocate_rrn
from kassa.host.records import TxnRow, TxnStatus
from kassa.host.reply import Reply

# A successful reversal gives back the state the original's own original had.
_RESTORES = {"void": TxnStatus.APPROVED, "preauth_void": TxnStatus.APPROVED,
             "completion": TxnStatus.APPROVED, "completion_void": TxnStatus.APPROVED}  # fmt: skip


def handle_reversal(ctx: Ctx) -> Reply:
    candidates = repo.txns_by_stan(ctx.tx, ctx.tid, ctx.batch, ctx.stan)
    original = next((t for t in candidates if t.mti in ("0100", "0200")), None)
    base: dict[str, Any] = {"txn_type": "reversal", "amount_fen": ctx.amount_fen,
                            "rrn": allocate_rrn(ctx)}  # fmt: skip
    if original is None:
        repo.add_orphan_reversal(ctx.tx, ctx.tid, ctx.batch, ctx.stan, ctx.amount_fen, ctx.now_ms)
        repo.log_event(ctx.tx, ctx.now_ms, ctx.tid, "reversal_orphan", "25", ctx.stan)
        return _answer("25", base, TxnStatus.RECORDED)
    base.update(orig_id=original.id, card_ref=original.card_ref, pan_masked=original.pan_masked)
    if original.amount_fen != ctx.amount_fen and original.txn_type != "balance":
        return _answer("64", base, TxnStatus.DECLINED)
    if original.status is not TxnStatus.APPROVED or original.entry_id is None:
        # Declined, already undone or captured: nothing of the original's stands to undo.
        return _answer("00" if original.status is TxnStatus.DECLINED else "12", base,
                       TxnStatus.RECORDED)  # fmt: skip
    return _reverse(ctx, original, base)


def _reverse(ctx: Ctx, original: TxnRow, base: dict[str, Any]) -> Reply:
    assert original.entry_id is not None
    first = repo.entry(ctx.tx, original.entry_id)
    assert first is not None
    eid = f"{ctx.tid}:{ctx.batch}:{ctx.stan}:0400"
    entry = ledger.reversal_of(first, at_ms=ctx.now_ms, entry_id=eid, memo=ctx.msg.get(39) or "")
    repo.append_entry(ctx.tx, entry)
    repo.set_txn_status(ctx.tx, original.id, TxnStatus.REVERSED, ctx.now_ms)
    restore = _RESTORES.get(original.txn_type)
    if restore is not None and original.orig_id is not None:
        repo.set_txn_status(ctx.tx, original.orig_id, restore, ctx.now_ms)
    base["entry_id"] = eid
    return _answer("00", base, TxnStatus.APPROVED)


def _answer(code: str, base: dict[str, Any], status: TxnStatus) -> Reply:
    record = {**base, "status": status.value}
    return Reply(code, {37: base["rrn"]}, drop=(61,) if code != "00" else (), record=record)
