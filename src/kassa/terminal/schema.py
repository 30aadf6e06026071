"""The terminal journal's schema (component "terminal"), SQLite with WAL and synchronous FULL.

`txns` holds one row per card transaction, written BEFORE the request leaves: its
identity (batch + STAN) is fixed at insert and reused for every resend and reversal.
While a transaction is unresolved its request and its ready-made reversal are kept
sealed (PCI DSS 3.3.2); once final they are dropped (3.3.1) and only masked data stays.
"""

from __future__ import annotations

COMPONENT = "terminal"

_V1 = """
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE txns (
    id {pk},
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    txn_type TEXT NOT NULL,
    amount_fen {bigint},
    state TEXT NOT NULL,
    reversible INTEGER NOT NULL,
    entry_mode TEXT,
    pan_masked TEXT,
    pan_sealed {blob},
    operator TEXT,
    request_sealed {blob},
    reversal_sealed {blob},
    reversal_reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    response_code TEXT,
    rrn TEXT,
    auth_code TEXT,
    host_date TEXT,
    orig_id {bigint},
    orig_batch TEXT,
    orig_stan TEXT,
    orig_rrn TEXT,
    orig_auth TEXT,
    offline INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    created_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL,
    tz TEXT NOT NULL,
    UNIQUE (batch, stan)
);
CREATE INDEX txns_state ON txns(state);
CREATE TABLE print_jobs (
    id {pk},
    txn_id {bigint},
    kind TEXT NOT NULL,
    copy TEXT NOT NULL,
    payload {blob} NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_ms {bigint} NOT NULL,
    printed_ms {bigint}
);
CREATE TABLE settlement_runs (
    batch TEXT PRIMARY KEY,
    step TEXT NOT NULL,
    stan TEXT NOT NULL,
    totals TEXT NOT NULL,
    host_result TEXT,
    uploaded INTEGER NOT NULL DEFAULT 0,
    started_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL
);
CREATE TABLE events (
    id {pk},
    at_ms {bigint} NOT NULL,
    kind TEXT NOT NULL,
    code TEXT,
    txn_id {bigint},
    detail TEXT NOT NULL
);
"""

MIGRATIONS: tuple[tuple[int, str, str], ...] = ((1, "initial terminal journal", _V1),)
