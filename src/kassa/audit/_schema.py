"""The audit log's schema (component "audit"); see `kassa.audit.store` for the design."""

from __future__ import annotations

from kassa.audit._record import GENESIS_HASH
from kassa.store import Migration

COMPONENT = "audit"

_APPEND_ONLY_SQLITE = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
"""
_APPEND_ONLY_POSTGRESQL = """
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
"""
_TABLES = f"""
CREATE TABLE audit_log (
    seq {{bigint}} NOT NULL PRIMARY KEY,
    at_ms {{bigint}} NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    source TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_at_ms ON audit_log (at_ms);
CREATE TABLE audit_head (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq {{bigint}} NOT NULL,
    hash TEXT NOT NULL,
    key_id TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, key_id) VALUES (1, 0, '{GENESIS_HASH}', '');
"""
MIGRATIONS = (
    Migration(
        1,
        "audit log",
        {
            "sqlite": _TABLES + _APPEND_ONLY_SQLITE,
            "postgresql": _TABLES + _APPEND_ONLY_POSTGRESQL,
        },
    ),
)
