"""The host core end to end through real requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostkit import CREDIT_PAN, LOST_PAN, PAN, Term, open_host

from kassa.host import repo
from kassa.host.check import check_host
from kassa.host.core import HostCore
from kassa.iso8583.fields import Field54
from kassa.iso8583.keys import KeyMode
from kassa.iso8583.transactions import TxnType
from kassa.ledger import card_account
from kassa.store import Database
from kassa.terminal import requests as rq

T = TxnType


@pytest.fixture
def host(db_url: str) -> Iterator[tuple[Database, HostCore]]:
    db, core = open_host(db_url)
    try:
        yield db, core
    finally:
        db.close()


@pytest.fixture
def term(host: tuple[Database, HostCore]) -> Term:
    t = Term(*host)
    t.sign_on()
    return t


def card_balance(term: Term, pan: str = PAN) -> int:
    from kassa.host.admin import card_ref_for

    with term.db.transaction() as tx:
        return repo.balance(tx, card_account(card_ref_for(term.core.secrets, pan)))


def test_sign_on_delivers_keys_with_check_values_and_host_time(
    host: tuple[Database, HostCore],
) -> None:
    db, core = host
    for mode in KeyMode:
        t = Term(db, core)
        reply = t.sign_on(mode)
        assert reply.mti == "0810" and reply[12] and reply[13] and reply[37]
        assert (t.keys.tdk is not None) == (mode is KeyMode.DOUBLE_TDK)


def test_sale_is_approved_and_debits_the_card(term: Term) -> None:
    reply = term.send(term.request(T.SALE, 12_345))
    assert reply.mti == "0210" and reply[39] == "00"
    assert len(reply[37]) == 12 and len(reply[38]) == 6 and reply[4] == "000000012345"
    assert card_balance(term) == 100_000 - 12_345


def test_repeat_gets_the_stored_response_and_no_second_debit(term: Term) -> None:
    sale = term.request(T.SALE, 5_000)
    first = term.send(sale)
    again = term.send(sale)
    assert (again[37], again[38], again[39]) == (first[37], first[38], first[39])
    assert card_balance(term) == 100_000 - 5_000
    other = term.request(T.SALE, 6_000, stan=sale[11])
    assert term.send(other)[39] == "94"
    assert card_balance(term) == 100_000 - 5_000


@pytest.mark.parametrize(
    ("pan", "pin", "amount", "code"),
    [
        (PAN, "9999", 100, "55"),
        (PAN, "1234", 100_001, "51"),
        (LOST_PAN, "1111", 100, "41"),
        ("6212264000009999992", "1234", 100, "14"),
        (CREDIT_PAN, "4321", 100, "58"),
        (PAN, "1234", 5_000_001, "61"),
        (PAN, None, 100, "55"),
    ],
)
def test_declines(term: Term, pan: str, pin: str | None, amount: int, code: str) -> None:
    reply = term.send(term.request(T.SALE, amount, pin=pin, pan=pan))
    assert reply[39] == code
    assert card_balance(term) == 100_000


def test_three_wrong_pins_lock_the_card(term: Term) -> None:
    codes = [term.send(term.request(T.SALE, 100, pin="0000"))[39] for _ in range(3)]
    assert codes == ["55", "55", "75"]
    assert term.send(term.request(T.SALE, 100))[39] == "75"


def test_expired_card(term: Term) -> None:
    msg = term.request(T.SALE, 100)
    msg = msg.with_fields(f35=PAN + "D2301101")
    assert term.send(msg)[39] == "54"


def test_bad_mac_is_a0_and_asks_for_sign_on(term: Term) -> None:
    raw = bytearray(rq.seal(term.request(T.SALE, 100), term.keys.mak))
    raw[-1] ^= 0x01
    reply = term.exchange(bytes(raw))
    assert reply[39] == "A0"
    assert term.last_header is not None and term.last_header.processing == "3"
    assert card_balance(term) == 100_000


def test_unknown_terminal_and_not_signed_on(host: tuple[Database, HostCore]) -> None:
    db, core = host
    t = Term(db, core)
    t.who = rq.Identity("99999999", "123456789012345")
    assert t.exchange(rq.seal(rq.sign_on(t.who, "000001", "000001"), None))[39] == "97"
    t2 = Term(db, core)
    t2.keys = None
    msg = rq.financial(T.BALANCE, t2.who, "000002", "000001", None, t2.card())
    reply = t2.exchange(rq.seal(msg, None))
    assert reply[39] == "C1" and t2.last_header is not None and t2.last_header.processing == "3"


def test_balance_inquiry(term: Term) -> None:
    reply = term.send(term.request(T.BALANCE, None))
    assert reply[39] == "00"
    assert Field54.parse(reply[54]).available_fen == 100_000


def test_void_restores_and_cannot_repeat(term: Term) -> None:
    sale = term.send(term.request(T.SALE, 2_000))
    orig = rq.Original(term.batch, sale[11], rrn=sale[37], auth_code=sale[38])
    assert term.send(term.request(T.VOID, 1_999, original=orig))[39] == "64"
    assert term.send(term.request(T.VOID, 2_000, original=orig))[39] == "00"
    assert card_balance(term) == 100_000
    assert term.send(term.request(T.VOID, 2_000, original=orig))[39] == "12"


def test_refund_within_the_sale(term: Term) -> None:
    sale = term.send(term.request(T.SALE, 3_000))
    orig = rq.Original(term.batch, sale[11], date=sale[13], rrn=sale[37])
    assert term.send(term.request(T.REFUND, 1_000, pin=None, original=orig))[39] == "00"
    assert term.send(term.request(T.REFUND, 2_001, pin=None, original=orig))[39] == "64"
    assert term.send(term.request(T.REFUND, 2_000, pin=None, original=orig))[39] == "00"
    assert card_balance(term) == 100_000
    missing = rq.Original(rrn="000000999999")
    assert term.send(term.request(T.REFUND, 10, pin=None, original=missing))[39] == "25"


def test_preauth_completion_and_voids(term: Term) -> None:
    hold = term.send(term.request(T.PREAUTH, 50_000))
    assert hold[39] == "00" and card_balance(term) == 50_000
    orig = rq.Original(term.batch, hold[11], date=hold[13], auth_code=hold[38])
    assert term.send(term.request(T.COMPLETION, 57_501, original=orig))[39] == "61"
    done = term.send(term.request(T.COMPLETION, 48_000, original=orig))
    assert done[39] == "00" and card_balance(term) == 100_000 - 48_000
    cvoid = rq.Original(term.batch, done[11], rrn=done[37], auth_code=done[38])
    assert term.send(term.request(T.COMPLETION_VOID, 48_000, original=cvoid))[39] == "00"
    assert card_balance(term) == 50_000  # the hold is back
    assert term.send(term.request(T.PREAUTH_VOID, 50_000, original=orig))[39] == "00"
    assert card_balance(term) == 100_000


def test_reversal_after_before_and_instead(term: Term) -> None:
    sale = term.request(T.SALE, 7_000)
    assert term.send(sale)[39] == "00"
    rev = rq.reversal(sale, "98")
    assert term.send(rev)[39] == "00"
    assert term.send(rev)[39] == "00"  # idempotent
    assert card_balance(term) == 100_000
    # Reversal first, then the late original: declined, never approved.
    late = term.request(T.SALE, 8_000)
    assert term.send(rq.reversal(late, "98"))[39] == "25"
    assert term.send(late)[39] != "00"
    assert card_balance(term) == 100_000


def test_ledger_checks_pass_after_a_mixed_day(term: Term) -> None:
    for amount in (100, 200, 300):
        term.send(term.request(T.SALE, amount))
    sale = term.request(T.SALE, 999)
    term.send(sale)
    term.send(rq.reversal(sale, "98"))
    with term.db.transaction() as tx:
        report = check_host(tx)
        assert report.ok, report.problems
        assert report.entries == 2 + 4 + 1  # two opening balances, four sales, one reversal
        # Tamper with the projection: the check must notice.
        tx.execute("UPDATE accounts SET balance_fen = balance_fen + 1 WHERE account LIKE 'card:%'")
        assert any("projection" in p for p in check_host(tx).problems)


def test_risk_rules_decline_card_velocity_and_store_the_alert(
    host: tuple[Database, HostCore],
) -> None:
    from kassa.risk import RiskEngine, load_rules

    db, core = host
    core.financial.risk = RiskEngine(load_rules(
        '[rules.card_velocity]\ntype = "velocity"\nkey = "card"\nwindow_s = 600\n'
        'max_count = 2\naction = "decline"\ncode = "59"\n'
    ))  # fmt: skip
    t = Term(db, core)
    t.sign_on()
    codes = [t.send(t.request(T.SALE, 100))[39] for _ in range(3)]
    assert codes == ["00", "00", "59"]
    with db.transaction() as tx:
        alerts = tx.fetchall("SELECT action, response_code, detail FROM risk_alerts")
        risk = tx.fetchone("SELECT risk FROM txns WHERE response_code = '59'")
    assert [(a[0], a[1]) for a in alerts] == [("decline", "59")]
    assert "card_velocity" in alerts[0][2] and risk is not None and "card_velocity" in risk[0]
    assert card_balance(t) == 100_000 - 200
