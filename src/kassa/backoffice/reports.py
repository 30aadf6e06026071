"""Settlement reports: CSV and printable HTML, and the payout file for the bank.

Every file is built from what the settlement stored (`load_day`, `load_details`), never
recomputed, so a report printed today and one printed next month say the same thing.
CSV files are UTF-8 without BOM, comma-separated, CRLF line ends (RFC 4180), money in
fen (integers) with a yuan column where people read it.

The payout file (代付文件) has one header line, one line per merchant to be paid
(``payout_fen > 0``; a merchant whose net is zero or negative is not paid, see
`kassa.backoffice.settlement`), and a trailer::

    mid,name,settle_date,net_payable_fen,net_payable_yuan,count
    123456789012345,测试商户,2026-11-18,2008040,20080.40,5
    TRAILER,1,2008040,<sha256>

where the trailer holds the record count, the total in fen and the SHA-256 (hex) of every
byte of the file before the trailer line; `verify_payout_file` checks all three.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kassa.backoffice.schema import Cutoff, DayResult, MerchantSettlement
from kassa.errors import InputError
from kassa.money import Amount
from kassa.store import Transaction

__all__ = [
    "PAYOUT_HEADER",
    "SettledTxn",
    "acquirer_csv",
    "load_details",
    "merchant_csv",
    "payout_file",
    "report_html",
    "verify_payout_file",
]

PAYOUT_HEADER = ("mid", "name", "settle_date", "net_payable_fen", "net_payable_yuan", "count")
_SUMMARY_COLUMNS = ("gross_fen", "refunds_fen", "adjust_fen", "fee_fen", "net_fen",
                    "carry_in_fen", "payout_fen")  # fmt: skip
_TRAILER = "TRAILER"


@dataclass(frozen=True, slots=True)
class SettledTxn:
    """One host transaction as a settlement counted it (amounts signed for the merchant)."""

    txn_id: int
    mid: str
    role: str  # capture | refund | adjust | excluded
    tid: str
    batch: str
    stan: str
    txn_type: str
    pan_masked: str
    rrn: str
    created_ms: int
    amount_fen: int
    fee_fen: int


def load_details(tx: Transaction, settle_day: str, mid: str | None = None) -> list[SettledTxn]:
    """The transactions settled on ``settle_day`` (one merchant's, or all), by MID then id."""
    where, params = "s.settle_day = ?", [settle_day]
    if mid is not None:
        where, params = where + " AND s.mid = ?", [settle_day, mid]
    rows = tx.fetchall(
        "SELECT s.txn_id, s.mid, s.role, t.tid, t.batch, t.stan, t.txn_type, t.pan_masked,"
        " t.rrn, t.created_ms, s.amount_fen, s.fee_fen FROM txn_settlement s"
        f" JOIN txns t ON t.id = s.txn_id WHERE {where} ORDER BY s.mid, s.txn_id",
        params,
    )
    return [_settled_txn(r) for r in rows]


def _settled_txn(r: Sequence[Any]) -> SettledTxn:
    return SettledTxn(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7] or "", r[8] or "",
                      int(r[9]), int(r[10]), int(r[11]))  # fmt: skip


def _yuan(fen: int) -> str:
    return Amount(fen).yuan()


