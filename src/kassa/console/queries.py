"""What the console reads from the host tables: transaction search, the dashboard, terminals.

Read-only SQL, written once for SQLite and PostgreSQL (``?`` placeholders, see
`kassa.store`). Card numbers are only ever read masked (``pan_masked``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from kassa.errors import InputError
from kassa.money import Amount
from kassa.store import Row, Transaction

search_rows_max = 200
feed_rows = 20
minutes_shown = 30
online_window_ms = 10 * 60_000
_MINUTE_MS = 60_000
_CHINA = timezone(timedelta(hours=8))
STATUSES = ("approved", "declined", "reversed", "voided", "completed", "recorded")
_TXN_COLS = (
    "t.id, t.created_ms, t.tid, t.mid, t.batch, t.stan, t.mti, t.txn_type,"
    " t.pan_masked, t.amount_fen, t.rrn, t.auth_code, t.response_code, t.status,"
    " t.orig_id, t.risk"
)


@dataclass(frozen=True, slots=True)
class TxnView:
    """One host transaction as the console shows it (card number masked)."""

    id: int
    created_ms: int
    tid: str
    mid: str
    batch: str
    stan: str
    mti: str
    txn_type: str
    pan_masked: str | None
    amount_fen: int
    rrn: str | None
    auth_code: str | None
    response_code: str
    status: str
    orig_id: int | None
    risk: str | None

    def as_json(self) -> dict[str, Any]:
        doc = {k: getattr(self, k) for k in self.__slots__}
        doc["amount"] = Amount(self.amount_fen).yuan()
        return doc


def _txn(r: Row) -> TxnView:
    return TxnView(
        int(r[0]),
        int(r[1]),
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        int(r[9]),
        r[10],
        r[11],
        r[12],
        r[13],
        r[14],
        r[15],
    )


@dataclass(frozen=True, slots=True)
class TxnFilter:
    """A transaction search: every field optional; dates are China-time days, inclusive."""

    day_from: str = ""
    day_to: str = ""
    tid: str = ""
    mid: str = ""
    amount: str = ""
    last4: str = ""
    status: str = ""
    rrn: str = ""

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions and parameters; InputError naming the bad field."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.day_from:
            clauses.append("t.created_ms >= ?")
            params.append(day_start_ms(self.day_from))
        if self.day_to:
            clauses.append("t.created_ms < ?")
            params.append(day_start_ms(self.day_to) + 86_400_000)
        for column, value, size in (
            ("tid", self.tid, 8),
            ("mid", self.mid, 15),
            ("rrn", self.rrn, 12),
        ):
            if value:
                if len(value) > size or not value.isalnum():
                    raise InputError(
                        f"{column.upper()} {value!r}: at most {size} letters or digits"
                    )
                clauses.append(f"t.{column} = ?")
                params.append(value)
        if self.amount:
            clauses.append("t.amount_fen = ?")
            params.append(Amount.parse(self.amount).fen)
        if self.last4:
            if len(self.last4) != 4 or not self.last4.isdigit():
                raise InputError(f"last 4 digits {self.last4!r}: give exactly 4 digits")
            like = f"%{self.last4}"
            clauses.append(
                "(t.pan_masked LIKE ? OR t.card_ref IN"
                " (SELECT card_ref FROM cards WHERE pan_masked LIKE ?))"
            )
            params += [like, like]
        if self.status:
            if self.status not in STATUSES:
                raise InputError(f"status {self.status!r}: one of {', '.join(STATUSES)}")
            clauses.append("t.status = ?")
            params.append(self.status)
        return clauses, params


def day_start_ms(text: str) -> int:
    """UTC milliseconds of 00:00 China time on ``YYYY-MM-DD``; InputError otherwise."""
    try:
        if len(text.strip()) != 10:
            raise ValueError
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"date {text!r} is not YYYY-MM-DD; give e.g. 2026-11-18") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=_CHINA).timestamp() * 1000)


def search_txns(tx: Transaction, f: TxnFilter, limit: int = search_rows_max) -> list[TxnView]:
    """Transactions matching `f`, newest first, at most `limit`."""
    clauses, params = f.where()
    where = " AND ".join(clauses) or "1 = 1"
    rows = tx.fetchall(
        f"SELECT {_TXN_COLS} FROM txns t WHERE {where} ORDER BY t.id DESC LIMIT {int(limit)}",
        params,
    )
    return [_txn(r) for r in rows]


def txn_by_id(tx: Transaction, txn_id: int) -> tuple[TxnView, bytes, bytes] | None:
    """The transaction, its stored request (scrubbed JSON) and response (encoded, no PAN)."""
    row = tx.fetchone(
        f"SELECT {_TXN_COLS}, t.request, t.response FROM txns t WHERE t.id = ?", (txn_id,)
    )
    if row is None:
        return None
    return _txn(row), bytes(row[16]), bytes(row[17])


def related_txns(tx: Transaction, view: TxnView) -> list[TxnView]:
    """The transaction's original and what undid or completed it."""
    rows = tx.fetchall(
        f"SELECT {_TXN_COLS} FROM txns t WHERE (t.orig_id = ? OR t.id = ?) AND t.id <> ?"
        " ORDER BY t.id",
        (view.id, view.orig_id or -1, view.id),
    )
    return [_txn(r) for r in rows]


