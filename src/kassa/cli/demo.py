"""`kassa demo`: what Kassa does today, shown on real messages.

A terminal signs on to a host on an embedded SQLite database, takes a sale with a PIN
block and MAC, and the messages are decoded and explained the way an engineer would.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from kassa.card import CardInput
from kassa.guide import lookup
from kassa.host.admin import load_reference
from kassa.host.core import HostConfig, HostCore
from kassa.host.loader import parse_reference
from kassa.host.schema import MIGRATIONS
from kassa.host.secrets import HostSecrets
from kassa.iso8583 import decode
from kassa.iso8583.fields import Field60
from kassa.iso8583.framing import Frame, Header, split_body
from kassa.iso8583.keys import KeyMode, unwrap_working_keys
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.render import field_rows
from kassa.iso8583.transactions import TxnType
from kassa.store import connect, migrate
from kassa.terminal import requests as rq

_TMK = "0123456789ABCDEFFEDCBA9876543210"
_PAN = "6212264000001899463"
_REFERENCE = f"""
[[merchant]]
mid = "898310048990001"
name = "演示便利店"
mcc = "5411"
fee_rate = "0.0038"
credit_allowed = true
txn_limit = "50000.00"
[[terminal]]
tid = "10000001"
mid = "898310048990001"
tmk = "{_TMK}"
[[card]]
pan = "{_PAN}"
expiry = "3012"
pin = "123456"
balance = "800.00"
"""
_TPDU = bytes.fromhex("6000030000")
_HEADER = Header(bytes.fromhex("603100310000"))


def _show(console: Console, title: str, wire: bytes) -> None:
    frame = split_body(wire)
    msg = decode(frame.message)
    table = Table(title=f"{title}  —  MTI {msg.mti}, {len(wire) + 2} bytes on the wire")
    for col in ("F", "名称 / name", "format", "value (masked)"):
        table.add_column(col, overflow="fold")
    for row in field_rows({str(k): v for k, v in msg.fields.items()}):
        table.add_row(*row)
    console.print(table)


def run_demo() -> None:
    """The demo business day (`make demo`)."""
    import asyncio

    from kassa.ops.demo_script import run_day

    console = Console()
    console.print(Panel("Kassa — 一个营业日 a business day: host + three terminals", style="bold"))
    asyncio.run(run_day(console))


def run_protocol_demo() -> None:
    """Messages built, decoded and explained (the engineer's view)."""
    console = Console()
    console.print(Panel("Kassa — UnionPay ISO 8583 POS: terminal ⇄ acquirer host", style="bold"))
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        db = connect(f"sqlite:///{Path(tmp) / 'host.db'}")
        migrate(db, "host", MIGRATIONS)
        secrets = HostSecrets.from_master(rng.randbytes(32))
        core = HostCore(secrets, HostConfig(), rng.randbytes)
        ref, problems = parse_reference(_REFERENCE, "demo")
        assert not problems
        now = 1_795_000_000_000
        with db.transaction() as tx:
            load_reference(tx, secrets, ref, now, rng.randbytes)

        def exchange(raw: bytes, title: str) -> bytes:
            body = Frame(_TPDU, _HEADER, raw).to_bytes()[2:]
            _show(console, "→ " + title, body)
            with db.transaction() as tx:
                answer = core.handle(tx, body, now)
            assert answer is not None
            _show(console, "← " + title, answer)
            return split_body(answer).message

        who = rq.Identity("10000001", "898310048990001")
        reply = decode(exchange(rq.seal(rq.sign_on(who, "000001", "000001"), None), "签到 sign-on"))
        keys, ok = unwrap_working_keys(
            bytes.fromhex(_TMK), bytes.fromhex(reply[62]), KeyMode.DOUBLE
        )
        console.print(f"working keys unwrapped under the TMK; check values match: [bold]{ok}[/]")
        batch = Field60.parse(reply[60]).batch
        card = CardInput.from_swipe(f";{_PAN}=30121010000012345?")
        block = make_pin_block(keys.pik, "123456", _PAN)
        sale = rq.financial(TxnType.SALE, who, "000002", batch, 12_800, card, block)
        answer = decode(exchange(rq.seal(sale, keys.mak), "消费 sale ¥128.00"))
        for code in (answer[39], "51", "A0"):
            entry = lookup(code)
            console.print(f"[bold]{code}[/] {entry.meaning_zh} / {entry.meaning_en} — "
                          f"{entry.action_zh} / {entry.action_en}")  # fmt: skip
        db.close()
