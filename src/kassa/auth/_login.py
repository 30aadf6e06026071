"""Login and password-change decisions: record + attempt + now -> result (pure).

The read-decide-write cycle is the store's; here is only the decision, so every rule
(lockout, expiry, one-time codes, rehash) is tested with a clock that is a number.

Rules, in the order they are applied:
1. An unknown operator costs one hash verification (so timing does not tell) and gets the
   same answer as a wrong password; there is no record to count on.
2. A lock that has run out is cleared (counter back to 0). A live lock refuses the
   attempt without looking at the password and without extending the lock.
3. A wrong password, or a wrong or replayed one-time code, counts one failure; reaching
   `failures_max` locks the operator for `lock_ms`.
4. Right password, no code yet, for an operator with TOTP: ``otp_required``, not counted
   (the two-step screen), so a wrong password is always counted before a code is asked.
5. Success resets the counter, remembers the code's step, rehashes a hash made with old
   parameters, and says whether the password must be changed first.
"""

from __future__ import annotations

from dataclasses import replace

from kassa.auth._hashing import Rand, burn_verify, hash_password, needs_rehash, verify_password
from kassa.auth._messages import locked_message, message
from kassa.auth._record import AuthSettings, LoginResult, OperatorRecord
from kassa.auth._totp import Open, open_totp_secret, verify_totp
from kassa.errors import ConfigError


def clear_elapsed_lock(record: OperatorRecord, now_ms: int) -> OperatorRecord:
    """`record` with a lock that has run out removed and its failure count restarted."""
    if record.locked_until_ms is None or record.locked_at(now_ms):
        return record
    return replace(record, failed_count=0, locked_until_ms=None)


def _result(reason: str, updated_record: OperatorRecord | None = None) -> LoginResult:
    zh, en = message(reason)
    return LoginResult(
        ok=False, reason_code=reason, message_zh=zh, message_en=en, updated_record=updated_record
    )


def locked_result(record: OperatorRecord, now_ms: int, settings: AuthSettings) -> LoginResult:
    """The refusal of a locked operator, saying when the lock ends."""
    assert record.locked_until_ms is not None
    zh, en = locked_message(record.locked_until_ms, now_ms, settings.utc_offset_minutes)
    return LoginResult(
        ok=False,
        reason_code="operator_locked",
        message_zh=zh,
        message_en=en,
        locked_until_ms=record.locked_until_ms,
    )


def count_failure(record: OperatorRecord, now_ms: int, settings: AuthSettings) -> OperatorRecord:
    """`record` after one more failed attempt, locked if that reaches the maximum."""
    failed = record.failed_count + 1
    if failed >= settings.lockout.failures_max:
        return replace(
            record, failed_count=failed, locked_until_ms=now_ms + settings.lockout.lock_ms
        )
    return replace(record, failed_count=failed)


def failed_result(
    record: OperatorRecord, reason: str, now_ms: int, settings: AuthSettings
) -> LoginResult:
    """The refusal for a wrong secret: the failure counted, the lock announced if it struck."""
    counted = count_failure(record, now_ms, settings)
    if counted.locked_until_ms is not None:
        return replace(locked_result(counted, now_ms, settings), updated_record=counted)
    return _result(reason, updated_record=counted)


def decide_login(
    record: OperatorRecord | None,
    password: str,
    totp_code: str | None,
    now_ms: int,
    settings: AuthSettings,
    rand: Rand,
    open_sealed: Open | None = None,
) -> LoginResult:
    """Decide one login attempt of `record`'s operator (None: no such operator) at `now_ms`.

    `rand` salts a rehash; `open_sealed` opens the sealed TOTP secret (needed only for
    operators with one: ConfigError if missing then). See the module docstring for rules.
    """
    if record is None:
        burn_verify(password, settings.hash_params)
        return _result("wrong_password")
    current = clear_elapsed_lock(record, now_ms)
    changed = current if current != record else None
    if current.locked_at(now_ms):
        return locked_result(current, now_ms, settings)
    if not verify_password(current.password_hash, password):
        return failed_result(current, "wrong_password", now_ms, settings)
    if not current.active:
        return _result("operator_disabled", updated_record=changed)
    step = None
    if current.totp_secret_sealed is not None or current.role.needs_totp:
        outcome = _check_totp(current, totp_code, now_ms, open_sealed)
        if outcome == "otp_invalid":
            return failed_result(current, "otp_invalid", now_ms, settings)
        if isinstance(outcome, str):
            return _result(outcome, updated_record=changed)
        step = outcome
    return _succeed(current, password, step, now_ms, settings, rand)


def _check_totp(
    record: OperatorRecord, code: str | None, now_ms: int, open_sealed: Open | None
) -> int | str:
    if record.totp_secret_sealed is None:
        return "otp_not_enrolled"
    if code is None or not code.strip():
        return "otp_required"
    if open_sealed is None:
        raise ConfigError("operators with one-time codes need the vault key: configure it")
    secret = open_totp_secret(record.totp_secret_sealed, record.operator_id, open_sealed)
    step = verify_totp(secret, code, now_ms, record.last_totp_step)
    return "otp_invalid" if step is None else step


def _succeed(
    record: OperatorRecord,
    password: str,
    step: int | None,
    now_ms: int,
    settings: AuthSettings,
    rand: Rand,
) -> LoginResult:
    updated = replace(
        record,
        failed_count=0,
        locked_until_ms=None,
        last_totp_step=step if step is not None else record.last_totp_step,
        last_login_ms=now_ms,
    )
    if needs_rehash(record.password_hash, settings.hash_params):
        updated = replace(
            updated, password_hash=hash_password(password, settings.hash_params, rand)
        )
    if record.must_change:
        reason = "password_temporary"
    elif settings.policy_for(record.role).expired(record.password_set_ms, now_ms):
        reason = "password_expired"
    else:
        reason = "ok"
    zh, en = message(reason)
    return LoginResult(
        ok=True,
        reason_code=reason,
        message_zh=zh,
        message_en=en,
        must_change_password=reason != "ok",
        updated_record=updated,
        role=record.role,
    )
