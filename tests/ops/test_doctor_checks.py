"""The doctor's judgements (pure): each probe result maps to the right severity and guide
entry — refused vs timeout vs DNS vs no route, clock drift, caps, disk, schema."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.guide import is_known
from kassa.net import HostAddress, ProbeResult
from kassa.ops.doctor import Check, exit_status
from kassa.ops.doctor.checks import (
    CONNECT_FAULTS,
    EchoFacts,
    clock_host_check,
    connect_check,
    dns_check,
    echo_check,
    tls_check,
)
from kassa.ops.doctor.checks_local import (
    Queue,
    disk_check,
    followups_check,
    keys_check,
    saf_check,
    schema_check,
    terminals_check,
)
from kassa.terminal.config import TerminalConfig

PLAIN = HostAddress("host.example", 5000)
SECURE = HostAddress("host.example", 5443, tls=True)
MAX_MS = 120_000


def failed(reason: str, detail: str = "x") -> ProbeResult:
    return ProbeResult(PLAIN, None, None, f"{reason}: {detail}")


@pytest.mark.parametrize(
    ("reason", "code", "words"),
    [
        ("refused", "connect_refused", "wrong port"),
        ("timeout", "firewall_suspected", "firewall"),
        ("dns", "dns_failure", "does not resolve"),
        ("unreachable", "host_unreachable", "no route"),
    ],
)
def test_each_way_a_connect_fails_has_its_own_advice(reason: str, code: str, words: str) -> None:
    check = connect_check(failed(reason), other_host_ok=False)
    assert (check.severity, check.guide_code) == ("failure", code)
    assert words in check.detail
    backed_up = connect_check(failed(reason), other_host_ok=True)
    assert backed_up.severity == "warning" and "failover" in backed_up.detail


def test_every_fault_the_doctor_names_is_in_the_guide() -> None:
    assert all(is_known(code) for code in CONNECT_FAULTS.values())


def test_a_slow_connect_is_a_warning() -> None:
    assert connect_check(ProbeResult(PLAIN, 12.0, None, None), False).severity == "ok"
    assert connect_check(ProbeResult(PLAIN, 1500.0, None, None), False).severity == "warning"


def test_tls_is_judged_only_for_tls_hosts() -> None:
    assert tls_check(ProbeResult(PLAIN, 3.0, None, None), False) is None
    ok = tls_check(ProbeResult(SECURE, 3.0, True, None), False)
    assert ok is not None and ok.severity == "ok"
    bad = tls_check(ProbeResult(SECURE, 3.0, False, "tls: certificate verify failed"), False)
    assert bad is not None and bad.guide_code == "tls_failure" and bad.severity == "failure"
    skipped = tls_check(ProbeResult(SECURE, None, None, "refused: x"), False)
    assert skipped is not None and skipped.severity == "info"


def test_dns() -> None:
    assert dns_check("10.0.0.7", ("10.0.0.7",), None).severity == "info"
    assert dns_check("host.example", ("192.0.2.1",), None).severity == "ok"
    bad = dns_check("host.example", (), "Name or service not known")
    assert bad.guide_code == "dns_failure" and "Name or service not known" in bad.detail


def test_echo_outcomes() -> None:
    assert echo_check(EchoFacts("00", 4, "127.0.0.1:5000")).ok
    assert echo_check(EchoFacts("response_timeout")).guide_code == "response_timeout"
    assert echo_check(EchoFacts("97")).guide_code == "97"  # terminal not registered
    refused = echo_check(EchoFacts("connect_refused", detail="127.0.0.1:1 refused"))
    assert refused.detail == "127.0.0.1:1 refused"


@given(st.integers(-10 * MAX_MS, 10 * MAX_MS), st.integers(-10 * MAX_MS, 10 * MAX_MS))
def test_clock_against_the_host(skew_ms: int, adopted_ms: int) -> None:
    """Failure exactly when the time in use is off by more than the limit (plus the one
    second F12 cannot resolve); a warning when only the system clock is off."""
    check = clock_host_check(skew_ms, adopted_ms, MAX_MS)
    in_use_off = abs(skew_ms - adopted_ms) > MAX_MS + 1_000
    system_off = abs(skew_ms) > MAX_MS + 1_000
    expected = "failure" if in_use_off else "warning" if system_off else "ok"
    assert check.severity == expected
    assert (check.guide_code == "clock_skew") == (expected != "ok")


def test_clock_without_a_host_time_uses_the_sign_on_offset() -> None:
    assert clock_host_check(None, 5_000, MAX_MS).severity == "ok"
    assert clock_host_check(None, -600_000, MAX_MS).severity == "warning"


def test_keys() -> None:
    now = 10 * 86_400_000
    assert keys_check(False, False, None, now).guide_code == "keys_missing"
    assert keys_check(True, False, None, now).guide_code == "not_signed_on"
    assert keys_check(True, True, now - 3_600_000, now).severity == "ok"
    assert keys_check(True, True, now - 25 * 3_600_000, now).guide_code == "keys_stale"


def test_store_and_forward_caps() -> None:
    config = TerminalConfig(saf_count_max=10, saf_total_max_fen=10_000, saf_age_max_ms=1_000_000)
    now = 5_000_000
    assert saf_check(Queue(), config, now).severity == "ok"
    assert saf_check(Queue(1, 100, now), config, now).guide_code == "host_unreachable"
    assert saf_check(Queue(8, 100, now), config, now).guide_code == "saf_full"  # near the cap
    full = saf_check(Queue(10, 100, now), config, now)
    assert (full.severity, full.guide_code) == ("failure", "saf_full")
    money = saf_check(Queue(2, 10_000, now), config, now)
    assert (money.severity, money.guide_code) == ("failure", "saf_cap_reached")
    old = saf_check(Queue(1, 100, now - 2_000_000), config, now)
    assert (old.severity, old.guide_code) == ("failure", "saf_cap_reached")


def test_follow_ups_waiting_too_long_need_a_person() -> None:
    now = 100 * 60_000
    assert followups_check(Queue(), Queue(), now).severity == "ok"
    fresh = followups_check(Queue(1, 100, now - 60_000), Queue(), now)
    assert fresh.guide_code == "reversal_pending" and fresh.severity == "warning"
    stuck = followups_check(Queue(), Queue(1, 100, 0), now)
    assert stuck.guide_code == "reversal_failed" and stuck.severity == "failure"


def test_disk() -> None:
    mib = 1024 * 1024
    assert disk_check("/d", 4 * mib, 64 * mib, True).guide_code == "disk_full"
    assert disk_check("/d", 4 * mib, 64 * mib, True).severity == "failure"
    assert disk_check("/d", 64 * mib, 640 * mib, True).severity == "warning"
    assert disk_check("/d", 640 * mib, 6400 * mib, True).severity == "ok"
    assert disk_check("/d", 640 * mib, 6400 * mib, False).guide_code == "storage_failure"


def test_schema_versions() -> None:
    assert schema_check("host", 2, 2).severity == "ok"
    assert schema_check("host", 1, 2).severity == "warning"
    assert schema_check("host", 0, 2).severity == "failure"
    assert schema_check("host", 3, 2).severity == "failure"


def test_terminals_quiet_for_a_day_are_a_warning() -> None:
    day = 86_400_000
    now = 10 * day
    rows = [("10000001", "active", 1, now - 60_000), ("10000002", "active", 0, now - 2 * day)]
    check = terminals_check(rows, now)
    assert check.severity == "warning" and "10000002" in check.detail
    assert terminals_check(rows[:1], now).severity == "ok"
    assert terminals_check([], now).severity == "info"


@pytest.mark.parametrize(
    ("severities", "status"),
    [((), 0), (("ok", "info"), 0), (("ok", "warning"), 1), (("warning", "failure", "ok"), 2)],
)
def test_exit_status(severities: tuple[str, ...], status: int) -> None:
    checks = [Check(f"c{i}", s, "", None if s in ("ok", "info") else "keys_stale")  # type: ignore[arg-type]
              for i, s in enumerate(severities)]  # fmt: skip
    assert exit_status(checks) == status


def test_a_problem_without_advice_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        Check("x", "failure", "broken")
