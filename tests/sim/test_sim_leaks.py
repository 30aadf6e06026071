"""The card-data scanner finds what must never rest on disk or in a log, and only that."""

from __future__ import annotations

import logging
from pathlib import Path

from kassa.iso8583.pinblock import pin_block
from kassa.sim.leaks import LogCapture, scan_bytes, scan_databases
from kassa.sim.reference import CARDS
from kassa.store import connect

CARD = CARDS[0]


def test_clean_bytes_and_masked_pans_pass() -> None:
    masked = f"{CARD.pan[:6]}******{CARD.pan[-4:]}".encode()
    other = b"4111111111111111"  # a Luhn-valid number, but not one of the shop's cards
    assert scan_bytes(b"\x00" * 64 + masked + b" 20261118 " + other, "x") == []


def test_clear_pan_is_found_as_text_and_as_bcd() -> None:
    text = scan_bytes(b"..." + CARD.pan.encode() + b"...", "f")
    assert any("clear PAN" in p for p in text) and any("Luhn-valid" in p for p in text)
    bcd = scan_bytes(b"\x01" + bytes.fromhex(CARD.pan[:18]) + b"\x02", "f")
    assert any("BCD PAN" in p for p in bcd)


def test_track2_is_found_even_for_an_unknown_card() -> None:
    assert scan_bytes(b"x4111111111111111=30121010000?", "f") == ["f: track 2 data"]
    assert scan_bytes(b"x4111111111111111D3012101", "f") == ["f: track 2 data"]


def test_digits_that_only_look_like_track2_pass() -> None:
    assert scan_bytes(b"898310048160001D900000000002525", "f") == []  # a MID, then no month
    assert scan_bytes(b"1234567890123=3012101", "f") == []  # not Luhn-valid


def test_clear_pin_forms_are_found_raw_and_hex() -> None:
    block = pin_block(CARD.pin, CARD.pan, 0)
    field = bytes.fromhex(f"04{CARD.pin}FFFFFFFFFF")
    for data in (block, block.hex().upper().encode(), field, field.hex().encode()):
        problems = scan_bytes(b"<" + data + b">", "f")
        assert problems and all("PIN" in p for p in problems), problems


def test_database_files_are_scanned_with_their_wal(tmp_path: Path) -> None:
    path = tmp_path / "leaky.db"
    db = connect(f"sqlite:///{path}")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (v TEXT)")
        tx.execute("INSERT INTO t (v) VALUES (?)", (f"track {CARD.swipe()}",))
    problems = scan_databases([path])  # still open: the row sits in the WAL
    db.close()
    assert any(p.startswith("leaky.db-wal: clear PAN") for p in problems), problems
    assert any("track 2" in p for p in problems)


def test_logs_are_scanned_as_written() -> None:
    log = logging.getLogger("kassa.sim.test")
    block = pin_block(CARD.pin, CARD.pan, 0).hex().upper()
    with LogCapture() as capture:
        log.warning("card %s declined", CARD.pan)  # the JSON formatter masks the PAN
        log.warning("pin block %s", block)  # but nothing masks a clear PIN block
    log.warning("after the capture: %s", block)
    problems = capture.scan()
    assert len(capture.lines) == 2 and CARD.pan not in capture.lines[0]
    assert problems and all("PIN block" in p for p in problems), problems
