"""Settlement (结算) at the terminal, resumable at every step and never done twice.

    started ─> pending resolved (reversals, resends, offline uploads) ─> totals answered
    (0500: balanced or not) ─> details uploaded when unbalanced (0320 201, 8 per message)
    ─> closed (0320 202/207 answered) ─> done (slip printed, batch + 1)

Each step is recorded in `settlement_runs` before the next begins, so `kassa pos settle`
after a network cut or a power cut goes on from where it stopped; the host answers a
repeated settlement of a closed batch from its records.
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.errors import StoreError
from kassa.iso8583 import Message
from kassa.iso8583.fields import Field48Settlement
from kassa.net import ConnectFailed, LinkError
from kassa.terminal import requests as rq
from kassa.terminal.context import Ctx
from kassa.terminal.drill import power_cut
from kassa.terminal.pending import Pending
from kassa.terminal.service import unfinished_settlement
from kassa.terminal.totals import counted, settlement_totals, upload_records
from kassa.terminal.verdict import judge

RECORDS_PER_MESSAGE = 8


@dataclass(frozen=True, slots=True)
class SettleOutcome:
    ok: bool
    code: str
    batch: str
    balanced: bool | None = None
    totals: Field48Settlement | None = None
    uploaded: int = 0
    step: str = ""


class Settlement:
    def __init__(self, ctx: Ctx, pending: Pending) -> None:
        self.ctx = ctx
        self.pending = pending

    def _run(self, batch: str) -> tuple[str, str, str, str | None, int] | None:
        with self.ctx.journal.db.transaction(write=False) as tx:
            row = tx.fetchone(
                "SELECT step, stan, totals, host_result, uploaded FROM settlement_runs"
                " WHERE batch = ?",
                (batch,),
            )
        return (row[0], row[1], row[2], row[3], int(row[4])) if row else None

    def _save(self, batch: str, **values: object) -> None:
        now = self.ctx.now_ms()
        with self.ctx.journal.db.transaction() as tx:
            if tx.fetchone("SELECT 1 FROM settlement_runs WHERE batch = ?", (batch,)) is None:
                stan = self.ctx.journal.next_stan(tx)
                tx.execute(
                    "INSERT INTO settlement_runs (batch, step, stan, totals, started_ms, updated_ms)"
                    " VALUES (?, 'started', ?, '', ?, ?)",
                    (batch, stan, now, now),
                )
            for key, value in values.items():
                tx.execute(f"UPDATE settlement_runs SET {key} = ?, updated_ms = ? WHERE batch = ?",
                           (value, now, batch))  # fmt: skip

    async def run(self) -> SettleOutcome:
        ctx = self.ctx
        ctx.reload()
        # A settlement the host may already have closed (the terminal stopped before it
        # moved on, and a sign-on since adopted the next batch) is finished first.
        batch = unfinished_settlement(ctx) or ctx.batch
        if not ctx.signed_on:
            return SettleOutcome(False, "not_signed_on", batch)
        if self._run(batch) is None:
            self._save(batch)
        try:
            resolved = await self.pending.resolve()
        except StoreError:
            return SettleOutcome(False, "storage_failure", batch, step="started")
        if not resolved:
            return SettleOutcome(False, "reversal_pending", batch, step="started")
        return await self._from_totals(batch)

    async def _from_totals(self, batch: str) -> SettleOutcome:
        run = self._run(batch)
        assert run is not None
        step, stan, _, result, uploaded = run
        totals = settlement_totals(self.ctx.journal.iter_batch(batch))
        if step in ("started", "totals"):
            reply = await self._send(rq.settlement(self.ctx.who, stan, batch, totals))
            if reply is None:
                return SettleOutcome(False, "host_unreachable", batch, totals=totals, step=step)
            answer = Field48Settlement.parse(reply.get(48) or "")
            result = "1" if answer.balanced else "2"
            self._save(batch, step="totals_answered", totals=totals.to_field(), host_result=result)
            step = "totals_answered"
            power_cut("settle_totals")
        balanced = result == "1"
        if step == "totals_answered":
            uploaded = await self._upload(batch, balanced, uploaded)
            if uploaded < 0:
                return SettleOutcome(False, "host_unreachable", batch, balanced, totals, step=step)
            self._save(batch, step="uploaded", uploaded=uploaded)
            step = "uploaded"
            power_cut("settle_upload")
        if step == "uploaded":
            end = await self._end(batch, balanced, uploaded)
            if not end:
                return SettleOutcome(
                    False, "host_unreachable", batch, balanced, totals, uploaded, step
                )
            power_cut("settle_end")
            self._finish(batch)
        return SettleOutcome(True, "00", batch, balanced, totals, uploaded, "done")

    async def _upload(self, batch: str, balanced: bool, done: int) -> int:
        """Send the detail records not yet confirmed; -1 when the host is lost mid-way."""
        if balanced:
            return 0
        rows = counted(self.ctx.journal.iter_batch(batch))
        pans = {r.id: (self.ctx.journal.sealed(r.id, "pan_sealed") or b"").decode() for r in rows}
        records = [r for r in upload_records(rows, pans) if r.pan]
        for start in range(done, len(records), RECORDS_PER_MESSAGE):
            chunk = tuple(records[start : start + RECORDS_PER_MESSAGE])
            with self.ctx.journal.db.transaction() as tx:
                stan = self.ctx.journal.next_stan(tx)
            if await self._send(rq.batch_details(self.ctx.who, stan, batch, chunk)) is None:
                return -1
            self._save(batch, uploaded=start + len(chunk))
        return len(records)

    async def _end(self, batch: str, balanced: bool, count: int) -> bool:
        with self.ctx.journal.db.transaction() as tx:
            stan = self.ctx.journal.next_stan(tx)
        reply = await self._send(rq.batch_end(self.ctx.who, stan, batch, count, balanced))
        return reply is not None and reply.get(39) == "00"

    def _finish(self, batch: str) -> None:
        next_batch = f"{int(batch) % 999_999 + 1:06d}"
        now = self.ctx.now_ms()
        with self.ctx.journal.db.transaction() as tx:
            tx.execute("UPDATE settlement_runs SET step = 'done', updated_ms = ? WHERE batch = ?",
                       (now, batch))  # fmt: skip
            current = tx.fetchone("SELECT value FROM settings WHERE key = 'batch'")
            if current is None or current[0] == batch:  # a sign-on may have moved on already
                self.ctx.journal.put_in(tx, batch=next_batch)
        self.ctx.journal.event(now, "settlement", "00", f"batch {batch} closed, next {next_batch}")

    async def _send(self, msg: Message) -> Message | None:
        """Every settlement message is safe to repeat (the host answers a repeat from its
        records), so a line lost after sending is tried once more at once."""
        ctx = self.ctx
        for _ in range(2):
            try:
                body = await ctx.link.exchange(ctx.frame(msg, None))  # no MAC on 0500/0320
            except ConnectFailed:
                return None
            except LinkError:
                continue
            return judge(msg, body, None, ctx.header_mode).reply
        return None
