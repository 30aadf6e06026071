"""Login decisions with a clock that is a number: lockout, expiry, one-time codes, rehash."""

from __future__ import annotations

import base64
import random
from dataclasses import replace

import pytest

from kassa.auth import (
    HASH_FAST,
    AuthSettings,
    HashParams,
    LockoutPolicy,
    LoginResult,
    OperatorRecord,
    Role,
    decide_login,
    hash_password,
    new_operator,
    vault_sealer,
    verify_password,
)
from kassa.auth._totp import seal_totp_secret
from kassa.errors import ConfigError
from kassa.guide import lookup

SETTINGS = AuthSettings(hash_params=HASH_FAST)
RAND = random.Random(11).randbytes
SEAL, OPEN = vault_sealer(bytes(range(32)), RAND)
# 2024-05-01 02:00:00 UTC, 10:00 in Beijing.
T0 = 1_714_528_800_000
MINUTE = 60_000
DAY = 24 * 60 * MINUTE
PASSWORD = "739155"
# RFC 6238 Appendix B SHA1 seed "12345678901234567890": at T=59 s the 8-digit code is
# 94287082, so the 6-digit code is 287082.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


def cashier(**changes: object) -> OperatorRecord:
    record, secret = new_operator("01", Role.CASHIER, PASSWORD, T0, SETTINGS, RAND, temporary=False)
    assert secret is None
    return replace(record, **changes)  # type: ignore[arg-type]


def supervisor() -> OperatorRecord:
    record = OperatorRecord(
        operator_id="99",
        role=Role.SUPERVISOR,
        password_hash=hash_password("Harbour-lamp-47", HASH_FAST, RAND),
        password_set_ms=0,
        totp_secret_sealed=seal_totp_secret(RFC_SECRET, "99", SEAL),
    )
    return record


def login(
    record: OperatorRecord | None,
    password: str,
    now_ms: int,
    code: str | None = None,
    settings: AuthSettings = SETTINGS,
) -> LoginResult:
    return decide_login(record, password, code, now_ms, settings, RAND, OPEN)


def test_right_password() -> None:
    result = login(cashier(failed_count=3), PASSWORD, T0 + MINUTE)
    assert (result.ok, result.reason_code, result.must_change_password) == (True, "ok", False)
    assert result.session_allowed and result.role is Role.CASHIER
    assert result.updated_record is not None
    assert result.updated_record.failed_count == 0
    assert result.updated_record.last_login_ms == T0 + MINUTE


def test_unknown_operator_and_wrong_password_read_the_same() -> None:
    unknown = login(None, PASSWORD, T0)
    wrong = login(cashier(), "739156", T0)
    for result in (unknown, wrong):
        assert not result.ok and not result.session_allowed
        assert result.locked_until_ms is None
    assert (unknown.reason_code, unknown.message_zh, unknown.message_en) == (
        wrong.reason_code,
        wrong.message_zh,
        wrong.message_en,
    )
    assert unknown.reason_code == "wrong_password"
    assert "or" in unknown.message_en and "或" in unknown.message_zh  # names neither one
    assert unknown.updated_record is None  # nothing to count on
    assert wrong.updated_record is not None and wrong.updated_record.failed_count == 1


def fail(record: OperatorRecord, times: int, now_ms: int) -> tuple[OperatorRecord, LoginResult]:
    assert times >= 1
    for _ in range(times):
        result = login(record, "000000", now_ms)
        assert result.updated_record is not None
        record = result.updated_record
    return record, result


def test_fifth_failure_locks_for_fifteen_minutes() -> None:
    record, result = fail(cashier(), 4, T0)
    assert result.reason_code == "wrong_password" and record.failed_count == 4
    record, result = fail(record, 1, T0)
    assert result.reason_code == "operator_locked"
    assert result.locked_until_ms == record.locked_until_ms == T0 + 15 * MINUTE
    assert "10:15" in result.message_zh and "10:15" in result.message_en  # Beijing time
    assert "15" in result.message_en


def test_locked_refuses_the_right_password_and_says_when() -> None:
    record, _ = fail(cashier(), 5, T0)
    result = login(record, PASSWORD, T0 + 10 * MINUTE + 1)
    assert (result.ok, result.reason_code) == (False, "operator_locked")
    assert result.locked_until_ms == T0 + 15 * MINUTE
    assert "10:15" in result.message_zh and "in 5 min" in result.message_en
    assert result.updated_record is None  # attempts while locked do not extend the lock


def test_unlocks_after_the_period() -> None:
    record, _ = fail(cashier(), 5, T0)
    result = login(record, PASSWORD, T0 + 15 * MINUTE)
    assert result.ok and result.updated_record is not None
    assert result.updated_record.locked_until_ms is None
    assert result.updated_record.failed_count == 0


