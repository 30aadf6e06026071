"""Logs: JSON lines with card data masked, rotation by size and at midnight, fault summary."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa import logs
from kassa.card import luhn_digit
from kassa.terminal.journal import Journal

CST = timezone(timedelta(hours=8))


def _pan(body: str) -> str:
    return body + luhn_digit(body)


PAN = _pan("621226400000018")  # 16 digits, Luhn-valid
MASKED = f"{PAN[:6]}******{PAN[-4:]}"  # PCI DSS 3.4.1: first six, last four


pans = (
    st.integers(12, 18).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)).map(_pan)
)


@given(pans, st.text("0123456789", min_size=7, max_size=20))
def test_track2_never_survives(pan: str, tail: str) -> None:
    out = logs.redact(f'{{"msg": "swipe ;{pan}={tail}? read"}}')
    assert pan not in out
    assert f"={tail}" not in out


@given(
    st.text("0123456789ABCDEF", min_size=16, max_size=16),
    st.sampled_from(['"pin_block": "{}"', "pin={}", "PIN: {}", "'pinblock': '{}'", "pin-block={}"]),
)
def test_a_pin_block_after_a_pin_key_is_masked(block: str, shape: str) -> None:
    out = logs.redact("before " + shape.format(block) + " after")
    assert block not in out and "*" * 16 in out


def test_redaction_is_precise() -> None:
    assert PAN not in logs.redact(f"card {PAN} approved")
    assert MASKED in logs.redact(f"card {PAN} approved")
    # A track 2 whose PAN fails Luhn (a misread) is still masked after the separator.
    assert logs.redact("t2 6212264000000189947D25121010000012345") == (
        "t2 621226*********9947D" + "*" * 17
    )
    # 16 hex digits that are not after a pin key stay: MACs, key check values, hashes.
    for text in ('"mac": "0123456789ABCDEF"', "spin=0123456789ABCDEF", "pinpad=0123456789ABCDEF"):
        assert logs.redact(text) == text
    assert logs.redact("pin=0123456789ABCDEF0") == "pin=0123456789ABCDEF0"  # 17 digits


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("kassa.test_logs")
    yield log
    for handler in log.handlers:
        handler.close()
    log.handlers.clear()


def attach(
    log: logging.Logger, path: Path, clock: Clock, max_bytes: int = 10_000, kept: int = 5
) -> logs.DailySizeRotatingHandler:
    handler = logs.DailySizeRotatingHandler(path, max_bytes, kept, clock=clock, tz=CST)
    handler.setFormatter(logs.JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_lines_are_json_with_card_data_masked(tmp_path: Path, logger: logging.Logger) -> None:
    attach(logger, tmp_path / "kassa.log", Clock(datetime(2026, 5, 1, 9, tzinfo=CST)))
    logger.info("sale for %s", PAN, extra={"fields": {"pin_block": "A1B2C3D4E5F60718"}})
    [doc] = lines(tmp_path / "kassa.log")
    assert doc["msg"] == f"sale for {MASKED}" and doc["pin_block"] == "*" * 16
    assert doc["level"] == "info" and doc["logger"] == "kassa.test_logs"


def test_rotates_at_local_midnight(tmp_path: Path, logger: logging.Logger) -> None:
    clock = Clock(datetime(2026, 5, 1, 23, 59, tzinfo=CST))
    attach(logger, tmp_path / "kassa.log", clock)
    logger.info("last of may first")
    clock.now += 120  # 00:01 on 2 May, local time
    logger.info("first of may second")
    assert [d["msg"] for d in lines(tmp_path / "kassa.log.2026-05-01")] == ["last of may first"]
    assert [d["msg"] for d in lines(tmp_path / "kassa.log")] == ["first of may second"]


def test_rotates_at_the_size_limit_and_keeps_n_files(
    tmp_path: Path, logger: logging.Logger
) -> None:
    clock = Clock(datetime(2026, 5, 1, 10, tzinfo=CST))
    handler = attach(logger, tmp_path / "kassa.log", clock, max_bytes=400, kept=3)
    for number in range(40):
        logger.info("line %02d", number)
    names = [p.name for p in handler.rotated()]
    assert len(names) == 3 and all(n.startswith("kassa.log.2026-05-01.") for n in names)
    for path in [*handler.rotated(), tmp_path / "kassa.log"]:
        assert 0 < path.stat().st_size <= 400
    kept = [d["msg"] for p in [*handler.rotated(), tmp_path / "kassa.log"] for d in lines(p)]
    assert kept == [f"line {n:02d}" for n in range(40 - len(kept), 40)]  # newest, in order


def test_a_file_left_from_yesterday_is_rotated_first(
    tmp_path: Path, logger: logging.Logger
) -> None:
    path = tmp_path / "kassa.log"
    path.write_text('{"msg": "old"}\n', encoding="utf-8")
    yesterday = datetime(2026, 4, 30, 18, tzinfo=CST).timestamp()
    os.utime(path, (yesterday, yesterday))
    attach(logger, path, Clock(datetime(2026, 5, 1, 8, tzinfo=CST)))
    logger.info("today")
    assert [d["msg"] for d in lines(tmp_path / "kassa.log.2026-04-30")] == ["old"]
    assert [d["msg"] for d in lines(path)] == ["today"]


def test_configure_with_a_home_writes_to_its_logs_directory(tmp_path: Path) -> None:
    logs.configure(home=tmp_path)
    try:
        logging.getLogger("kassa.somewhere").warning("hello %s", PAN)
    finally:
        root = logging.getLogger("kassa")
        for handler in root.handlers:
            handler.close()
        root.handlers.clear()
    [doc] = lines(tmp_path / "logs" / "kassa.log")
    assert doc["msg"] == f"hello {MASKED}"


def test_fault_summary_groups_faults_and_leaves_routine_out(tmp_path: Path) -> None:
    journal = Journal.open(str(tmp_path / "j.db"), bytes(32))
    try:
        for at in (1000, 2000, 3000):
            journal.event(at, "reversal", "00", "reason 98")
        journal.event(1500, "offline_declined_later", "51", f"card {PAN}")
        journal.event(1600, "settlement", "00", "batch 000001 closed, next 000002")
        journal.event(1700, "recovered", None, "sale in_doubt")
        summary = logs.terminal_fault_summary(journal)
        assert logs.terminal_fault_summary(journal, since_ms=2500)[0]["count"] == 1
    finally:
        journal.close()
    assert [(s["kind"], s["code"], s["count"]) for s in summary] == [
        ("reversal", "00", 3),
        ("recovered", None, 1),
        ("offline_declined_later", "51", 1),
    ]
    declined = summary[2]
    assert declined["last_detail"] == f"card {MASKED}"
    assert declined["cause"] and declined["outcome"] and declined["meaning_en"]
    assert (summary[0]["first_ms"], summary[0]["last_ms"]) == (1000, 3000)
    text = logs.fault_summary_text(summary)
    assert text == "reversal:00*3;recovered:-*1;offline_declined_later:51*1"
    assert logs.fault_summary_text(summary, size_max_bytes=30) == "reversal:00*3;recovered:-*1;+1"
