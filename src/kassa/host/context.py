"""One request being handled: what the host knows about it, and how to answer it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from kassa.card import mask_pan
from kassa.host.records import Merchant, Terminal
from kassa.iso8583 import Message
from kassa.iso8583.framing import Header
from kassa.iso8583.keys import WorkingKeys
from kassa.store import Transaction

# Fields of a request a response carries back unchanged (reference §2, per-message table).
ECHOED = (2, 3, 4, 11, 14, 22, 23, 25, 41, 42, 49, 60, 61)
# Fields never kept at rest (PCI DSS 3.3.1) nor hashed for idempotency.
SENSITIVE = frozenset({35, 36, 45, 52, 55})
_NOT_CONTENT = frozenset({52, 53, 64})  # a retry after re-sign-on changes these only


@dataclass(slots=True)
class Ctx:
    """The request and what has been looked up so far.

    The request's identity (TID, STAN, batch) and the host's local time are worked out
    once, when the context is made: every handler asks for them, several times each.
    """

    tx: Transaction
    msg: Message
    header: Header | None
    now_ms: int
    utc_offset_minutes: int
    terminal: Terminal | None = None
    merchant: Merchant | None = None
    keys: WorkingKeys | None = None
    resign_on: bool = False  # set the header's processing nibble to 3
    risk_event: Any = None  # the kassa.risk.RiskEvent of a card transaction, once known
    # A reversal for this TID+batch+STAN came before the request itself; set by the
    # idempotency look-up (`repo.txn_and_orphan`), None until then.
    orphan_reversed: bool | None = None
    extra: dict[int, str] = field(default_factory=dict)

    local: datetime = field(init=False)  # the host's local time of this request
    settle_date: str = field(init=False)  # MMDD of `local`
    hhmmss: str = field(init=False)  # HHMMSS of `local` (F12 of the response)
    tid: str = field(init=False)
    stan: str = field(init=False)
    batch: str = field(init=False)

    def __post_init__(self) -> None:
        tz = _ZONES.get(self.utc_offset_minutes)
        if tz is None:
            tz = _ZONES.setdefault(
                self.utc_offset_minutes, timezone(timedelta(minutes=self.utc_offset_minutes))
            )
        local = datetime.fromtimestamp(self.now_ms / 1000, UTC).astimezone(tz)
        self.local = local
        # f-strings, not strftime: the same digits at a fraction of the cost.
        self.settle_date = f"{local.month:02d}{local.day:02d}"
        self.hhmmss = f"{local.hour:02d}{local.minute:02d}{local.second:02d}"
        get = self.msg.fields.get
        self.tid = get(41) or ""
        self.stan = get(11) or ""
        self.batch = (get(60) or "")[2:8]

    @property
    def amount_fen(self) -> int:
        return int(self.msg.get(4) or 0)


_ZONES: dict[int, timezone] = {}  # UTC offset (minutes) -> its zone, built once each


def content_hash(msg: Message) -> str:
    """What makes two requests with the same identity the same request."""
    parts = [msg.mti] + [f"{n}={v}" for n, v in msg.fields.items() if n not in _NOT_CONTENT]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def scrubbed_json(msg: Message) -> bytes:
    """The request as kept at rest: no track, PIN block or ICC data; PAN masked."""
    fields = {str(n): v for n, v in msg.fields.items() if n not in SENSITIVE}
    if "2" in fields:
        fields["2"] = mask_pan(fields["2"])
    return json.dumps({"mti": msg.mti, "fields": fields}, ensure_ascii=False).encode()


def response_fields(ctx: Ctx, code: str) -> dict[int, str]:
    """The fields every response carries: the echoed ones, host time, acquirer, code."""
    fields = ctx.msg.fields
    out = {n: fields[n] for n in ECHOED if n in fields}
    out[12] = ctx.hhmmss
    out[13] = ctx.settle_date
    out[39] = code
    out.update(ctx.extra)
    return out
