"""The SNTP client (RFC 4330) against a real SNTP server on 127.0.0.1, its packet checks,
the doctor's verdict on the clock, and UTC + zone in the terminal's journal."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.clock import FixedClock
from kassa.ops.doctor.checks import clock_ntp_check
from kassa.ops.drills.cast import Narrator
from kassa.ops.drills.stage import Stage
from kassa.ops.ntp import (
    SntpServer,
    from_ntp,
    parse_reply,
    query,
    request_packet,
    to_ntp,
)

pytestmark = pytest.mark.anyio
TOLERANCE_MS = 250  # loopback round trip and scheduling, generously


def test_epochs_follow_rfc_868_and_rfc_4330() -> None:
    # RFC 868: 2,208,988,800 seconds from 1900-01-01 to 1970-01-01.
    assert to_ntp(0) == 2_208_988_800 << 32
    # RFC 4330 §3: with bit 0 clear, time is reckoned from 2036-02-07 06:28:16 UTC (era 1).
    era1 = int(datetime(2036, 2, 7, 6, 28, 16, tzinfo=UTC).timestamp())
    assert from_ntp(0) == era1 * 1_000_000_000
    # ... and with bit 0 set it is 1968-2036: 1968-01-20 03:14:08 UTC is 0x80000000 s.
    start_1968 = int(datetime(1968, 1, 20, 3, 14, 8, tzinfo=UTC).timestamp())
    assert from_ntp(0x8000_0000 << 32) == start_1968 * 1_000_000_000


@given(st.integers(min_value=-61_000_000 * 10**9, max_value=4_000_000_000 * 10**9))
def test_timestamps_round_trip_to_the_nanosecond(unix_ns: int) -> None:
    """1968..2096: both eras. The 32-bit fraction (~0.23 ns) loses at most 1 ns."""
    assert 0 <= unix_ns - from_ntp(to_ntp(unix_ns)) <= 1


def test_a_true_server_gives_a_small_offset() -> None:
    with SntpServer() as server:
        result = query("127.0.0.1", server.port, timeout_s=2.0)
    assert result.ok, result.error
    assert result.offset_ms is not None and abs(result.offset_ms) < TOLERANCE_MS
    assert result.delay_ms is not None and 0 <= result.delay_ms < TOLERANCE_MS
    assert result.stratum == 2 and server.answered == 1


@pytest.mark.parametrize("skew_ms", [5_000, -90 * 60_000, 400 * 86_400_000])
def test_a_skewed_server_shows_its_skew(skew_ms: int) -> None:
    with SntpServer(skew_ms=skew_ms) as server:
        result = query("127.0.0.1", server.port)
    assert result.offset_ms is not None
    assert abs(result.offset_ms - skew_ms) < TOLERANCE_MS


def test_our_own_clock_being_wrong_shows_the_other_way() -> None:
    wrong = FixedClock(time.time_ns() // 1_000_000 - 3_600_000)  # an hour behind
    with SntpServer() as server:
        result = query("127.0.0.1", server.port, clock=wrong)
    assert result.offset_ms is not None and abs(result.offset_ms - 3_600_000) < TOLERANCE_MS


def test_a_silent_server_times_out() -> None:
    with SntpServer() as server:
        server.silent = True
        started = time.monotonic()
        result = query("127.0.0.1", server.port, timeout_s=0.3)
    assert not result.ok and result.error is not None and result.error.startswith("timeout")
    assert 0.25 < time.monotonic() - started < 2.0


def test_an_unknown_name_is_a_dns_error() -> None:
    result = query("no-such-ntp-server.invalid", timeout_s=0.5)
    assert result.error is not None and result.error.startswith("dns")


@pytest.fixture
def spoofer() -> Iterator[tuple[int, list[bytes]]]:
    """A UDP server that answers every request with the next canned reply, as is."""
    replies: list[bytes] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                _, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            if replies:
                sock.sendto(replies.pop(0), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1]), replies
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_an_answer_to_someone_else_is_refused(spoofer: tuple[int, list[bytes]]) -> None:
    """A blind spoofer cannot know our transmit timestamp (it has random low bits)."""
    port, replies = spoofer
    now = to_ntp(time.time_ns())
    reply = bytes([0x24, 2, 0, 0]) + bytes(20) + now.to_bytes(8, "big") * 3
    replies.append(reply)
    result = query("127.0.0.1", port, timeout_s=1.0)
    assert result.error is not None and "originate" in result.error


def _reply(sent: int, first: int = 0x24, stratum: int = 2, transmit: int | None = None) -> bytes:
    now = to_ntp(time.time_ns()) if transmit is None else transmit
    head = bytes([first, stratum, 0, 0]) + bytes(8) + b"RATE" + bytes(8)
    return head + sent.to_bytes(8, "big") + now.to_bytes(8, "big") * 2


@pytest.mark.parametrize(
    ("packet", "why"),
    [
        (_reply(7, first=0x23), "mode 3"),  # a client packet echoed back
        (_reply(7, stratum=0), "kiss-of-death 'RATE'"),
        (_reply(7, first=0xE4), "not synchronised"),  # leap indicator 3: alarm
        (_reply(7, stratum=16), "not synchronised"),
        (_reply(7, transmit=0), "no transmit timestamp"),
        (_reply(7)[:40], "40 bytes"),
    ],
    ids=["mode-3", "kiss-of-death", "leap-alarm", "stratum-16", "no-transmit", "short"],
)
def test_untrustworthy_answers_are_refused(packet: bytes, why: str) -> None:
    said = parse_reply(packet, 7, time.time_ns() // 1_000_000)
    assert isinstance(said, str) and why in said


def test_the_request_is_a_version_4_client_packet() -> None:
    packet = request_packet(0x0123_4567_89AB_CDEF)
    assert len(packet) == 48 and packet[0] == 0x23  # LI 0, VN 4, mode 3
    assert packet[40:] == bytes.fromhex("0123456789abcdef") and not any(packet[1:40])


def test_drift_beyond_the_limit_is_clock_skew() -> None:
    with SntpServer(skew_ms=300_000) as server:
        result = query("127.0.0.1", server.port)
    check = clock_ntp_check(result, 0, 120_000)
    assert check.severity == "failure" and check.guide_code == "clock_skew"
    # The terminal adopted the host's time at sign-on, which agrees with NTP: only the
    # system clock is wrong, so it is a warning.
    corrected = clock_ntp_check(result, 300_000, 120_000)
    assert corrected.severity == "warning" and corrected.guide_code == "clock_skew"
    with SntpServer(skew_ms=1_000) as server:
        near = clock_ntp_check(query("127.0.0.1", server.port), 0, 120_000)
    assert near.ok and near.severity == "ok"


def test_unreachable_ntp_is_a_warning_not_silence() -> None:
    with SntpServer() as server:
        server.silent = True
        check = clock_ntp_check(query("127.0.0.1", server.port, timeout_s=0.2), 0, 120_000)
    assert check.severity == "warning" and "timeout" in check.detail
    assert clock_ntp_check(None, 0, 120_000).severity == "info"


async def test_journal_times_are_utc_with_the_zone_recorded(tmp_path: Path) -> None:
    """created_ms is milliseconds since the Unix epoch (UTC by definition); the zone the
    terminal runs in is recorded beside it, so local time can always be rebuilt."""
    stage = Stage(tmp_path, Narrator(lambda _: None), host_process=False)
    try:
        stage.load_host(("10000001",))
        await stage.start_host()
        till = stage.till("10000001")
        assert (await till.terminal.sign_on()).ok
        before = time.time_ns() // 1_000_000
        outcome = await till.sale("12.00")
        after = time.time_ns() // 1_000_000
        row = till.terminal.journal.txn(outcome.txn_id or 0)
        assert row is not None
        # The terminal's time is the host's (whole seconds in F12): within 2 s of UTC now.
        assert before - 2_000 <= row.created_ms <= after + 2_000
        assert row.tz == "UTC+08:00"
    finally:
        await stage.close()
