"""Operators and their credentials, for the POS terminal and the web console.

Operators log in with an operator number and a password; supervisors and console admins
also with a one-time code (TOTP, `pyotp`). Passwords are Argon2id hashes
(`argon2-cffi`, parameters in `kassa.auth._hashing`); TOTP secrets rest sealed.

    settings = AuthSettings()                     # PCI DSS v4 style defaults
    check_password_strength("123456", TERMINAL_POLICY, "01")   # ['sequence']
    result = decide_login(record, "739155", None, now_ms, settings, rand)
    result.ok, result.reason_code, result.must_change_password, result.updated_record

The pure core (everything but `kassa.auth.store`) takes time as `now_ms` and randomness as
`rand(n) -> bytes`, and returns decisions as data: a refused login is a `LoginResult`,
never an exception. Reason codes are operator-guide codes where the guide has one
(``wrong_password``, ``operator_locked``, ``password_expired``, ``otp_invalid``).
An unknown operator and a wrong password read exactly the same.

`kassa.auth.store.OperatorStore` keeps operators in the database (SQLite or PostgreSQL).
"""

from __future__ import annotations

from kassa.auth._change import (
    decide_change_password,
    new_operator,
    password_problems,
    renew_totp,
    reset_password,
    unlock,
)
from kassa.auth._hashing import (
    HASH_DEFAULT,
    HASH_FAST,
    HashParams,
    hash_password,
    needs_rehash,
    verify_password,
)
from kassa.auth._login import clear_elapsed_lock, decide_login
from kassa.auth._policy import (
    CONSOLE_POLICY,
    TERMINAL_POLICY,
    PasswordPolicy,
    check_password_strength,
    normalize_password,
    password_length_max,
    problem_text,
)
from kassa.auth._record import (
    AuthSettings,
    LockoutPolicy,
    LoginResult,
    OperatorRecord,
    PasswordChangeResult,
    PasswordRejected,
    check_operator_id,
)
from kassa.auth._roles import Role, parse_role
from kassa.auth._totp import (
    Open,
    Seal,
    new_totp_secret,
    provisioning_uri,
    totp_code,
    totp_step,
    vault_sealer,
    verify_totp,
)

__all__ = [
    "CONSOLE_POLICY",
    "HASH_DEFAULT",
    "HASH_FAST",
    "TERMINAL_POLICY",
    "AuthSettings",
    "HashParams",
    "LockoutPolicy",
    "LoginResult",
    "Open",
    "OperatorRecord",
    "PasswordChangeResult",
    "PasswordPolicy",
    "PasswordRejected",
    "Role",
    "Seal",
    "check_operator_id",
    "check_password_strength",
    "clear_elapsed_lock",
    "decide_change_password",
    "decide_login",
    "hash_password",
    "needs_rehash",
    "new_operator",
    "new_totp_secret",
    "normalize_password",
    "parse_role",
    "password_length_max",
    "password_problems",
    "problem_text",
    "provisioning_uri",
    "renew_totp",
    "reset_password",
    "totp_code",
    "totp_step",
    "unlock",
    "vault_sealer",
    "verify_password",
    "verify_totp",
]
