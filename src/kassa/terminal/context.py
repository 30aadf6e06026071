"""What every terminal operation needs at hand: journal, link, clock, and the frame format."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kassa.clock import Clock
from kassa.iso8583 import Message
from kassa.iso8583.framing import Frame, Header, HeaderMode
from kassa.iso8583.keys import WorkingKeys
from kassa.net import Link
from kassa.terminal import requests as rq
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_SLEEP: Sleep = asyncio.sleep


@dataclass
class Ctx:
    journal: Journal
    link: Link
    clock: Clock
    sleep: Sleep = asyncio.sleep
    config: TerminalConfig = field(default_factory=TerminalConfig)

    def reload(self) -> None:
        self.config = self.journal.config()

    def now_ms(self) -> int:
        offset = int(self.journal.get("clock_offset_ms", "0") or 0)
        return self.clock.now_ms() + offset

    @property
    def who(self) -> rq.Identity:
        operator = self.journal.get("operator") or "01"
        return rq.Identity(self.config.tid, self.config.mid, operator)

    @property
    def batch(self) -> str:
        return self.journal.get("batch", "000001") or "000001"

    @property
    def signed_on(self) -> bool:
        return self.journal.get("signed_on") == "1" and self.journal.get("keys") is not None

    def keys(self) -> WorkingKeys | None:
        return self.journal.keys()

    @property
    def header_mode(self) -> HeaderMode:
        return HeaderMode.PRESENT if self.config.header else HeaderMode.ABSENT

    def frame(self, msg: Message, keys: WorkingKeys | None) -> bytes:
        """The frame body (TPDU + header + message, MAC'd when keys are given)."""
        header = Header(bytes.fromhex(self.config.header)) if self.config.header else None
        wire = rq.seal(msg, keys.mak if keys else None)
        return Frame(bytes.fromhex(self.config.tpdu), header, wire).to_bytes()[2:]

    @property
    def tz(self) -> str:
        minutes = self.config.utc_offset_minutes
        sign = "+" if minutes >= 0 else "-"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
