"""Password changes, new operators and the administrator's actions (pure).

An operator changes their own password with the old one (`decide_change_password`); a
wrong old password counts as a failed login, or the change screen would be a password
oracle without lockout. An administrator creates operators (`new_operator`) and resets
passwords (`reset_password`); a password set by someone else must be changed at first
use (PCI DSS v4 8.3.5), so both set `must_change` unless told the operator chose it.
"""

from __future__ import annotations

from dataclasses import replace

from kassa.auth._hashing import Rand, burn_verify, hash_password, verify_password
from kassa.auth._login import clear_elapsed_lock, failed_result, locked_result
from kassa.auth._messages import message
from kassa.auth._policy import check_password_strength
from kassa.auth._record import (
    AuthSettings,
    LoginResult,
    OperatorRecord,
    PasswordChangeResult,
    PasswordRejected,
    check_operator_id,
)
from kassa.auth._roles import Role
from kassa.auth._totp import Seal, new_totp_secret, seal_totp_secret
from kassa.errors import ConfigError, InputError


def password_problems(
    record: OperatorRecord, new_password: str, settings: AuthSettings
) -> list[str]:
    """Why `new_password` may not replace `record`'s password: rule problems and ``reused``."""
    policy = settings.policy_for(record.role)
    problems = check_password_strength(new_password, policy, record.operator_id)
    recent = (record.password_hash, *record.history[: policy.history])
    if any(verify_password(old, new_password) for old in recent):
        problems.append("reused")
    return problems


def with_new_password(
    record: OperatorRecord,
    new_password: str,
    now_ms: int,
    settings: AuthSettings,
    rand: Rand,
    must_change: bool,
) -> OperatorRecord:
    """`record` with `new_password` set now; the old hash moves into the history."""
    keep = settings.policy_for(record.role).history
    return replace(
        record,
        password_hash=hash_password(new_password, settings.hash_params, rand),
        password_set_ms=now_ms,
        history=(record.password_hash, *record.history)[:keep],
        must_change=must_change,
        failed_count=0,
        locked_until_ms=None,
    )


def _from_login(result: LoginResult) -> PasswordChangeResult:
    return PasswordChangeResult(
        ok=False,
        reason_code=result.reason_code,
        message_zh=result.message_zh,
        message_en=result.message_en,
        locked_until_ms=result.locked_until_ms,
        updated_record=result.updated_record,
    )


def _outcome(
    reason: str, record: OperatorRecord | None, problems: tuple[str, ...] = ()
) -> PasswordChangeResult:
    zh, en = message(reason)
    return PasswordChangeResult(
        ok=reason == "password_changed",
        reason_code="ok" if reason == "password_changed" else reason,
        message_zh=zh,
        message_en=en,
        problems=problems,
        updated_record=record,
    )


def decide_change_password(
    record: OperatorRecord | None,
    old_password: str,
    new_password: str,
    now_ms: int,
    settings: AuthSettings,
    rand: Rand,
) -> PasswordChangeResult:
    """Decide an operator's change of their own password (None: no such operator)."""
    if record is None:
        burn_verify(old_password, settings.hash_params)
        return _outcome("wrong_password", None)
    current = clear_elapsed_lock(record, now_ms)
    if current.locked_at(now_ms):
        return _from_login(locked_result(current, now_ms, settings))
    if not verify_password(current.password_hash, old_password):
        return _from_login(failed_result(current, "wrong_password", now_ms, settings))
    if not current.active:
        return _outcome("operator_disabled", current if current != record else None)
    problems = password_problems(current, new_password, settings)
    if problems:
        # The old password was right: that is a success for the failure counter.
        reset = replace(current, failed_count=0)
        return _outcome("password_rejected", reset if reset != record else None, tuple(problems))
    updated = with_new_password(current, new_password, now_ms, settings, rand, must_change=False)
    return _outcome("password_changed", updated)


def new_operator(
    operator_id: str,
    role: Role,
    password: str,
    now_ms: int,
    settings: AuthSettings,
    rand: Rand,
    *,
    totp: bool | None = None,
    seal: Seal | None = None,
    temporary: bool = True,
) -> tuple[OperatorRecord, str | None]:
    """A new operator record and, when it gets one-time codes, the TOTP secret to enrol.

    `totp=None` gives codes to the roles that need them; `totp=False` for such a role is
    an InputError. `temporary`: the password must be changed at first login.
    Raises `PasswordRejected` for a password that breaks `role`'s rules.
    """
    check_operator_id(operator_id)
    use_totp = role.needs_totp if totp is None else totp
    if role.needs_totp and not use_totp:
        raise InputError(f"a {role.value} must log in with a one-time code: leave totp on")
    problems = check_password_strength(password, settings.policy_for(role), operator_id)
    if problems:
        raise PasswordRejected(tuple(problems))
    record = OperatorRecord(
        operator_id=operator_id,
        role=role,
        password_hash=hash_password(password, settings.hash_params, rand),
        password_set_ms=now_ms,
        must_change=temporary,
    )
    if not use_totp:
        return record, None
    return renew_totp(record, rand, seal)


def renew_totp(record: OperatorRecord, rand: Rand, seal: Seal | None) -> tuple[OperatorRecord, str]:
    """`record` with a new TOTP secret (sealed) and that secret, to show once for enrolment."""
    if seal is None:
        raise ConfigError("one-time codes need the vault key to seal their secrets: configure it")
    secret = new_totp_secret(rand)
    sealed = seal_totp_secret(secret, record.operator_id, seal)
    return replace(record, totp_secret_sealed=sealed, last_totp_step=None), secret


def reset_password(
    record: OperatorRecord, new_password: str, now_ms: int, settings: AuthSettings, rand: Rand
) -> OperatorRecord:
    """`record` with a password set by an administrator: unlocked, to be changed at first login.

    Raises `PasswordRejected` when `new_password` breaks the rules or repeats a recent one.
    """
    problems = password_problems(record, new_password, settings)
    if problems:
        raise PasswordRejected(tuple(problems))
    return with_new_password(record, new_password, now_ms, settings, rand, must_change=True)


def unlock(record: OperatorRecord) -> OperatorRecord:
    """`record` unlocked by a supervisor, its failure count back to 0."""
    return replace(record, failed_count=0, locked_until_ms=None)
