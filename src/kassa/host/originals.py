"""Transactions that refer to an original: void, refund, pre-auth void, completion,
completion void and completion advice (reference §3.5).

The original is found by what the terminal sends (F61 batch + STAN, F37 RRN, F38 auth
code), must belong to the same card and be in the right state; the amount rules are
UnionPay's: a void takes exactly the original amount (64 otherwise), a refund at most
what is left of the sale, a completion at most the hold plus 15%.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kassa import ledger
from kassa.errors import DecodeError
from kassa.host import repo, riskgate
from kassa.host.context import Ctx
from kassa.host.records import Card, TxnRow, TxnStatus
from kassa.host.reply import Reply
from kassa.iso8583.fields import Field61
from kassa.iso8583.transactions import TxnType
from kassa.risk import Action

if TYPE_CHECKING:
    from kassa.host.financial import Financial

_T = TxnType
# What each type undoes or captures, and the state the original must be in.
_ORIGINAL_TYPE = {
    _T.VOID: (_T.SALE,),
    _T.PREAUTH_VOID: (_T.PREAUTH,),
    _T.COMPLETION: (_T.PREAUTH,),
    _T.COMPLETION_ADVICE: (_T.PREAUTH,),
    _T.COMPLETION_VOID: (_T.COMPLETION, _T.COMPLETION_ADVICE),
    _T.REFUND: (_T.SALE, _T.COMPLETION, _T.COMPLETION_ADVICE, _T.OFFLINE_SALE, _T.OFFLINE_UPLOAD),
}


class Originals:
    def __init__(self, fin: Financial) -> None:
        self.fin = fin

    def handle(self, ctx: Ctx, txn: TxnType, card: Card, base: dict[str, Any]) -> Reply:
        original = self._find(ctx, txn, card)
        if original is None:
            if txn is _T.REFUND and ctx.risk_event is not None:
                ctx.risk_event = replace(ctx.risk_event, has_matching_sale=False)
                judged = riskgate.evaluate(self.fin.risk, ctx, self.fin.feed)
                base["risk"] = judged[1] if judged is not None else None
            return self.fin.decline(ctx, "25", base)
        base["orig_id"] = original.id
        if original.status is not TxnStatus.APPROVED:
            return self.fin.decline(ctx, "12", base)
        amount = ctx.amount_fen
        if txn in (_T.VOID, _T.PREAUTH_VOID, _T.COMPLETION_VOID) and amount != original.amount_fen:
            return self.fin.decline(ctx, "64", base)
        if amount <= 0:
            return self.fin.decline(ctx, "13", base)
        if txn is _T.REFUND:
            return self._refund(ctx, card, original, base)
        if txn in (_T.COMPLETION, _T.COMPLETION_ADVICE):
            return self._complete(ctx, original, base)
        return self._undo(ctx, txn, original, base)

    def _find(self, ctx: Ctx, txn: TxnType, card: Card) -> TxnRow | None:
        wanted = {t.value for t in _ORIGINAL_TYPE[txn]}
        candidates: list[TxnRow] = []
        f61 = _f61(ctx)
        if txn is _T.REFUND or (txn is _T.COMPLETION_VOID and ctx.msg.get(37)):
            candidates = repo.txns_by_rrn(ctx.tx, ctx.msg.get(37) or "")
        elif f61 is not None and f61.orig_stan != "000000":
            candidates = repo.txns_by_stan(ctx.tx, ctx.tid, f61.orig_batch, f61.orig_stan)
        if not candidates and ctx.msg.get(38):
            candidates = repo.txns_by_auth(ctx.tx, card.card_ref, ctx.msg.get(38) or "")
        for row in candidates:
            if row.txn_type in wanted and row.card_ref == card.card_ref and row.entry_id:
                return row
        return None

    def _refund(self, ctx: Ctx, card: Card, original: TxnRow, base: dict[str, Any]) -> Reply:
        left = original.amount_fen - repo.refunded_fen(ctx.tx, original.id)
        if ctx.amount_fen > left:
            return self.fin.decline(ctx, "64", base)
        if ctx.risk_event is not None:
            ctx.risk_event = replace(ctx.risk_event, has_matching_sale=True)
        judged = riskgate.evaluate(self.fin.risk, ctx, self.fin.feed)
        if judged is not None:
            decision, base["risk"] = judged
            if decision.action is Action.DECLINE:
                return self.fin.decline(ctx, decision.response_code or "59", base)
        entry = ledger.refund(
            self.fin.txn_key(ctx), card.card_ref, original.mid, ctx.amount_fen,
            at_ms=ctx.now_ms, entry_id=self.fin.entry_id(ctx),
        )  # fmt: skip
        return self.fin.approve(ctx, base, entry)

    def _complete(self, ctx: Ctx, hold: TxnRow, base: dict[str, Any]) -> Reply:
        assert ctx.merchant is not None and hold.entry_id is not None
        if ctx.amount_fen > ledger.completion_max_fen(hold.amount_fen):
            return self.fin.decline(ctx, "61", base)
        hold_entry = repo.entry(ctx.tx, hold.entry_id)
        assert hold_entry is not None
        entry = ledger.completion(
            hold_entry, ctx.amount_fen, mid=ctx.merchant.mid, txn_key=self.fin.txn_key(ctx),
            at_ms=ctx.now_ms, entry_id=self.fin.entry_id(ctx),
        )  # fmt: skip
        repo.set_txn_status(ctx.tx, hold.id, TxnStatus.COMPLETED, ctx.now_ms)
        return self.fin.approve(ctx, base, entry)

    def _undo(self, ctx: Ctx, txn: TxnType, original: TxnRow, base: dict[str, Any]) -> Reply:
        assert original.entry_id is not None
        first = repo.entry(ctx.tx, original.entry_id)
        assert first is not None
        key, eid, at = self.fin.txn_key(ctx), self.fin.entry_id(ctx), ctx.now_ms
        if txn is _T.VOID:
            entry = ledger.void_of(first, txn_key=key, at_ms=at, entry_id=eid)
        elif txn is _T.PREAUTH_VOID:
            entry = ledger.preauth_release(first, txn_key=key, at_ms=at, entry_id=eid)
        else:
            entry = ledger.completion_void_of(first, txn_key=key, at_ms=at, entry_id=eid)
            if original.orig_id is not None:
                repo.set_txn_status(ctx.tx, original.orig_id, TxnStatus.APPROVED, at)
        repo.set_txn_status(ctx.tx, original.id, TxnStatus.VOIDED, at)
        return self.fin.approve(ctx, base, entry)


def _f61(ctx: Ctx) -> Field61 | None:
    value = ctx.msg.get(61)
    if not value:
        return None
    try:
        return Field61.parse(value)
    except DecodeError:
        return None
