"""The values of the operator core: the stored record, the settings and the results."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kassa import limits
from kassa.auth._hashing import HASH_DEFAULT, HashParams
from kassa.auth._policy import CONSOLE_POLICY, TERMINAL_POLICY, PasswordPolicy
from kassa.auth._roles import Role
from kassa.errors import ConfigError, InputError

operator_lock_ms_default = 15 * 60_000
china_utc_offset_minutes = 8 * 60  # messages say the unlock time on the shop's clock
_OPERATOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def check_operator_id(operator_id: str) -> str:
    """`operator_id` if it is 1-64 letters, digits, ``.``, ``_``, ``@``, ``-``; else InputError."""
    if not _OPERATOR_ID.fullmatch(operator_id):
        raise InputError(
            f"an operator id must be 1 to 64 letters, digits, '.', '_', '@' or '-': {operator_id!r}"
        )
    return operator_id


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    """One operator as stored. `history`: earlier password hashes, newest first.

    `failed_count`: consecutive failed attempts (password or one-time code) since the last
    success; `locked_until_ms`: refuse every attempt before this time. `last_totp_step`:
    the last one-time code step accepted (a code is never accepted twice). `must_change`:
    the password was set by an administrator and must be changed at next login.
    """

    operator_id: str
    role: Role
    password_hash: str
    password_set_ms: int
    failed_count: int = 0
    locked_until_ms: int | None = None
    totp_secret_sealed: bytes | None = None
    history: tuple[str, ...] = ()
    active: bool = True
    last_totp_step: int | None = None
    must_change: bool = False
    last_login_ms: int | None = None

    def __post_init__(self) -> None:
        # Programmer errors (a damaged row read back): the store checks after read too.
        assert self.failed_count >= 0, self.failed_count
        assert isinstance(self.role, Role), self.role
        assert isinstance(self.history, tuple), type(self.history)

    def locked_at(self, now_ms: int) -> bool:
        """Whether the operator is locked at `now_ms`."""
        return self.locked_until_ms is not None and now_ms < self.locked_until_ms


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Lock an operator for `lock_ms` after `failures_max` consecutive failed attempts."""

    failures_max: int = limits.operator_login_failures_max
    lock_ms: int = operator_lock_ms_default

    def __post_init__(self) -> None:
        if self.failures_max < 1 or self.lock_ms < 1:
            raise ConfigError("lockout failures_max and lock_ms must be at least 1")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Everything the operator core decides by: password rules, lockout, hash cost, clock zone.

    Cashiers (terminal keypads) follow `terminal_policy`; every other role, supervisors
    included since the same account may use the console, follows `console_policy`.
    """

    terminal_policy: PasswordPolicy = TERMINAL_POLICY
    console_policy: PasswordPolicy = CONSOLE_POLICY
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    hash_params: HashParams = HASH_DEFAULT
    utc_offset_minutes: int = china_utc_offset_minutes

    def policy_for(self, role: Role) -> PasswordPolicy:
        """The password rules of `role`."""
        return self.terminal_policy if role is Role.CASHIER else self.console_policy


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What a login attempt decided.

    `ok`: the password (and one-time code) were right. Even then, `must_change_password`
    means the session may do nothing but change the password (`session_allowed` is False).
    `reason_code` is a guide code where one exists (``wrong_password``,
    ``operator_locked``, ``password_expired``, ``otp_invalid``), else one of ``ok``,
    ``password_temporary``, ``otp_required``, ``otp_not_enrolled``, ``operator_disabled``.
    `updated_record`: the record to store, None when nothing changed.
    """

    ok: bool
    reason_code: str
    message_zh: str
    message_en: str
    must_change_password: bool = False
    locked_until_ms: int | None = None
    updated_record: OperatorRecord | None = None
    role: Role | None = None

    @property
    def session_allowed(self) -> bool:
        """Whether the operator may start working (logged in, password not due)."""
        return self.ok and not self.must_change_password


@dataclass(frozen=True, slots=True)
class PasswordChangeResult:
    """What a password change decided. `problems`: why a new password was refused
    (codes of `check_password_strength`, plus ``reused``); `reason_code` is ``ok``,
    ``password_rejected`` or a login refusal code (``wrong_password``, ``operator_locked``,
    ``operator_disabled``)."""

    ok: bool
    reason_code: str
    message_zh: str
    message_en: str
    problems: tuple[str, ...] = ()
    locked_until_ms: int | None = None
    updated_record: OperatorRecord | None = None


class PasswordRejected(InputError):
    """A password given to create or reset an operator breaks the rules; `problems` says how."""

    def __init__(self, problems: tuple[str, ...]):
        self.problems = problems
        super().__init__(
            f"the password breaks the password rules ({', '.join(problems)}): choose another"
        )