def feed(tx: Transaction, after_id: int = 0, limit: int = feed_rows) -> list[TxnView]:
    """The newest transactions (after `after_id`), newest first."""
    rows = tx.fetchall(
        f"SELECT {_TXN_COLS} FROM txns t WHERE t.id > ? ORDER BY t.id DESC LIMIT {int(limit)}",
        (after_id,),
    )
    return [_txn(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The dashboard's figures at `now_ms`."""

    now_ms: int
    per_minute: tuple[tuple[int, int, int], ...]  # (minute start ms, approvals, declines)
    decline_reasons: tuple[tuple[str, int], ...]  # (response code, count), last hour
    terminals_online: int
    terminals_total: int
    alerts_open: int
    held_open: int
    feed: tuple[TxnView, ...]


def dashboard(tx: Transaction, now_ms: int) -> Dashboard:
    """Approvals and declines per minute (last `minutes_shown`), decline reasons of the last
    hour, terminals seen in the last ten minutes, open risk alerts and the live feed."""
    first = (now_ms // _MINUTE_MS - minutes_shown + 1) * _MINUTE_MS
    rows = tx.fetchall(
        "SELECT created_ms, response_code, status FROM txns WHERE created_ms >= ?"
        " AND created_ms <= ? AND status <> 'recorded'",
        (min(first, now_ms - 3_600_000), now_ms),
    )
    approvals: Counter[int] = Counter()
    declines: Counter[int] = Counter()
    reasons: Counter[str] = Counter()
    for at_ms, code, status in rows:
        minute = int(at_ms) // _MINUTE_MS * _MINUTE_MS
        if status == "declined":
            reasons[code] += 1
            if minute >= first:
                declines[minute] += 1
        elif minute >= first:
            approvals[minute] += 1
    minutes = tuple((m, approvals[m], declines[m]) for m in range(first, now_ms + 1, _MINUTE_MS))
    online = tx.fetchone(
        "SELECT COUNT(*) FROM terminals WHERE signed_on = 1 AND last_seen_ms >= ?",
        (now_ms - online_window_ms,),
    )
    total = tx.fetchone("SELECT COUNT(*) FROM terminals")
    alerts = tx.fetchone(
        "SELECT COUNT(*), SUM(CASE WHEN action = 'hold' THEN 1 ELSE 0 END)"
        " FROM risk_alerts WHERE review = 'open'"
    )
    return Dashboard(
        now_ms,
        minutes,
        tuple(reasons.most_common(8)),
        int(online[0]) if online else 0,
        int(total[0]) if total else 0,
        int(alerts[0] or 0) if alerts else 0,
        int(alerts[1] or 0) if alerts else 0,
        tuple(feed(tx)),
    )


@dataclass(frozen=True, slots=True)
class TerminalView:
    tid: str
    mid: str
    merchant: str
    status: str
    signed_on: bool
    online: bool
    last_seen_ms: int | None
    batch: str
    key_mode: str | None
    software_version: str | None
    open_batch_count: int
    orphan_reversals: int
    last_settlement: str | None
    faults: str | None  # the terminal's last fault summary (status upload 0820 / 362)


def terminals(tx: Transaction, now_ms: int) -> list[TerminalView]:
    """Every terminal with its sign-on state, batch and what the host knows of its health.

    `orphan_reversals`: reversals the host received for transactions it never saw (the
    terminal's pending reversals that arrived without their original); the terminal's own
    queue of pending reversals is not visible at the host.
    """
    rows = tx.fetchall(
        "SELECT t.tid, t.mid, COALESCE(m.name, ''), t.status, t.signed_on, t.last_seen_ms,"
        " t.batch, t.key_mode, t.software_version,"
        " (SELECT COUNT(*) FROM txns x WHERE x.tid = t.tid AND x.batch = t.batch"
        "  AND x.status <> 'recorded'),"
        " (SELECT COUNT(*) FROM orphan_reversals o WHERE o.tid = t.tid),"
        " (SELECT s.result FROM settlements s WHERE s.tid = t.tid ORDER BY s.created_ms DESC"
        "  LIMIT 1),"
        " (SELECT e.detail FROM events e WHERE e.tid = t.tid AND e.kind = 'terminal_faults'"
        "  ORDER BY e.id DESC LIMIT 1)"
        " FROM terminals t LEFT JOIN merchants m ON m.mid = t.mid ORDER BY t.tid"
    )
    out = []
    for r in rows:
        seen = int(r[5]) if r[5] is not None else None
        online = bool(r[4]) and seen is not None and now_ms - seen < online_window_ms
        counts = (int(r[9]), int(r[10]))
        out.append(TerminalView(r[0], r[1], r[2], r[3], bool(r[4]), online, seen, r[6], r[7],
                                r[8], *counts, r[11], r[12]))  # fmt: skip
    return out


def risk_hits(detail: str | None) -> list[str]:
    """The names of the rules a stored risk decision hit ("" detail: none)."""
    if not detail:
        return []
    try:
        doc = json.loads(detail)
    except ValueError:
        return []
    hits = doc.get("hits", []) if isinstance(doc, dict) else []
    return [str(h.get("rule_id", "?")) for h in hits if isinstance(h, dict)]