def test_after_the_lock_the_count_starts_again() -> None:
    record, _ = fail(cashier(), 5, T0)
    result = login(record, "000000", T0 + 16 * MINUTE)
    assert result.reason_code == "wrong_password"
    assert result.updated_record is not None and result.updated_record.failed_count == 1


def test_success_resets_the_count() -> None:
    record, _ = fail(cashier(), 4, T0)
    result = login(record, PASSWORD, T0)
    assert result.updated_record is not None
    record, last = fail(result.updated_record, 4, T0)
    assert last.reason_code == "wrong_password" and record.locked_until_ms is None


def test_lockout_is_configurable() -> None:
    settings = AuthSettings(hash_params=HASH_FAST, lockout=LockoutPolicy(3, 60_000))
    record = cashier()
    for expected in ("wrong_password", "wrong_password", "operator_locked"):
        result = login(record, "000000", T0, settings=settings)
        assert result.reason_code == expected and result.updated_record is not None
        record = result.updated_record
    assert record.locked_until_ms == T0 + 60_000
    assert login(record, PASSWORD, T0 + 60_000, settings=settings).ok
    with pytest.raises(ConfigError):
        LockoutPolicy(failures_max=0)


def test_expired_password_logs_in_but_must_change() -> None:
    record = cashier(password_set_ms=T0 - 90 * DAY)
    result = login(record, PASSWORD, T0)
    assert result.ok and result.must_change_password and not result.session_allowed
    assert result.reason_code == "password_expired"
    assert result.message_zh == lookup("password_expired").screen_zh
    assert login(cashier(password_set_ms=T0 - 89 * DAY), PASSWORD, T0).session_allowed


def test_temporary_password_must_change() -> None:
    result = login(cashier(must_change=True), PASSWORD, T0)
    assert result.ok and not result.session_allowed
    assert result.reason_code == "password_temporary"


def test_disabled_operator() -> None:
    record = cashier(active=False)
    assert login(record, PASSWORD, T0).reason_code == "operator_disabled"
    assert login(record, "000000", T0).reason_code == "wrong_password"


def test_supervisor_logs_in_with_the_rfc_code() -> None:
    result = login(supervisor(), "Harbour-lamp-47", 59_000, "287082")
    assert result.ok and result.role is Role.SUPERVISOR
    assert result.updated_record is not None and result.updated_record.last_totp_step == 1


def test_supervisor_code_asked_after_the_password() -> None:
    record = supervisor()
    asked = login(record, "Harbour-lamp-47", 59_000)
    assert (asked.ok, asked.reason_code, asked.updated_record) == (False, "otp_required", None)
    wrong = login(record, "Harbour-lamp-48", 59_000)
    assert wrong.reason_code == "wrong_password"
    assert wrong.updated_record is not None and wrong.updated_record.failed_count == 1


def test_wrong_and_replayed_codes_count_as_failures() -> None:
    first = login(supervisor(), "Harbour-lamp-47", 59_000, "287082")
    assert first.updated_record is not None
    replayed = login(first.updated_record, "Harbour-lamp-47", 65_000, "287082")
    assert (replayed.ok, replayed.reason_code) == (False, "otp_invalid")
    assert replayed.message_en == lookup("otp_invalid").screen_en
    assert replayed.updated_record is not None and replayed.updated_record.failed_count == 1
    record = supervisor()
    for _ in range(5):
        result = login(record, "Harbour-lamp-47", 59_000, "123456")
        assert result.updated_record is not None
        record = result.updated_record
    assert result.reason_code == "operator_locked"


def test_supervisor_without_a_secret_or_key() -> None:
    no_secret = replace(supervisor(), totp_secret_sealed=None)
    assert login(no_secret, "Harbour-lamp-47", 59_000, "287082").reason_code == "otp_not_enrolled"
    with pytest.raises(ConfigError):
        decide_login(supervisor(), "Harbour-lamp-47", "287082", 59_000, SETTINGS, RAND, None)


def test_old_hash_parameters_are_replaced_on_success() -> None:
    stronger = AuthSettings(hash_params=HashParams(time_cost=2, memory_kib=16, parallelism=1))
    record = cashier()
    assert "m=8,t=1,p=1" in record.password_hash
    failed = login(record, "000000", T0, settings=stronger)
    assert failed.updated_record is not None
    assert failed.updated_record.password_hash == record.password_hash
    result = login(record, PASSWORD, T0, settings=stronger)
    assert result.updated_record is not None
    new_hash = result.updated_record.password_hash
    assert "m=16,t=2,p=1" in new_hash and verify_password(new_hash, PASSWORD)
    again = login(result.updated_record, PASSWORD, T0, settings=stronger)
    assert again.updated_record is not None and again.updated_record.password_hash == new_hash
