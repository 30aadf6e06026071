"""`make demo`: one business day on embedded SQLite, narrated as it runs.

A real host server on loopback, three real terminals (each with its own journal), the
morning sign-on, sales, a void, a refund, a wrong PIN, a network cut mid-sale answered by
an automatic reversal, a host outage with offline sales, settlement — one batch
unbalanced and resolved by batch upload — and the day's report with the ledger proof.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from kassa.auth import HASH_FAST, AuthSettings, Role
from kassa.auth.store import OperatorStore
from kassa.card import CardInput
from kassa.clock import SYSTEM
from kassa.host.admin import load_reference
from kassa.host.loader import parse_reference
from kassa.host.runtime import HostRuntime, open_host
from kassa.host.service import GroupCommitter
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.net import FrameServer, HostAddress, HostLink
from kassa.net.proxy import FaultProxy
from kassa.terminal.journal import Journal
from kassa.terminal.outcome import Outcome
from kassa.terminal.pos import Terminal
from kassa.terminal.printing import PrintingReceipts
from kassa.terminal.requests import Original
from kassa.terminal.service import TxnRequest

TMK = "0123456789ABCDEFFEDCBA9876543210"
CARDS = {
    "rich": "6212264000001899463",
    "poor": "6212264000000000014",
    "credit": "6225880000000000002",
}
REFERENCE = (
    """
[[merchant]]
mid = "898310048990001"
name = "演示便利店"
mcc = "5411"
fee_rate = "0.0038"
credit_allowed = true
txn_limit = "50000.00"
"""
    + "".join(
        f"""
[[terminal]]
tid = "1000000{n}"
mid = "898310048990001"
tmk = "{TMK}"
"""
        for n in (1, 2, 3)
    )
    + f"""
[[card]]
pan = "{CARDS["rich"]}"
expiry = "3012"
pin = "123456"
balance = "5000.00"
[[card]]
pan = "{CARDS["poor"]}"
expiry = "3012"
pin = "654321"
balance = "30.00"
[[card]]
pan = "{CARDS["credit"]}"
expiry = "3012"
pin = "888888"
kind = "credit"
credit_limit = "20000.00"
"""
)


@dataclass
class Till:
    name: str
    terminal: Terminal
    home: Path

    def card(self, who: str) -> CardInput:
        return CardInput.from_swipe(f";{CARDS[who]}=30121010000012345?")

    def request(self, txn: TxnType, yuan: str | None, who: str, pin: str | None,
                original: Original | None = None, orig_id: int | None = None) -> TxnRequest:  # fmt: skip
        keys = self.terminal.journal.keys()
        assert keys is not None
        block = make_pin_block(keys.pik, pin, CARDS[who]) if pin else None
        amount = Amount.parse(yuan).fen if yuan else None
        return TxnRequest(txn, amount, self.card(who), block, original, orig_id)


class Day:
    def __init__(self, base: Path, console: Console) -> None:
        self.base = base
        self.say = console.print
        self.console = console
        self.host: HostRuntime | None = None
        self.server: FrameServer | None = None
        self.committer: GroupCommitter | None = None
        self.proxy: FaultProxy | None = None
        self.port = 0
        self.tills: list[Till] = []

    async def start_host(self, port: int = 0) -> None:
        assert self.host is not None
        self.committer = GroupCommitter(self.host.db, self.host.core)
        self.committer.start()
        self.server = FrameServer(self.committer.submit, host="127.0.0.1", port=port)
        await self.server.start()
        self.port = self.server.port

    async def stop_host(self) -> None:
        assert self.server is not None and self.committer is not None
        await self.server.stop(grace_s=2.0)
        await self.committer.stop()

    def open_host(self) -> None:
        self.host = open_host(f"sqlite:///{self.base / 'host' / 'host.db'}", self.base)
        ref, problems = parse_reference(REFERENCE, "demo")
        assert not problems, problems
        with self.host.db.transaction() as tx:
            load_reference(tx, self.host.secrets, ref, SYSTEM.now_ms(), os.urandom)

    def open_till(self, n: int, port: int) -> Till:
        home = self.base / f"terminal{n}"
        home.mkdir(parents=True, exist_ok=True)
        journal = Journal.open(str(home / "journal.db"), os.urandom(32))
        config = journal.config()
        for key, value in {"tid": f"1000000{n}", "mid": "898310048990001",
                           "merchant_name": "演示便利店", "hosts": f"127.0.0.1:{port}",
                           "floor_limit_fen": "200.00", "response_timeout_ms": "3000",
                           "connect_timeout_ms": "1000", "printer": f"file://{home / 'printer.bin'}"}.items():  # fmt: skip
            config = config.updated(key, value)
        journal.save_config(config)
        journal.set_tmk(bytes.fromhex(TMK))
        link = HostLink(
            [HostAddress("127.0.0.1", port)], connect_timeout_s=1.0, response_timeout_s=3.0
        )
        return Till(f"T{n}", Terminal(journal, link, receipts=PrintingReceipts(journal)), home)

    def login(self, till: Till) -> None:
        store = OperatorStore(
            till.terminal.journal.db, settings=AuthSettings(hash_params=HASH_FAST)
        )
        store.add("01", Role.CASHIER, "Cash1er!Pass#26", SYSTEM.now_ms(), temporary=False)
        result = store.login("01", "Cash1er!Pass#26", None, SYSTEM.now_ms())
        assert result.ok
        till.terminal.journal.put(operator="01")

    def show(self, till: Till, what: str, outcome: Outcome) -> Outcome:
        amount = f"RMB {Amount(outcome.amount_fen).yuan()}" if outcome.amount_fen else ""
        colour = (
            "green"
            if outcome.ok
            else ("yellow" if outcome.state and outcome.state.value == "in_doubt" else "red")
        )
        line = f"  {till.name} {what:<28} {amount:>14}  [{colour}]{outcome.headline()}[/]"
        if outcome.rrn:
            line += f"  参考号 {outcome.rrn}"
        self.say(line)
        if not outcome.ok:
            self.say(f"      → {outcome.entry.cashier_zh} / {outcome.entry.action_zh}")
        for note in outcome.notes:
            if note == "reversed":
                self.say("      → 已自动冲正，顾客未被扣款 reversed automatically: not charged")
            if note == "saf":
                self.say("      → 离线批准，存储转发 approved offline, stored for upload")
        return outcome
