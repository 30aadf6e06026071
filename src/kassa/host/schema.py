"""The host's schema, as versioned migrations (component "host").

Conventions: times are integer UTC milliseconds (`*_ms`); money is integer fen; PANs are
never stored in the clear (`pan_sealed` is AES-GCM under a key derived from the host
master key, `pan_hash` a keyed HMAC for look-ups, `pan_masked` first 6 / last 4); PINs
only as a keyed verification value; TMKs and working keys sealed.

Money lives in `ledger_entries` + `ledger_postings` (append-only); `accounts.balance_fen`
is a projection of the postings kept in the same transaction, checked by `kassa host check`.
"""

from __future__ import annotations

from collections.abc import Mapping

from kassa.store.url import Dialect

COMPONENT = "host"

_V1 = """
CREATE TABLE merchants (
    mid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    mcc TEXT NOT NULL,
    fee_rate_ppm {bigint} NOT NULL,
    fee_fixed_fen {bigint} NOT NULL DEFAULT 0,
    fee_min_fen {bigint} NOT NULL DEFAULT 0,
    fee_max_fen {bigint},
    credit_allowed INTEGER NOT NULL,
    txn_limit_fen {bigint} NOT NULL,
    daily_limit_fen {bigint},
    status TEXT NOT NULL,
    created_ms {bigint} NOT NULL
);
CREATE TABLE terminals (
    tid TEXT PRIMARY KEY,
    mid TEXT NOT NULL REFERENCES merchants(mid),
    tmk_sealed {blob} NOT NULL,
    status TEXT NOT NULL,
    batch TEXT NOT NULL,
    key_mode TEXT,
    keys_sealed {blob},
    keys_ms {bigint},
    signed_on INTEGER NOT NULL DEFAULT 0,
    last_seen_ms {bigint},
    software_version TEXT,
    created_ms {bigint} NOT NULL
);
CREATE TABLE cards (
    card_ref TEXT PRIMARY KEY,
    pan_hash TEXT NOT NULL UNIQUE,
    pan_sealed {blob} NOT NULL,
    pan_masked TEXT NOT NULL,
    expiry TEXT NOT NULL,
    pvv TEXT NOT NULL,
    kind TEXT NOT NULL,
    credit_limit_fen {bigint} NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    daily_limit_fen {bigint},
    daily_count_max INTEGER,
    wrong_pin_count INTEGER NOT NULL DEFAULT 0,
    created_ms {bigint} NOT NULL
);
CREATE TABLE accounts (
    account TEXT PRIMARY KEY,
    balance_fen {bigint} NOT NULL
);
CREATE TABLE ledger_entries (
    seq {pk},
    entry_id TEXT NOT NULL UNIQUE,
    txn_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    at_ms {bigint} NOT NULL,
    memo TEXT NOT NULL,
    reverses TEXT
);
CREATE INDEX ledger_entries_txn ON ledger_entries(txn_key);
CREATE TABLE ledger_postings (
    entry_id TEXT NOT NULL REFERENCES ledger_entries(entry_id),
    seq INTEGER NOT NULL,
    account TEXT NOT NULL,
    amount_fen {bigint} NOT NULL,
    PRIMARY KEY (entry_id, seq)
);
CREATE TABLE txns (
    id {pk},
    tid TEXT NOT NULL,
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    mti TEXT NOT NULL,
    txn_type TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    mid TEXT NOT NULL,
    card_ref TEXT,
    pan_masked TEXT,
    amount_fen {bigint} NOT NULL,
    rrn TEXT,
    auth_code TEXT,
    response_code TEXT NOT NULL,
    status TEXT NOT NULL,
    orig_id {bigint},
    entry_id TEXT,
    risk TEXT,
    settle_date TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL,
    request {blob} NOT NULL,
    response {blob} NOT NULL,
    UNIQUE (tid, batch, stan, mti)
);
CREATE INDEX txns_rrn ON txns(rrn);
CREATE INDEX txns_batch ON txns(tid, batch, status);
CREATE INDEX txns_card_day ON txns(card_ref, settle_date);
CREATE INDEX txns_auth ON txns(card_ref, auth_code);
CREATE TABLE orphan_reversals (
    tid TEXT NOT NULL,
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    amount_fen {bigint} NOT NULL,
    created_ms {bigint} NOT NULL,
    PRIMARY KEY (tid, batch, stan)
);
CREATE TABLE settlements (
    tid TEXT NOT NULL,
    batch TEXT NOT NULL,
    status TEXT NOT NULL,
    terminal_totals TEXT NOT NULL,
    host_totals TEXT NOT NULL,
    result TEXT NOT NULL,
    uploaded_count INTEGER NOT NULL DEFAULT 0,
    settle_date TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    closed_ms {bigint},
    PRIMARY KEY (tid, batch)
);
CREATE TABLE batch_details (
    tid TEXT NOT NULL,
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    card_org TEXT NOT NULL,
    pan_masked TEXT NOT NULL,
    amount_fen {bigint} NOT NULL,
    match TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    PRIMARY KEY (tid, batch, stan)
);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value {bigint} NOT NULL
);
INSERT INTO counters (name, value) VALUES ('rrn', 0);
CREATE TABLE events (
    id {pk},
    at_ms {bigint} NOT NULL,
    tid TEXT,
    kind TEXT NOT NULL,
    code TEXT,
    detail TEXT NOT NULL
);
"""

