"""What the host keeps about merchants, terminals and cards: immutable rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    LOST = "lost"  # cards only
    STOLEN = "stolen"  # cards only


class CardKind(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


@dataclass(frozen=True, slots=True)
class Merchant:
    mid: str
    name: str
    mcc: str
    fee_rate_ppm: int  # parts per million of the amount: 0.38% = 3800
    fee_fixed_fen: int
    fee_min_fen: int
    fee_max_fen: int | None
    credit_allowed: bool
    txn_limit_fen: int
    daily_limit_fen: int | None
    status: Status


@dataclass(frozen=True, slots=True)
class Terminal:
    tid: str
    mid: str
    tmk_sealed: bytes
    status: Status
    batch: str
    key_mode: str | None
    keys_sealed: bytes | None
    keys_ms: int | None
    signed_on: bool
    last_seen_ms: int | None
    software_version: str | None


@dataclass(frozen=True, slots=True)
class Card:
    card_ref: str
    pan_hash: str
    pan_masked: str
    expiry: str  # YYMM
    pvv: str
    kind: CardKind
    credit_limit_fen: int
    status: Status
    daily_limit_fen: int | None
    daily_count_max: int | None
    wrong_pin_count: int


# Host transaction types whose approval captures money from a card for a merchant: the
# settlement debits, the anchors of `kassa host check`, what retention keeps with the ledger.
CAPTURE_TYPES = ("sale", "completion", "completion_advice", "offline_sale", "offline_upload")


class TxnStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    REVERSED = "reversed"  # undone by an 0400
    VOIDED = "voided"  # undone by a void / pre-auth void / completion void
    COMPLETED = "completed"  # a pre-authorisation captured by a completion
    RECORDED = "recorded"  # management and settlement messages


@dataclass(frozen=True, slots=True)
class TxnRow:
    id: int
    tid: str
    batch: str
    stan: str
    mti: str
    txn_type: str
    content_hash: str
    mid: str
    card_ref: str | None
    pan_masked: str | None
    amount_fen: int
    rrn: str | None
    auth_code: str | None
    response_code: str
    status: TxnStatus
    orig_id: int | None
    entry_id: str | None
    settle_date: str
    created_ms: int
    response: bytes

    @property
    def key(self) -> str:
        """The transaction identity: TID:batch:STAN."""
        return f"{self.tid}:{self.batch}:{self.stan}"
