"""Settlement 0500 and batch upload 0320 at the host (reference §3.7-3.8).

0500: the terminal's F48 totals are compared with the host's for that batch; the answer
carries the host's totals with 1 (balanced) or 2 (unbalanced) per domain. 0320 201:
detail records, each compared with what the host holds. 0320 202/207: the batch closes
and the terminal's batch number moves on. A closed batch is never settled again: a
repeated 0500 or 0320 is answered from what was recorded.
"""

from __future__ import annotations

from kassa.card import mask_pan
from kassa.errors import DecodeError
from kassa.host import repo
from kassa.host.context import Ctx
from kassa.host.netmgmt import allocate_rrn
from kassa.host.records import CAPTURE_TYPES, TxnStatus
from kassa.host.reply import Reply
from kassa.iso8583.fields import (
    Field48BatchUpload,
    Field48Settlement,
    NetMgmt,
    SettlementResult,
    SettlementTotals,
)

DEBIT_TYPES = CAPTURE_TYPES
CREDIT_TYPES = ("refund",)
_ZERO = SettlementTotals(0, 0, 0, 0)


def host_totals(ctx: Ctx, batch: str) -> SettlementTotals:
    """What the host counts for (terminal, batch): captured debits and refunds."""
    debit = credit = debit_n = credit_n = 0
    for row in repo.batch_txns(ctx.tx, ctx.tid, batch):
        if row.status is not TxnStatus.APPROVED:
            continue
        if row.txn_type in DEBIT_TYPES:
            debit, debit_n = debit + row.amount_fen, debit_n + 1
        elif row.txn_type in CREDIT_TYPES:
            credit, credit_n = credit + row.amount_fen, credit_n + 1
    return SettlementTotals(debit, debit_n, credit, credit_n)


def _closed(ctx: Ctx) -> tuple[str, str] | None:
    row = ctx.tx.fetchone(
        "SELECT status, host_totals FROM settlements WHERE tid = ? AND batch = ?",
        (ctx.tid, ctx.batch),
    )
    return (row[0], row[1]) if row else None


def handle_settlement(ctx: Ctx) -> Reply:
    try:
        theirs = Field48Settlement.parse(ctx.msg.get(48) or "")
    except DecodeError:
        return Reply("30")
    known = _closed(ctx)
    if known is not None and known[0] == "closed":
        return Reply("00", {48: known[1], 37: allocate_rrn(ctx)})
    mine = host_totals(ctx, ctx.batch)
    domestic = _result(mine, theirs.domestic)
    foreign = _result(_ZERO, theirs.foreign)
    answer = Field48Settlement(domestic, foreign).to_field()
    ctx.tx.execute(
        "INSERT INTO settlements (tid, batch, status, terminal_totals, host_totals, result,"
        " settle_date, created_ms) VALUES (?, ?, 'reconciling', ?, ?, ?, ?, ?)"
        " ON CONFLICT (tid, batch) DO UPDATE SET terminal_totals = excluded.terminal_totals,"
        " host_totals = excluded.host_totals, result = excluded.result",
        (ctx.tid, ctx.batch, theirs.to_field(), answer, domestic.result + foreign.result,
         ctx.settle_date, ctx.now_ms),
    )  # fmt: skip
    repo.log_event(ctx.tx, ctx.now_ms, ctx.tid, "settlement", domestic.result, ctx.batch)
    fields = {48: answer, 15: ctx.settle_date, 37: allocate_rrn(ctx)}
    return Reply("00", fields, drop=(61,))


def _result(mine: SettlementTotals, theirs: SettlementTotals) -> SettlementTotals:
    ok = mine.same_totals(theirs)
    code = SettlementResult.BALANCED if ok else SettlementResult.UNBALANCED
    return SettlementTotals(
        mine.debit_amount_fen, mine.debit_count, mine.credit_amount_fen, mine.credit_count, code
    )


def handle_batch_upload(ctx: Ctx) -> Reply:
    code = (ctx.msg.get(60) or "")[8:11]
    known = _closed(ctx)
    if known is None:
        return Reply("25")  # a batch upload without a settlement first
    if known[0] == "closed":
        return Reply("00", {37: allocate_rrn(ctx)})
    if code in (NetMgmt.BATCH_END_BALANCED, NetMgmt.BATCH_END_UNBALANCED):
        return _close(ctx)
    if code == NetMgmt.SETTLE and ctx.msg.get(48):
        return _details(ctx)
    return Reply("00", {37: allocate_rrn(ctx)})  # TC and advice uploads: acknowledged


def _details(ctx: Ctx) -> Reply:
    try:
        upload = Field48BatchUpload.parse(ctx.msg.get(48) or "")
    except DecodeError:
        return Reply("30")
    for record in upload.records:
        ctx.tx.execute(
            "INSERT INTO batch_details (tid, batch, stan, card_org, pan_masked, amount_fen,"
            " match, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tid, batch, stan)"
            " DO UPDATE SET amount_fen = excluded.amount_fen, match = excluded.match",
            (ctx.tid, ctx.batch, record.stan, record.card_org, mask_pan(record.pan),
             record.amount_fen, _match(ctx, record.stan, record.amount_fen), ctx.now_ms),
        )  # fmt: skip
    ctx.tx.execute(
        "UPDATE settlements SET uploaded_count = uploaded_count + ? WHERE tid = ? AND batch = ?",
        (len(upload.records), ctx.tid, ctx.batch),
    )
    return Reply("00", {37: allocate_rrn(ctx)})


def _match(ctx: Ctx, stan: str, amount_fen: int) -> str:
    rows = [r for r in repo.txns_by_stan(ctx.tx, ctx.tid, ctx.batch, stan) if r.mti != "0400"]
    if not rows:
        return "missing_at_host"
    row = rows[0]
    if row.status is not TxnStatus.APPROVED:
        return "status_mismatch"
    return "match" if row.amount_fen == amount_fen else "amount_mismatch"


def _close(ctx: Ctx) -> Reply:
    assert ctx.terminal is not None
    ctx.tx.execute(
        "UPDATE settlements SET status = 'closed', closed_ms = ? WHERE tid = ? AND batch = ?",
        (ctx.now_ms, ctx.tid, ctx.batch),
    )
    next_batch = f"{int(ctx.batch) % 999_999 + 1:06d}"
    repo.set_terminal_batch(ctx.tx, ctx.tid, next_batch)
    repo.log_event(ctx.tx, ctx.now_ms, ctx.tid, "batch_closed", "00", ctx.batch)
    return Reply("00", {37: allocate_rrn(ctx)})
