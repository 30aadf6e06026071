"""A real host core on a real database, and a scripted terminal that talks to it.

No mocks: the terminal side builds real UnionPay requests (PIN blocks, MACs) and the
host answers through `HostCore.handle` inside real transactions.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kassa.card import CardInput
from kassa.host.admin import load_reference
from kassa.host.core import HostConfig, HostCore
from kassa.host.loader import parse_reference
from kassa.host.schema import MIGRATIONS
from kassa.host.secrets import HostSecrets
from kassa.iso8583 import Message, decode
from kassa.iso8583.fields import Field60
from kassa.iso8583.framing import Frame, Header, split_body
from kassa.iso8583.keys import KeyMode, WorkingKeys, unwrap_working_keys
from kassa.iso8583.mac import verify_mac
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.risk import RiskEngine, load_rules
from kassa.store import Database, connect, migrate
from kassa.terminal import requests as rq

TMK_HEX = "11111111111111111111111111111111"
PAN = "6212264000001899463"
CREDIT_PAN = "6225880000000000002"
LOST_PAN = "6212264000000000014"
REFERENCE = f"""
[[merchant]]
mid = "123456789012345"
name = "测试商户"
mcc = "5411"
fee_rate = "0.0038"
credit_allowed = false
txn_limit = "50000.00"

[[terminal]]
tid = "12345678"
mid = "123456789012345"
tmk = "{TMK_HEX}"

[[card]]
pan = "{PAN}"
expiry = "2612"
pin = "1234"
balance = "1000.00"

[[card]]
pan = "{CREDIT_PAN}"
expiry = "2612"
pin = "4321"
kind = "credit"
credit_limit = "5000.00"

[[card]]
pan = "{LOST_PAN}"
expiry = "2612"
pin = "1111"
balance = "10.00"
status = "lost"
"""
T0_MS = 1_795_000_000_000  # 2026-11-18, a fixed clock for deterministic tests
TPDU = bytes.fromhex("6000030000")
HEADER = Header(bytes.fromhex("603100310000"))


def open_host(db_url: str, reference: str = REFERENCE) -> tuple[Database, HostCore]:
    db = connect(db_url)
    migrate(db, "host", MIGRATIONS)
    secrets = HostSecrets.from_master(bytes(range(32)))
    rng = random.Random(7)
    core = HostCore(secrets, HostConfig(), rng.randbytes)
    ref, problems = parse_reference(reference, "test.toml")
    assert not problems, problems
    with db.transaction() as tx:
        load_reference(tx, secrets, ref, T0_MS, rng.randbytes)
    return db, core


@dataclass
class Term:
    """A scripted terminal: keeps STAN, batch and working keys like a real one."""

    db: Database
    core: HostCore
    who: rq.Identity = field(default_factory=lambda: rq.Identity("12345678", "123456789012345"))
    stan: int = 0
    batch: str = "000001"
    keys: WorkingKeys | None = None
    now_ms: int = T0_MS
    last_header: Header | None = None

    def next_stan(self) -> str:
        self.stan = self.stan % 999_999 + 1
        return f"{self.stan:06d}"

    def exchange(self, raw: bytes) -> Message:
        body = Frame(TPDU, HEADER, raw).to_bytes()[2:]
        with self.db.transaction() as tx:
            answer = self.core.handle(tx, body, self.now_ms)
        assert answer is not None
        frame = split_body(answer)
        assert frame.tpdu == TPDU
        self.last_header = frame.header
        reply = decode(frame.message)
        if 64 in reply and self.keys is not None:
            assert verify_mac(self.keys.mak, frame.message[:-8], frame.message[-8:])
        return reply

    def sign_on(self, mode: KeyMode = KeyMode.DOUBLE_TDK) -> Message:
        reply = self.exchange(
            rq.seal(rq.sign_on(self.who, self.next_stan(), self.batch, mode), None)
        )
        assert reply[39] == "00", reply[39]
        keys, ok = unwrap_working_keys(bytes.fromhex(TMK_HEX), bytes.fromhex(reply[62]), mode)
        assert ok
        self.keys = keys
        self.batch = Field60.parse(reply[60]).batch
        return reply

    def card(self, pan: str = PAN, expiry: str = "2612") -> CardInput:
        return CardInput.from_swipe(f";{pan}={expiry}1010000012345?")

    def request(
        self,
        txn: TxnType,
        amount_fen: int | None,
        pin: str | None = "1234",
        pan: str = PAN,
        original: rq.Original | None = None,
        stan: str | None = None,
    ) -> Message:
        assert self.keys is not None
        block = make_pin_block(self.keys.pik, pin, pan) if pin else None
        stan = stan or self.next_stan()
        return rq.financial(
            txn, self.who, stan, self.batch, amount_fen, self.card(pan), block, original
        )

    def send(self, msg: Message) -> Message:
        return self.exchange(rq.seal(msg, self.keys.mak if self.keys else None))


@contextmanager
def signed_on(db: Database, core: HostCore) -> Iterator[Term]:
    """A terminal signed on at `core`; `db` is closed afterwards (for the `term` fixtures:
    a fixture imported from here would collide with ruff's F811)."""
    term = Term(db, core)
    term.sign_on()
    try:
        yield term
    finally:
        db.close()


CARD_THREE_RULES = """
[rules.card_three]
type = "velocity"
key = "card"
window_s = 600
max_count = 3
count = "approved"
action = "decline"
code = "59"
"""


def card_three_engine() -> RiskEngine:
    """A risk engine with one rule: a card's 4th approval within 600 s is declined 59."""
    return RiskEngine(load_rules(CARD_THREE_RULES))
