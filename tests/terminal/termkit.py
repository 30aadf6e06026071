"""A real terminal (journal on disk) talking to a real host core through the in-memory
link, whose fault schedule stands in for the network. No mocks of either side."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

from hostkit import PAN, T0_MS, TMK_HEX, open_host

from kassa.card import CardInput
from kassa.clock import FixedClock
from kassa.host import repo
from kassa.host.admin import card_ref_for
from kassa.host.check import check_host
from kassa.host.core import HostCore
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.ledger import card_account
from kassa.net import FaultSchedule, MemoryLink
from kassa.store import Database
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal
from kassa.terminal.outcome import Outcome
from kassa.terminal.pos import Terminal
from kassa.terminal.requests import Original
from kassa.terminal.service import TxnRequest

DEVICE_KEY = bytes(range(100, 132))


async def no_sleep(_: float) -> None:
    return None


@dataclass
class Rig:
    db: Database
    core: HostCore
    journal_path: Path
    schedule: FaultSchedule
    clock: FixedClock
    terminal: Terminal

    def host_handle(self, body: bytes) -> bytes | None:
        with self.db.transaction() as tx:
            return self.core.handle(tx, body, self.clock.now_ms())

    def restart(self) -> Terminal:
        """A power cut: drop the terminal object, reopen its journal from disk."""
        self.terminal.journal.close()
        journal = Journal.open(str(self.journal_path), DEVICE_KEY)
        link = MemoryLink(self.host_handle, schedule=self.schedule)
        self.terminal = Terminal(journal, link, self.clock, no_sleep)
        return self.terminal

    def close(self) -> None:
        self.terminal.journal.close()
        self.db.close()

    def card(self, pan: str = PAN) -> CardInput:
        return CardInput.from_swipe(f";{pan}=26121010000012345?")

    def request(
        self, txn: TxnType, amount: int | None, pin: str | None = "1234",
        original: Original | None = None, orig_id: int | None = None, pan: str = PAN,
    ) -> TxnRequest:  # fmt: skip
        keys = self.terminal.journal.keys()
        assert keys is not None
        block = make_pin_block(keys.pik, pin, pan) if pin else None
        return TxnRequest(txn, amount, self.card(pan), block, original, orig_id)

    async def sale(self, amount: int, **kw: object) -> Outcome:
        return await self.terminal.transact(self.request(TxnType.SALE, amount, **kw))  # type: ignore[arg-type]


def make_rig(db_url: str, tmp: Path, **config: object) -> Rig:
    db, core = open_host(db_url)
    clock = FixedClock(T0_MS)
    schedule = FaultSchedule()
    journal_path = tmp / "journal.db"
    journal = Journal.open(str(journal_path), DEVICE_KEY)
    base = TerminalConfig(tid="12345678", mid="123456789012345", merchant_name="测试商户")
    fields = {**base.__class__.__dataclass_fields__}
    assert all(k in fields for k in config)
    from dataclasses import replace

    journal.save_config(replace(base, **config))  # type: ignore[arg-type]
    journal.set_tmk(bytes.fromhex(TMK_HEX))
    rig = Rig(db, core, journal_path, schedule, clock, None)  # type: ignore[arg-type]
    rig.terminal = Terminal(
        journal, MemoryLink(rig.host_handle, schedule=schedule), clock, no_sleep
    )
    return rig


@contextmanager
def rigged(db_url: str, tmp: Path, **config: object) -> Iterator[Rig]:
    """`make_rig`, closed afterwards (for the `rig` fixtures: a fixture imported from here
    would collide with ruff's F811)."""
    rig = make_rig(db_url, tmp, **config)
    try:
        yield rig
    finally:
        rig.close()


def balance(rig: Rig) -> int:
    """The test card's balance at the host."""
    with rig.db.transaction() as tx:
        return repo.balance(tx, card_account(card_ref_for(rig.core.secrets, PAN)))


def ledger_ok(rig: Rig) -> None:
    with rig.db.transaction(write=False) as tx:
        report = check_host(tx)
    assert report.ok, report.problems
