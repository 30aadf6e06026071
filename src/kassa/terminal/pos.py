"""The POS terminal as one object: sign-on, transactions, recovery, settlement, status.

Start-up always runs `recover()` first: whatever was in flight when the power went is
found in the journal and resolved (reversed, resent or uploaded) before anything new.
"""

from __future__ import annotations

from typing import Any

from kassa.audit import AuditLog
from kassa.clock import SYSTEM, Clock
from kassa.logs import fault_summary_text, terminal_fault_summary
from kassa.net import Link
from kassa.terminal.context import DEFAULT_SLEEP, Ctx, Sleep
from kassa.terminal.drill import power_cut
from kassa.terminal.journal import Journal
from kassa.terminal.outcome import Outcome
from kassa.terminal.pending import NoReceipts, Pending, Receipts
from kassa.terminal.service import Transactions, TxnRequest
from kassa.terminal.settle import Settlement, SettleOutcome
from kassa.terminal.signon import SignOnResult, echo, sign_off, sign_on, upload_faults
from kassa.terminal.states import State


class Terminal:
    def __init__(
        self,
        journal: Journal,
        link: Link,
        clock: Clock = SYSTEM,
        sleep: Sleep = DEFAULT_SLEEP,
        receipts: Receipts | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.ctx = Ctx(journal, link, clock, sleep)
        self.audit = audit
        self.ctx.reload()
        self.pending = Pending(self.ctx, receipts or NoReceipts(), self._auto_sign_on)
        self.transactions = Transactions(self.ctx, self.pending)
        self.settlement = Settlement(self.ctx, self.pending)

    @property
    def journal(self) -> Journal:
        return self.ctx.journal

    async def _auto_sign_on(self) -> bool:
        result = await sign_on(self.ctx)
        self.journal.event(self.ctx.now_ms(), "auto_sign_on", result.code, "re-sign-on")
        return result.ok

    def record(self, action: str, target: str, detail: dict[str, Any]) -> None:
        """Put an operator action in the tamper-evident audit log (when one is kept)."""
        if self.audit is not None:
            operator = self.journal.get("operator") or "-"
            self.audit.record(operator, "cashier", action, target, detail, self.ctx.now_ms())

    async def sign_on(self) -> SignOnResult:
        result = await sign_on(self.ctx)
        self.record(
            "terminal.sign_on", self.ctx.config.tid, {"code": result.code, "batch": result.batch}
        )
        if result.ok:
            await self.pending.resolve()  # 补登: finish what was left unsent
            await self.report_faults()
        return result

    async def report_faults(self) -> None:
        """Status upload (0820 / 362): the store-and-forward depth, and the faults since the
        last report, so that the host (its metrics and console) sees every terminal."""
        since = int(self.journal.get("faults_reported_ms", "0") or 0)
        summary = terminal_fault_summary(self.journal, since)
        depth = len(self.journal.in_states(State.OFFLINE))
        text = f"saf={depth};" + (fault_summary_text(summary, 500) if summary else "")
        if await upload_faults(self.ctx, text) and summary:
            self.journal.put(faults_reported_ms=str(self.ctx.now_ms() + 1))

    async def sign_off(self) -> SignOnResult:
        result = await sign_off(self.ctx)
        self.record("terminal.sign_off", self.ctx.config.tid, {"code": result.code})
        return result

    async def echo(self) -> SignOnResult:
        return await echo(self.ctx)

    async def transact(self, request: TxnRequest) -> Outcome:
        outcome = await self.transactions.run(request)
        self.record(f"txn.{request.txn.value}", f"{outcome.batch}:{outcome.stan}",
                    {"amount_fen": request.amount_fen, "code": outcome.code,
                     "state": outcome.state.value if outcome.state else None})  # fmt: skip
        return outcome

    async def settle(self) -> SettleOutcome:
        result = await self.settlement.run()
        self.record("settlement.run", result.batch,
                    {"ok": result.ok, "code": result.code, "balanced": result.balanced,
                     "uploaded": result.uploaded, "step": result.step})  # fmt: skip
        return result

    async def recover(self) -> list[Outcome]:
        """After a restart: every transaction left pending gets its safe state, then the
        terminal resolves them (if it is signed on and the host answers)."""
        moved = self.pending.settle_pending("power_loss_recovered")  # one commit for all
        power_cut("recover_settled")
        code = "power_loss_recovered"
        found = [
            Outcome(state, code, row.id, row.amount_fen, stan=row.stan, batch=row.batch)
            for row, state in moved
        ]
        if self.ctx.signed_on and self.journal.in_states(
            State.IN_DOUBT, State.RESEND, State.OFFLINE
        ):
            await self.pending.resolve()
        return found

    def status(self) -> dict[str, Any]:
        ctx = self.ctx
        ctx.reload()
        offline = self.journal.in_states(State.OFFLINE)
        return {
            "tid": ctx.config.tid, "mid": ctx.config.mid, "hosts": list(ctx.config.hosts),
            "signed_on": ctx.signed_on, "keys": self.journal.get("keys") is not None,
            "tmk": self.journal.get("tmk") is not None, "batch": ctx.batch,
            "stan": self.journal.get("stan", "0"),
            "operator": self.journal.get("operator"),
            "pending_reversals": len(self.journal.in_states(State.IN_DOUBT)),
            "pending_resends": len(self.journal.in_states(State.RESEND)),
            "saf_count": len(offline), "saf_total_fen": sum(r.amount_fen or 0 for r in offline),
            "clock_offset_ms": int(self.journal.get("clock_offset_ms", "0") or 0),
            "queued_receipts": len(self.journal.queued_prints()),
        }  # fmt: skip
