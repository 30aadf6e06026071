"""Password changes, history, new operators and the administrator's actions."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from kassa.auth import (
    HASH_FAST,
    AuthSettings,
    OperatorRecord,
    PasswordChangeResult,
    PasswordPolicy,
    PasswordRejected,
    Role,
    decide_change_password,
    decide_login,
    new_operator,
    reset_password,
    unlock,
    vault_sealer,
    verify_password,
)
from kassa.errors import ConfigError, InputError

SETTINGS = AuthSettings(hash_params=HASH_FAST)
RAND = random.Random(13).randbytes
SEAL, OPEN = vault_sealer(bytes(range(32)), RAND)
T0 = 1_714_528_800_000
DAY = 86_400_000
PASSWORDS = ["739155", "482910", "650317", "918264", "307582", "846021"]


def cashier(settings: AuthSettings = SETTINGS) -> OperatorRecord:
    record, _ = new_operator("07", Role.CASHIER, PASSWORDS[0], T0, settings, RAND, temporary=False)
    return record


def change(
    record: OperatorRecord, old: str, new: str, now_ms: int, settings: AuthSettings = SETTINGS
) -> PasswordChangeResult:
    return decide_change_password(record, old, new, now_ms, settings, RAND)


def test_change_moves_the_old_hash_into_history() -> None:
    record = cashier()
    result = change(record, PASSWORDS[0], PASSWORDS[1], T0 + DAY)
    assert (result.ok, result.reason_code, result.problems) == (True, "ok", ())
    updated = result.updated_record
    assert updated is not None
    assert verify_password(updated.password_hash, PASSWORDS[1])
    assert updated.history == (record.password_hash,)
    assert updated.password_set_ms == T0 + DAY and not updated.must_change


def test_history_refuses_the_last_four_and_the_current() -> None:
    record = cashier()
    for old, new in itertools.pairwise(PASSWORDS):
        result = change(record, old, new, T0)
        assert result.updated_record is not None, result
        record = result.updated_record
    assert len(record.history) == 4  # no more kept than the policy needs
    current = PASSWORDS[-1]
    for reused in PASSWORDS[1:]:
        refused = change(record, current, reused, T0)
        assert (refused.ok, refused.reason_code) == (False, "password_rejected")
        assert refused.problems == ("reused",)
    assert change(record, current, PASSWORDS[0], T0).ok  # five passwords back


def test_current_password_refused_even_without_history() -> None:
    policy = PasswordPolicy(min_length=6, require_classes=1, max_age_days=None, history=0)
    settings = AuthSettings(terminal_policy=policy, hash_params=HASH_FAST)
    record = cashier(settings)
    assert change(record, PASSWORDS[0], PASSWORDS[0], T0, settings).problems == ("reused",)
    result = change(record, PASSWORDS[0], PASSWORDS[1], T0, settings)
    assert result.updated_record is not None and result.updated_record.history == ()


def test_weak_new_password_is_refused_with_its_problems() -> None:
    record = replace(cashier(), failed_count=2)
    result = change(record, PASSWORDS[0], "123456", T0)
    assert (result.ok, result.problems) == (False, ("sequence",))
    # The old password was right: the failure count restarts, nothing else changes.
    assert result.updated_record == replace(record, failed_count=0)


def test_wrong_old_password_counts_and_locks() -> None:
    record = cashier()
    for expected in ["wrong_password"] * 4 + ["operator_locked"]:
        result = change(record, "000000", PASSWORDS[1], T0)
        assert result.reason_code == expected and result.updated_record is not None
        record = result.updated_record
    locked = change(record, PASSWORDS[0], PASSWORDS[1], T0 + 60_000)
    assert locked.reason_code == "operator_locked" and locked.locked_until_ms is not None


def test_unknown_operator_change_reads_like_a_wrong_password() -> None:
    unknown = decide_change_password(None, "000000", PASSWORDS[1], T0, SETTINGS, RAND)
    wrong = change(cashier(), "000000", PASSWORDS[1], T0)
    assert (unknown.reason_code, unknown.message_en) == (wrong.reason_code, wrong.message_en)


def test_expired_password_flow() -> None:
    record = replace(cashier(), password_set_ms=T0 - 100 * DAY)
    login = decide_login(record, PASSWORDS[0], None, T0, SETTINGS, RAND)
    assert login.ok and login.must_change_password
    assert login.updated_record is not None
    changed = change(login.updated_record, PASSWORDS[0], PASSWORDS[1], T0)
    assert changed.updated_record is not None
    again = decide_login(changed.updated_record, PASSWORDS[1], None, T0, SETTINGS, RAND)
    assert again.session_allowed


def test_new_operator_rules() -> None:
    record, secret = new_operator(
        "admin1", Role.ADMIN, "Harbour-lamp-47", T0, SETTINGS, RAND, seal=SEAL
    )
    assert secret is not None and record.totp_secret_sealed is not None
    assert record.must_change  # set by someone else: PCI DSS 8.3.5
    with pytest.raises(InputError, match="one-time code"):
        new_operator("sup", Role.SUPERVISOR, "Harbour-lamp-47", T0, SETTINGS, RAND, totp=False)
    with pytest.raises(ConfigError):
        new_operator("sup", Role.SUPERVISOR, "Harbour-lamp-47", T0, SETTINGS, RAND)
    with pytest.raises(PasswordRejected) as refused:
        new_operator("view1", Role.VIEWER, "739155", T0, SETTINGS, RAND)
    assert refused.value.problems == ("too_short", "only_digits")
    with pytest.raises(InputError):
        new_operator("bad id", Role.CASHIER, "739155", T0, SETTINGS, RAND)
    cashier_with_code, code_secret = new_operator(
        "08", Role.CASHIER, "739155", T0, SETTINGS, RAND, totp=True, seal=SEAL
    )
    assert code_secret is not None
    asked = decide_login(cashier_with_code, "739155", None, T0, SETTINGS, RAND, OPEN)
    assert asked.reason_code == "otp_required"


def test_reset_and_unlock() -> None:
    record = replace(cashier(), failed_count=5, locked_until_ms=T0 + 900_000)
    reset = reset_password(record, PASSWORDS[2], T0, SETTINGS, RAND)
    assert reset.must_change and reset.locked_until_ms is None and reset.failed_count == 0
    assert verify_password(reset.password_hash, PASSWORDS[2])
    with pytest.raises(PasswordRejected):
        reset_password(record, PASSWORDS[0], T0, SETTINGS, RAND)
    unlocked = unlock(record)
    assert (unlocked.failed_count, unlocked.locked_until_ms) == (0, None)
    assert decide_login(unlocked, PASSWORDS[0], None, T0, SETTINGS, RAND).ok
