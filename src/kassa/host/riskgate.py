"""The risk engine at the host's authorisation path (pure, around `kassa.risk`).

Before a debit or refund is approved the rules are asked; every final answer is fed
back. What an action means on the wire:
- decline: the response code the rule names (59 or 34), nothing booked;
- hold: approved to the terminal (the customer is not left at the till), but marked
  held: the back office does not pay the merchant for it until a supervisor releases it
  in the console, or declines it (a 补登 correction gives the money back);
- alert: approved, and the alert is stored for review.
Every hit is stored in `risk_alerts` with the rule and the figures it judged.

The counters follow the request's transaction: what evaluate and observe change in them
is saved in the engine's undo log joined to it (`undo_log`), so a group that does not
commit (retried after a deadlock, redone request by request after a bug, failed) or a
request whose savepoint rolls back leaves them exactly as they were; later requests of
the same group still see the earlier ones (velocity within a group).
"""

from __future__ import annotations

import json
from typing import Any

from kassa.host.context import Ctx
from kassa.host.riskfeed import RiskFeed, undo_log
from kassa.risk import Decision, RiskEngine, RiskEvent
from kassa.store import Transaction


def event_for(ctx: Ctx, txn_type: str, card_ref: str | None, mcc: str,
              has_matching_sale: bool | None = None) -> RiskEvent:  # fmt: skip
    return RiskEvent(ctx.now_ms, ctx.tid, ctx.msg.get(42) or "", card_ref, txn_type,
                     ctx.amount_fen, ctx.utc_offset_minutes, mcc, has_matching_sale)  # fmt: skip


def evaluate(
    engine: RiskEngine | None, ctx: Ctx, feed: RiskFeed | None = None
) -> tuple[Decision, str] | None:
    """The rules' decision for this request and its JSON (for the `risk` column), or None
    when risk is off or nothing fired. A decision with hits is stored in `risk_alerts`.
    With a `feed`, what other host nodes observed is folded in first."""
    if engine is None or ctx.risk_event is None:
        return None
    if feed is not None:
        feed.catch_up(ctx.tx, ctx.now_ms)
    event = ctx.risk_event
    decision = engine.evaluate(event, undo_log(engine, ctx.tx))
    if not decision.hits:
        return None
    detail = _JSON.encode(decision.as_dict())  # once: alert and column
    row = (event.at_ms, event.tid, event.mid, event.card_ref, str(event.txn_type),
           event.amount_fen, decision.action.value, decision.response_code, detail,
           ctx.stan, ctx.batch)  # fmt: skip
    # Written at the group's COMMIT with the others (one statement), or undone with it.
    ctx.tx.append_deferred("risk_alerts", row, _insert_alerts)
    return decision, detail


_JSON = json.JSONEncoder(ensure_ascii=False)


def _insert_alerts(tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
    tx.executemany(
        "INSERT INTO risk_alerts (at_ms, tid, mid, card_ref, txn_type, amount_fen, action,"
        " response_code, detail, stan, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def observe(engine: RiskEngine | None, ctx: Ctx, code: str, feed: RiskFeed | None = None) -> None:
    """Fold the answer into the counters; with a `feed`, also append it for the other
    nodes and for a restart (in this request's transaction: undone with it)."""
    if engine is not None and ctx.risk_event is not None:
        if feed is not None:
            feed.catch_up(ctx.tx, ctx.now_ms)
            feed.publish(ctx.tx, ctx.risk_event, code)
        engine.observe(ctx.risk_event, code, undo_log(engine, ctx.tx))
