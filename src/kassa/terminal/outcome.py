"""What the cashier is told after an operation (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kassa.guide import GuideEntry, lookup
from kassa.terminal.states import State


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one operation, with the guide entry that explains it."""

    state: State | None
    code: str  # F39, or a local fault name from the guide
    txn_id: int | None = None
    amount_fen: int | None = None
    rrn: str | None = None
    auth_code: str | None = None
    stan: str | None = None
    batch: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def entry(self) -> GuideEntry:
        return lookup(self.code)

    @property
    def ok(self) -> bool:
        return self.state in (State.APPROVED, State.OFFLINE)

    def headline(self, lang: str = "zh") -> str:
        if self.state is State.APPROVED:
            return "交易成功" if lang == "zh" else "Approved"
        if self.state is State.OFFLINE:
            return "离线交易成功" if lang == "zh" else "Approved offline"
        return self.entry.screen_zh if lang == "zh" else self.entry.screen_en
