"""The drills' cast: one merchant, one card, terminals (tills), and the narrator who tells
the operator what the cashier sees and what the system did about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kassa.card import CardInput
from kassa.clock import Clock
from kassa.guide import lookup
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.ops.doctor.checks import Check
from kassa.terminal.outcome import Outcome
from kassa.terminal.pos import Terminal
from kassa.terminal.service import TxnRequest
from kassa.terminal.states import State

MID = "898310048990001"
TMK_HEX = "0123456789ABCDEFFEDCBA9876543210"
PAN = "6212264000001899463"
PIN = "123456"
SWIPE = f";{PAN}=30121010000012345?"
CARD_BALANCE_FEN = 500_000  # RMB 5000.00
REFERENCE = f"""
[[merchant]]
mid = "{MID}"
name = "演练商户"
mcc = "5411"
fee_rate = "0.0038"
credit_allowed = true
txn_limit = "50000.00"
[[card]]
pan = "{PAN}"
expiry = "3012"
pin = "{PIN}"
balance = "{Amount(CARD_BALANCE_FEN).yuan()}"
"""
REFERENCE += "{terminals}"
CARD_AND_PIN = f"{SWIPE}\n{PIN}\n"  # what a `kassa pos sale` process reads on stdin


@dataclass
class Till:
    """One terminal of the drill, run in this process."""

    tid: str
    home: Path
    terminal: Terminal
    clock: Clock

    async def sale(self, yuan: str) -> Outcome:
        keys = self.terminal.journal.keys()
        block = make_pin_block(keys.pik, PIN, PAN) if keys else None
        card = CardInput.from_swipe(SWIPE)
        return await self.terminal.transact(
            TxnRequest(TxnType.SALE, Amount.parse(yuan).fen, card, block)
        )

    async def close(self) -> None:
        await self.terminal.ctx.link.close()
        self.terminal.journal.close()


@dataclass
class Narrator:
    """Collects and prints the drill's story; `problems` are what the drill expected and
    did not see (each one fails the drill)."""

    out: Callable[[str], None] = print
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __call__(self, text: str) -> None:
        self.lines.append(text)
        self.out(text)

    def step(self, zh: str, en: str) -> None:
        self(f"\n▶ {zh} {en}")

    def expect(self, ok: bool, what: str) -> bool:
        """Record an expectation: a miss becomes a problem (and is said at once)."""
        if not ok:
            self.problems.append(what)
            self(f"    ✗ expected: {what}")
        return ok

    def guide(self, code: str, indent: str = "      ") -> None:
        """What the cashier sees and says, and what the operator does, for `code`."""
        entry = lookup(code)
        self(f"{indent}屏幕 screen: {entry.screen_zh} / {entry.screen_en}")
        self(f"{indent}告诉顾客 tell the customer: {entry.cashier_zh} / {entry.cashier_en}")
        self(f"{indent}下一步 next: {entry.action_zh}")
        self(f"{indent}        {entry.action_en}")

    def outcome(self, what: str, outcome: Outcome) -> None:
        amount = f"RMB {Amount(outcome.amount_fen).yuan()}" if outcome.amount_fen else ""
        ref = f" ref {outcome.rrn}" if outcome.rrn else ""
        self(f"  {what:<30} {amount:>13}  {outcome.headline('zh')} / "
             f"{outcome.headline('en')} [{outcome.code}]{ref}")  # fmt: skip
        if outcome.state is State.IN_DOUBT:
            done = "reversed" in outcome.notes
            self("      → 已自动冲正，顾客未被扣款 reversed automatically: not charged" if done
                 else "      → 冲正待发送，请勿重复收款 reversal waiting: do NOT charge again")  # fmt: skip
        if outcome.state is State.OFFLINE:
            self("      → 离线批准，存储转发 approved offline, uploaded when the host is back")
        if not outcome.ok:
            self.guide(outcome.code)

    def checks(self, found: list[Check]) -> None:
        """Doctor findings, with the guide's screen text for each problem."""
        for check in found:
            mark = {"ok": "✓", "info": "·", "warning": "!", "failure": "✗"}[check.severity]
            self(f"    doctor {mark} {check.name}: {check.detail}")
            if check.guide_code and not check.ok:
                entry = lookup(check.guide_code)
                self(f"        → {check.guide_code}: {entry.screen_zh} / {entry.screen_en}; "
                     f"{entry.action_en}")  # fmt: skip