def _csv(rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _summary(m: MerchantSettlement) -> list[object]:
    return [m.settle_day, m.mid, m.name, m.count, *(getattr(m, c) for c in _SUMMARY_COLUMNS),
            m.carry_out_fen, _yuan(m.payout_fen)]  # fmt: skip


def acquirer_csv(day: DayResult) -> bytes:
    """One line per merchant and a TOTAL line: the acquirer's view of the day."""
    header = ["settle_day", "mid", "name", "count", *_SUMMARY_COLUMNS, "carry_out_fen",
              "payout_yuan"]  # fmt: skip
    totals = [day.total(c) for c in _SUMMARY_COLUMNS]
    carry_out = sum(m.carry_out_fen for m in day.merchants)
    total = [day.settle_day, "TOTAL", "", day.total("count"), *totals, carry_out,
             _yuan(day.total("payout_fen"))]  # fmt: skip
    return _csv([header, *(_summary(m) for m in day.merchants), total])


def _merchant(day: DayResult, mid: str) -> MerchantSettlement:
    for m in day.merchants:
        if m.mid == mid:
            return m
    raise InputError(f"merchant {mid} has no settlement on {day.settle_day}")


def merchant_csv(
    day: DayResult, mid: str, details: Sequence[SettledTxn], cutoff: Cutoff | None = None
) -> bytes:
    """One merchant's statement: every transaction settled (excluded pairs included, for
    reconciliation with the terminal) and a TOTAL line of what was counted."""
    m, cutoff = _merchant(day, mid), cutoff or Cutoff()
    header = ["settle_day", "mid", "time", "tid", "batch", "stan", "type", "card", "rrn", "role",
              "amount_fen", "amount_yuan", "fee_fen"]  # fmt: skip
    lines: list[Sequence[object]] = [header]
    for d in details:
        if d.mid != mid:
            continue
        when = cutoff.local(d.created_ms).strftime("%Y-%m-%d %H:%M:%S")
        lines.append([day.settle_day, mid, when, d.tid, d.batch, d.stan, d.txn_type,
                      d.pan_masked, d.rrn, d.role, d.amount_fen, _yuan(d.amount_fen),
                      d.fee_fen])  # fmt: skip
    counted = m.gross_fen - m.refunds_fen + m.adjust_fen
    lines.append([day.settle_day, mid, "", "", "", "", "TOTAL", "", "", f"count={m.count}",
                  counted, _yuan(counted), m.fee_fen])  # fmt: skip
    return _csv(lines)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kassa.backoffice", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yuan"] = _yuan
    return env


def report_html(
    day: DayResult,
    mid: str | None = None,
    details: Sequence[SettledTxn] = (),
    cutoff: Cutoff | None = None,
) -> str:
    """A printable page (Chinese and English headings): the acquirer summary of the day,
    or with ``mid`` that merchant's settlement and its transactions."""
    cutoff = cutoff or Cutoff()
    merchants = (_merchant(day, mid),) if mid is not None else day.merchants
    rows = [d for d in details if mid is None or d.mid == mid]

    def local(at_ms: int) -> str:
        return cutoff.local(at_ms).strftime("%Y-%m-%d %H:%M:%S")

    totals = {c: sum(getattr(m, c) for m in merchants) for c in (*_SUMMARY_COLUMNS, "count")}
    template = _environment().get_template("settlement.html")
    return template.render(
        day=day, mid=mid, merchants=merchants, details=rows, totals=totals, local=local,
        window=(local(day.window_start_ms), local(day.window_end_ms)),
    )  # fmt: skip


def payout_file(day: DayResult) -> bytes:
    """The payout file of a finished day (module docstring); InputError if it is not."""
    if day.status != "done":
        raise InputError(f"the settlement of {day.settle_day} has not finished; run it again first")
    paid = [m for m in day.merchants if m.payout_fen > 0]
    body = _csv([PAYOUT_HEADER, *([m.mid, m.name, m.settle_day, m.payout_fen,
                                   _yuan(m.payout_fen), m.count] for m in paid)])  # fmt: skip
    digest = hashlib.sha256(body).hexdigest()
    total = sum(m.payout_fen for m in paid)
    return body + _csv([[_TRAILER, len(paid), total, digest]])


def verify_payout_file(data: bytes) -> bool:
    """Whether the trailer's count, total and SHA-256 match the file's records."""
    body, sep, trailer = data.rstrip(b"\r\n").rpartition(b"\r\n")
    if not sep:
        return False
    body += b"\r\n"
    try:
        fields = next(csv.reader([trailer.decode("utf-8")]))
        records = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))[1:]
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return False
    if len(fields) != 4 or fields[0] != _TRAILER:
        return False
    try:
        total = sum(int(r[3]) for r in records)
    except (IndexError, ValueError):
        return False
    return fields[1:] == [str(len(records)), str(total), hashlib.sha256(body).hexdigest()]