_V2 = """
CREATE TABLE risk_alerts (
    id {pk},
    at_ms {bigint} NOT NULL,
    tid TEXT NOT NULL,
    mid TEXT NOT NULL,
    card_ref TEXT,
    txn_type TEXT NOT NULL,
    amount_fen {bigint} NOT NULL,
    action TEXT NOT NULL,
    response_code TEXT,
    detail TEXT NOT NULL,
    stan TEXT,
    batch TEXT,
    review TEXT NOT NULL DEFAULT 'open',
    reviewed_by TEXT,
    reviewed_ms {bigint}
);
CREATE INDEX risk_alerts_open ON risk_alerts(review, at_ms);
"""

# Settlement and reconciliation walk postings by account and txns by ledger entry; on
# PostgreSQL the RRN comes from a sequence (no row lock held to the group's commit, which
# deadlocked two host nodes: see host.netmgmt.allocate_rrn), started past the counter.
_V3_INDEXES = """
CREATE INDEX ledger_postings_account ON ledger_postings(account, entry_id);
CREATE INDEX txns_entry ON txns(entry_id);
"""
_V3: dict[Dialect, str] = {
    "sqlite": _V3_INDEXES,
    "postgresql": _V3_INDEXES
    + """
CREATE SEQUENCE rrn_seq;
SELECT setval('rrn_seq', (SELECT value FROM counters WHERE name = 'rrn') + 1, false);
""",
}

# Every risk observation, so that the counters are shared by host nodes and survive a
# restart (host.riskfeed); pruned past the longest rule window.
_V4 = """
CREATE TABLE risk_feed (
    id {pk},
    node TEXT NOT NULL,
    at_ms {bigint} NOT NULL,
    event TEXT NOT NULL,
    code TEXT NOT NULL
);
CREATE INDEX risk_feed_at ON risk_feed(at_ms);
"""

# A merchant's daily limit is checked against its approved debits of the settlement date.
_V5 = """
CREATE INDEX txns_merchant_day ON txns(mid, settle_date);
"""

MIGRATIONS: tuple[tuple[int, str, str | Mapping[Dialect, str]], ...] = (
    (1, "initial host schema", _V1),
    (2, "risk alerts", _V2),
    (3, "posting and entry indexes, rrn sequence", _V3),
    (4, "risk feed", _V4),
    (5, "merchant day index", _V5),
)
