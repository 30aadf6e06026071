"""The operators' schema, as versioned migrations (component "auth").

Passwords only as Argon2id hashes, TOTP secrets only sealed (AES-256-GCM with the operator
id as associated data). `password_history` keeps the previous hashes, newest at position 0,
as many as the password policy asks and no more.
"""

from __future__ import annotations

from kassa.store import Migration

COMPONENT = "auth"

_V1 = """
CREATE TABLE operators (
    operator_id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    password_set_ms {bigint} NOT NULL,
    failed_count INTEGER NOT NULL DEFAULT 0,
    locked_until_ms {bigint},
    totp_secret_sealed {blob},
    last_totp_step {bigint},
    active INTEGER NOT NULL DEFAULT 1,
    must_change INTEGER NOT NULL DEFAULT 0,
    last_login_ms {bigint},
    created_ms {bigint} NOT NULL,
    CHECK (failed_count >= 0),
    CHECK (active IN (0, 1) AND must_change IN (0, 1))
);
CREATE TABLE password_history (
    operator_id TEXT NOT NULL REFERENCES operators(operator_id),
    position INTEGER NOT NULL,
    password_hash TEXT NOT NULL,
    PRIMARY KEY (operator_id, position)
);
"""

MIGRATIONS: tuple[Migration, ...] = (Migration(1, "operators", _V1),)
