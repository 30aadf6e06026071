"""The risk engine at the host's authorisation path (pure, around `kassa.risk`).

Before a debit or refund is approved the rules are asked; every final answer is fed
back. What an action means on the wire:
- decline: the response code the rule names (59 or 34), nothing booked;
- hold: approved to the terminal (the customer is not left at the till), but marked
  held: the back office does not pay the merchant for it until a supervisor releases it
  in the console, or declines it (a 补登 correction gives the money back);
- alert: approved, and the alert is stored for review.
Every hit is stored in `risk_alerts` with the rule and the figures it judged.
"""

from __future__ import annotations

import json

from kassa.host.context import Ctx
from kassa.risk import Decision, RiskEngine, RiskEvent, alert_record


def event_for(ctx: Ctx, txn_type: str, card_ref: str | None, mcc: str,
              has_matching_sale: bool | None = None) -> RiskEvent:  # fmt: skip
    return RiskEvent(ctx.now_ms, ctx.tid, ctx.msg.get(42) or "", card_ref, txn_type,
                     ctx.amount_fen, ctx.utc_offset_minutes, mcc, has_matching_sale)  # fmt: skip


def evaluate(engine: RiskEngine | None, ctx: Ctx) -> Decision | None:
    """The rules' decision for this request (None when risk is off or nothing fired)."""
    if engine is None or ctx.risk_event is None:
        return None
    decision = engine.evaluate(ctx.risk_event)
    if not decision.hits:
        return None
    row = alert_record(ctx.risk_event, decision)
    ctx.tx.execute(
        "INSERT INTO risk_alerts (at_ms, tid, mid, card_ref, txn_type, amount_fen, action,"
        " response_code, detail, stan, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row["at_ms"], row["tid"], row["mid"], row["card_ref"], row["txn_type"],
         row["amount_fen"], decision.action.value, decision.response_code,
         json.dumps(decision.as_dict(), ensure_ascii=False), ctx.stan, ctx.batch),
    )  # fmt: skip
    return decision


def observe(engine: RiskEngine | None, ctx: Ctx, code: str) -> None:
    if engine is not None and ctx.risk_event is not None:
        engine.observe(ctx.risk_event, code)


def risk_column(decision: Decision | None) -> str | None:
    return None if decision is None else json.dumps(decision.as_dict(), ensure_ascii=False)
