"""The back office's own tables (component "backoffice"), the records read from them, and
the settlement day's calendar (`Cutoff`).

It reads the host's tables and never alters them; what it adds lives here:

- ``settlement_runs``: one row per settlement day (``YYYY-MM-DD``), ``running`` until every
  merchant is settled, then ``done``; the window and refund-fee policy it was started with
  are kept so a resumed run settles the rest with the same terms.
- ``merchant_settlements``: one row per (day, merchant), written in the same transaction
  as the merchant's fee and payout entries and its ``txn_settlement`` rows, so a merchant
  is settled wholly or not at all. ``carry_in_fen`` (<= 0) is what the merchant still
  owed from earlier days; ``payout_fen`` = max(0, net + carry_in).
- ``txn_settlement``: each host transaction that moved merchant money, with the day it
  was settled on, its signed amount for the merchant and its signed fee. The primary key
  is what makes a transaction settle exactly once. ``role`` is ``capture``, ``refund``,
  ``adjust`` (a void or reversal of something settled on an earlier day) or ``excluded``
  (a transaction and its void or reversal settled on the same day: counted in neither
  the totals nor the count, amounts kept so that a later undo of the undo is exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from kassa.errors import ConfigError, InputError
from kassa.store import Migration, Transaction

__all__ = [
    "COMPONENT",
    "MIGRATIONS",
    "Cutoff",
    "DayResult",
    "MerchantSettlement",
    "load_day",
    "owed_before",
]

COMPONENT = "backoffice"

_V1 = """
CREATE TABLE settlement_runs (
    settle_day TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    window_start_ms {bigint} NOT NULL,
    window_end_ms {bigint} NOT NULL,
    refund_fees TEXT NOT NULL,
    started_ms {bigint} NOT NULL,
    finished_ms {bigint}
);
CREATE TABLE merchant_settlements (
    settle_day TEXT NOT NULL,
    mid TEXT NOT NULL,
    name TEXT NOT NULL,
    gross_fen {bigint} NOT NULL,
    refunds_fen {bigint} NOT NULL,
    adjust_fen {bigint} NOT NULL,
    fee_fen {bigint} NOT NULL,
    net_fen {bigint} NOT NULL,
    carry_in_fen {bigint} NOT NULL,
    payout_fen {bigint} NOT NULL,
    count INTEGER NOT NULL,
    fee_entry_id TEXT,
    payout_entry_id TEXT,
    settled_ms {bigint} NOT NULL,
    PRIMARY KEY (settle_day, mid)
);
CREATE INDEX merchant_settlements_mid ON merchant_settlements(mid, settle_day);
CREATE TABLE txn_settlement (
    txn_id {bigint} PRIMARY KEY,
    settle_day TEXT NOT NULL,
    mid TEXT NOT NULL,
    role TEXT NOT NULL,
    amount_fen {bigint} NOT NULL,
    fee_fen {bigint} NOT NULL
);
CREATE INDEX txn_settlement_day ON txn_settlement(settle_day, mid);
"""

MIGRATIONS: tuple[Migration, ...] = (Migration(1, "settlement and fees", _V1),)


_DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class Cutoff:
    """The daily cut-off: local time of day and the zone's offset (23:00 UTC+8 default).

    A cut-off from 12:00 to 23:59 closes day D that evening; one from 00:00 to 11:59
    closes it the next morning (00:00 is midnight at the end of D, 02:00 the small hours
    after it). Day D's window is [end of D-1, end of D).
    """

    hour: int = 23
    minute: int = 0
    utc_offset_minutes: int = 480

    def __post_init__(self) -> None:
        if not (0 <= self.hour < 24 and 0 <= self.minute < 60):
            raise ConfigError(f"cut-off {self.hour}:{self.minute} is not a time of day")
        if not -14 * 60 <= self.utc_offset_minutes <= 14 * 60:
            raise ConfigError(f"UTC offset {self.utc_offset_minutes} minutes is out of range")

    @classmethod
    def parse(cls, text: str, utc_offset_minutes: int = 480) -> Cutoff:
        """``HH:MM`` (24-hour); InputError with an example otherwise."""
        hour, sep, minute = text.strip().partition(":")
        if not (sep and hour.isdigit() and minute.isdigit() and len(minute) == 2):
            raise InputError(f"cut-off {text!r} is not HH:MM; give e.g. 23:00")
        if not (int(hour) < 24 and int(minute) < 60):
            raise InputError(f"cut-off {text!r} is not a time of day; give e.g. 23:00")
        return cls(int(hour), int(minute), utc_offset_minutes)

    def end_ms(self, day: date) -> int:
        """UTC milliseconds of the cut-off that closes ``day``."""
        closes_on = day if self.hour >= 12 else day + timedelta(days=1)
        minutes = self.hour * 60 + self.minute - self.utc_offset_minutes
        return (closes_on.toordinal() - _EPOCH) * _DAY_MS + minutes * 60_000

    def window_ms(self, day: date) -> tuple[int, int]:
        """[start, end) of ``day`` in UTC milliseconds."""
        return self.end_ms(day - timedelta(days=1)), self.end_ms(day)

    def last_closed_day(self, now_ms: int) -> date:
        """The latest day whose cut-off is at or before ``now_ms``."""
        day = self.local(now_ms).date() + timedelta(days=1)
        while self.end_ms(day) > now_ms:
            day -= timedelta(days=1)
        return day

    def local(self, at_ms: int) -> datetime:
        zone = timezone(timedelta(minutes=self.utc_offset_minutes))
        return datetime.fromtimestamp(at_ms // 1000, UTC).astimezone(zone)

    def describe_end(self, day: date) -> str:
        return self.local(self.end_ms(day)).strftime("%Y-%m-%d %H:%M UTC%z")


@dataclass(frozen=True, slots=True)
class MerchantSettlement:
    """One merchant's settlement for one day, in fen (see `kassa.backoffice.settlement`)."""

    settle_day: str
    mid: str
    name: str
    gross_fen: int
    refunds_fen: int
    adjust_fen: int
    fee_fen: int
    net_fen: int
    carry_in_fen: int
    payout_fen: int
    count: int
    fee_entry_id: str | None
    payout_entry_id: str | None

    @property
    def carry_out_fen(self) -> int:
        """What the merchant still owes after this settlement (<= 0)."""
        return self.net_fen + self.carry_in_fen - self.payout_fen

    def row(self) -> tuple[str | int | None, ...]:
        return (
            self.settle_day, self.mid, self.name, self.gross_fen, self.refunds_fen,
            self.adjust_fen, self.fee_fen, self.net_fen, self.carry_in_fen, self.payout_fen,
            self.count, self.fee_entry_id, self.payout_entry_id,
        )  # fmt: skip


