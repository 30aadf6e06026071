"""Shared by the settlement tests (no tests here): a host with two merchants of different
fee terms, real terminals driving real transactions through it, and the day's clock.

Fee terms, and what the scenario of `day_one` books (every number worked out by hand):

M1 123456789012345: 0.60% + 0.10 fixed, min 0.50, cap 20.00
  sale 100.00 ........ fee 0.60 + 0.10 = 0.70
  sale 50.00, voided the same day .............. excluded (pair)
  sale 5000.00 ....... fee 30.00 + 0.10 -> cap 20.00
  sale 1.00 .......... fee 0.006 -> 0.01 + 0.10 -> min 0.50
  sale 77.00, reversed (0400) the same day ...... excluded (pair)
  refund 40.00 of the 100.00 sale .... fee kept 0 / returned 0.28 (40% of 0.70)
  pre-auth 200.00 (no merchant money), completion 180.00 ... fee 1.08 + 0.10 = 1.18
  sale 60000.00 declined (over the merchant's limit) ....... not counted
  gross 5281.00, refunds 40.00, fee 22.38 (kept) / 22.10 (returned)

M2 987654321098765: 0.38%, no minimum, cap 25.00
  sale 1000.00 ....... fee 3.80
  sale 25.00 ......... fee 9.5 fen -> 0.10 (half up)
  sale 24.99 ......... fee 9.4962 fen -> 0.09
  sale 10000.00 ...... fee 38.00 -> cap 25.00
  refund 1000.00 of the 1000.00 sale .. fee kept 0 / returned 3.80
  gross 11049.99, refunds 1000.00, fee 28.99 (kept) / 25.19 (returned)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

from hostkit import PAN, TMK_HEX, Term, open_host

from kassa.backoffice import COMPONENT, MIGRATIONS, Cutoff
from kassa.host.core import HostCore
from kassa.iso8583 import Message
from kassa.iso8583.transactions import TxnType
from kassa.store import Database, migrate
from kassa.terminal import requests as rq

T = TxnType
M1, M2 = "123456789012345", "987654321098765"
TID1, TID2 = "12345678", "87654321"
REFERENCE = f"""
[[merchant]]
mid = "{M1}"
name = "测试商户, 一号"
mcc = "5411"
fee_rate = "0.006"
fee_fixed = "0.10"
fee_min = "0.50"
fee_max = "20.00"
txn_limit = "50000.00"

[[merchant]]
mid = "{M2}"
name = "<b>Shop & Co</b>"
mcc = "5812"
fee_rate = "0.0038"
fee_max = "25.00"
txn_limit = "50000.00"

[[terminal]]
tid = "{TID1}"
mid = "{M1}"
tmk = "{TMK_HEX}"

[[terminal]]
tid = "{TID2}"
mid = "{M2}"
tmk = "{TMK_HEX}"

[[card]]
pan = "{PAN}"
expiry = "2612"
pin = "1234"
balance = "100000.00"
"""
DAY = date(2026, 11, 18)
CUT = Cutoff()  # 23:00 UTC+8
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# 2026-11-18 19:06:40 UTC+8, inside the window (2026-11-17 23:00, 2026-11-18 23:00].
AT_MS = 1_795_000_000_000
RUN_MS = CUT.end_ms(DAY) + HOUR_MS  # the run: an hour after the cut-off


@dataclass
class World:
    db: Database
    core: HostCore
    t1: Term
    t2: Term

    def close(self) -> None:
        self.db.close()

    def entries(self) -> int:
        with self.db.transaction(write=False) as tx:
            row = tx.fetchone("SELECT COUNT(*) FROM ledger_entries")
        assert row is not None
        return int(row[0])

    def balance(self, account: str) -> int:
        with self.db.transaction(write=False) as tx:
            row = tx.fetchone("SELECT balance_fen FROM accounts WHERE account = ?", (account,))
        return int(row[0]) if row else 0


def open_world(db_url: str) -> World:
    db, core = open_host(db_url, REFERENCE)
    migrate(db, COMPONENT, MIGRATIONS)
    t1 = Term(db, core, who=rq.Identity(TID1, M1), now_ms=AT_MS)
    t2 = Term(db, core, who=rq.Identity(TID2, M2), now_ms=AT_MS)
    t1.sign_on()
    t2.sign_on()
    return World(db, core, t1, t2)


def ok(term: Term, msg: Message) -> Message:
    reply = term.send(msg)
    assert reply[39] == "00", reply[39]
    return reply


def sale(term: Term, amount: int) -> Message:
    return ok(term, term.request(T.SALE, amount))


def void(term: Term, original: Message, amount: int) -> Message:
    orig = rq.Original(term.batch, original[11], rrn=original[37], auth_code=original[38])
    request = term.request(T.VOID, amount, original=orig)
    ok(term, request)
    return request


def refund(term: Term, original: Message, amount: int) -> Message:
    orig = rq.Original(term.batch, original[11], date=original[13], rrn=original[37])
    return ok(term, term.request(T.REFUND, amount, pin=None, original=orig))


def reversed_sale(term: Term, amount: int) -> None:
    request = term.request(T.SALE, amount)
    ok(term, request)
    ok(term, rq.reversal(request, "98"))


def completion(term: Term, hold_amount: int, amount: int) -> Message:
    hold = ok(term, term.request(T.PREAUTH, hold_amount))
    orig = rq.Original(term.batch, hold[11], date=hold[13], auth_code=hold[38])
    return ok(term, term.request(T.COMPLETION, amount, original=orig))


@dataclass
class DayOne:
    m1_sale: Message  # the 100.00 sale refunded by 40.00
    m2_sale_25: Message  # the 25.00 sale


def day_one(world: World) -> DayOne:
    """The day described in the module docstring, on both terminals."""
    t1, t2 = world.t1, world.t2
    first = sale(t1, 10_000)
    void(t1, sale(t1, 5_000), 5_000)
    sale(t1, 500_000)
    sale(t1, 100)
    reversed_sale(t1, 7_700)
    refund(t1, first, 4_000)
    completion(t1, 20_000, 18_000)
    assert t1.send(t1.request(T.SALE, 6_000_000))[39] != "00"
    big = sale(t2, 100_000)
    sale_25 = sale(t2, 2_500)
    sale(t2, 2_499)
    sale(t2, 1_000_000)
    refund(t2, big, 100_000)
    return DayOne(first, sale_25)


def at(world: World, ms: int) -> None:
    """Move both terminals' clocks."""
    world.t1.now_ms = world.t2.now_ms = ms
