"""Daily limits at the host: a card's count (65) and amount (61), a merchant's amount (61),
counted over the approved debits of the settlement date (a void gives its share back)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostkit import TMK_HEX, Term, open_host, signed_on

from kassa.host.loader import parse_reference
from kassa.iso8583.transactions import TxnType
from kassa.terminal import requests as rq

T = TxnType
COUNTED = "6212264000001899463"  # at most 2 debits a day
CAPPED = "6212264000000000022"  # at most 100.00 a day
FREE = "6212264000000000030"  # no daily limit of its own
REFERENCE = f"""
[[merchant]]
mid = "123456789012345"
name = "限额商户"
mcc = "5411"
fee_rate = "0.0038"
txn_limit = "50000.00"
daily_limit = "500.00"

[[terminal]]
tid = "12345678"
mid = "123456789012345"
tmk = "{TMK_HEX}"

[[card]]
pan = "{COUNTED}"
expiry = "2612"
pin = "1234"
balance = "1000.00"
daily_count = 2

[[card]]
pan = "{CAPPED}"
expiry = "2612"
pin = "1234"
balance = "1000.00"
daily_limit = "100.00"

[[card]]
pan = "{FREE}"
expiry = "2612"
pin = "1234"
balance = "5000.00"
"""


@pytest.fixture
def term(db_url: str) -> Iterator[Term]:
    with signed_on(*open_host(db_url, REFERENCE)) as term:
        yield term


def sale(term: Term, pan: str, fen: int) -> tuple[str, rq.Original]:
    reply = term.send(term.request(T.SALE, fen, pan=pan))
    return reply[39], rq.Original(term.batch, reply[11], rrn=reply.get(37), auth_code=reply.get(38))


def test_a_cards_daily_count_declines_65_and_a_void_gives_one_back(term: Term) -> None:
    assert sale(term, COUNTED, 100)[0] == "00"
    code, first = sale(term, COUNTED, 100)
    assert code == "00"
    assert sale(term, COUNTED, 100)[0] == "65"
    assert term.send(term.request(T.VOID, 100, pan=COUNTED, original=first))[39] == "00"
    assert sale(term, COUNTED, 100)[0] == "00"
    assert sale(term, COUNTED, 100)[0] == "65"


def test_a_cards_daily_amount_declines_61_only_what_would_pass_it(term: Term) -> None:
    assert sale(term, CAPPED, 6_000)[0] == "00"
    assert sale(term, CAPPED, 5_000)[0] == "61"  # 60.00 + 50.00 > 100.00
    assert sale(term, CAPPED, 4_000)[0] == "00"  # exactly 100.00
    assert sale(term, CAPPED, 1)[0] == "61"


def test_a_merchants_daily_amount_counts_every_card(term: Term) -> None:
    assert sale(term, FREE, 30_000)[0] == "00"
    assert sale(term, CAPPED, 9_000)[0] == "00"  # 390.00 at the merchant
    assert sale(term, FREE, 12_000)[0] == "61"  # 510.00 > 500.00
    code, last = sale(term, FREE, 11_000)  # exactly 500.00
    assert code == "00"
    assert sale(term, COUNTED, 1)[0] == "61"
    assert term.send(term.request(T.VOID, 11_000, pan=FREE, original=last))[39] == "00"
    assert sale(term, COUNTED, 11_000)[0] == "00"


@pytest.mark.parametrize("value", ['"2"', "0", "-1", "true", "2.5"])
def test_a_daily_count_that_is_not_a_whole_number_is_refused_at_load(value: str) -> None:
    text = REFERENCE.replace("daily_count = 2", f"daily_count = {value}")
    _, problems = parse_reference(text, "ref.toml")
    card_line = text.splitlines().index(f'pan = "{COUNTED}"')  # the [[card]] line above it
    assert [str(p) for p in problems] == [
        f"ref.toml:{card_line}: card: daily_count must be a whole number of at least 1,"
        " e.g. daily_count = 20"
    ]