_TOTALLED = ("gross_fen", "refunds_fen", "adjust_fen", "fee_fen", "net_fen", "carry_in_fen",
             "payout_fen", "count")  # fmt: skip


@dataclass(frozen=True, slots=True)
class DayResult:
    """A settlement day: its run, window and merchants (sorted by MID)."""

    settle_day: str
    status: str  # running | done
    window_start_ms: int
    window_end_ms: int
    merchants: tuple[MerchantSettlement, ...]

    def total(self, name: str) -> int:
        """The acquirer's total of one money column (or ``count``) over all merchants."""
        if name not in _TOTALLED:
            raise ValueError(f"no total for {name!r}; one of {', '.join(_TOTALLED)}")
        return sum(int(getattr(m, name)) for m in self.merchants)


def load_day(tx: Transaction, settle_day: str) -> DayResult | None:
    """The stored settlement of ``settle_day`` (``YYYY-MM-DD``), or None if never run."""
    run = tx.fetchone(
        "SELECT status, window_start_ms, window_end_ms FROM settlement_runs WHERE settle_day = ?",
        (settle_day,),
    )
    if run is None:
        return None
    rows = tx.fetchall(
        "SELECT settle_day, mid, name, gross_fen, refunds_fen, adjust_fen, fee_fen, net_fen,"
        " carry_in_fen, payout_fen, count, fee_entry_id, payout_entry_id"
        " FROM merchant_settlements WHERE settle_day = ? ORDER BY mid",
        (settle_day,),
    )
    merchants = tuple(_merchant_settlement(r) for r in rows)
    return DayResult(settle_day, run[0], int(run[1]), int(run[2]), merchants)


def owed_before(tx: Transaction, day: str, mid: str) -> int:
    """What the merchant still owed after its last settlement before ``day`` (<= 0)."""
    row = tx.fetchone(
        "SELECT net_fen + carry_in_fen FROM merchant_settlements WHERE mid = ?"
        " AND settle_day < ? ORDER BY settle_day DESC LIMIT 1",
        (mid, day),
    )
    return min(0, int(row[0])) if row else 0


def _merchant_settlement(r: Sequence[Any]) -> MerchantSettlement:
    gross, refunds, adjust, fee, net, carry_in, payout, count = (int(v) for v in r[3:11])
    return MerchantSettlement(
        r[0], r[1], r[2], gross, refunds, adjust, fee, net, carry_in, payout, count, r[11], r[12]
    )
