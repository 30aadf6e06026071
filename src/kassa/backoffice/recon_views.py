"""The views reconciliation compares, each read as a stream of rows in key order.

- terminal: journal lines (``kassa pos journal --json``), sorted by `SortedInput`
  (`_recon_sort`: chunks spilled to temporary files, so a million lines are never all in
  memory);
  terminal journal databases read in place; host transactions marked for a terminal to
  import;
- host: ``txns`` (the original requests 0100/0200/0220) plus, as extra rows of
  ``mti = "recon"``, the approved corrections whose ledger entry exists: the host's view
  of a transaction is what its rows and its corrections say together;
- external: a bank statement CSV (columns ``date,tid,rrn,amount,status``, optional
  ``batch,stan``), sorted like the journal, by RRN.

Rows travel as plain tuples in the `TermRow` / `HostRow` layouts (a million of them are
compared without building an object each); ``TermRow._make(row[:10])`` where one helps
(journal rows carry their sort key after the ten fields).

Database streams are read page by page (keyset pagination, each page in a short transaction of
its own), so neither side is ever wholly in memory and the host is never blocked.
Within one terminal, batch and STAN are 6 digits and RRNs 12, so the database's order
and Python's agree under any collation; the caller pairs anything left over anyway.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from kassa.errors import AmountError, InputError
from kassa.money import Amount
from kassa.store import Database, Row, connect

page_rows = 5_000
host_cache_kib = 16_384
_CHINA = timezone(timedelta(hours=8))
_RRN = re.compile(r"[0-9]{12}")
_TID = re.compile(r"[0-9A-Za-z]{8}")
HOST_MTIS = ("0100", "0200", "0220")
CORRECTION_MTI = "recon"

# What each side's state means for money: "approved" (stands), "in_flight" (not known
# yet), or one of the neutral ones, where nothing stands.
TERMINAL_STATUS = {
    "approved": "approved", "uploaded": "approved", "voided": "approved",
    "offline": "in_flight", "pending": "in_flight", "in_doubt": "in_flight",
    "resend": "in_flight", "declined": "declined", "offline_declined": "declined",
    "reversed": "reversed", "not_sent": "none", "no_answer": "none",
}  # fmt: skip
# A voided sale or a captured pre-authorisation stood: its undoing is a transaction of
# its own (with its own STAN), compared on its own.
HOST_STATUS = {"approved": "approved", "voided": "approved", "completed": "approved",
               "declined": "declined", "reversed": "reversed", "recorded": "none"}  # fmt: skip
EXTERNAL_STATUS = {"approved": "approved", "success": "approved", "成功": "approved",
                   "reversed": "reversed", "冲正": "reversed", "declined": "declined",
                   "failed": "declined", "失败": "declined"}  # fmt: skip
NEUTRAL = frozenset({"absent", "declined", "reversed", "none"})


class TermRow(NamedTuple):
    """A terminal-side (or bank statement) record; ``origin`` says where it came from."""

    tid: str
    batch: str
    stan: str
    rrn: str | None
    txn_type: str
    amount_fen: int
    state: str
    created_ms: int
    pan_masked: str | None
    origin: str


class HostRow(NamedTuple):
    """A host transaction row, or (``mti == "recon"``) an approved correction of one."""

    tid: str
    batch: str
    stan: str
    mti: str
    rrn: str | None
    txn_type: str
    amount_fen: int
    status: str
    created_ms: int
    id: int
    card_ref: str | None
    pan_masked: str | None
    mid: str | None


class Window(NamedTuple):
    """Transactions created in ``[from_ms, to_ms)``; None for an open end."""

    from_ms: int | None = None
    to_ms: int | None = None

    def holds(self, at_ms: int) -> bool:
        return (self.from_ms is None or at_ms >= self.from_ms) and (
            self.to_ms is None or at_ms < self.to_ms
        )

    def widened(self) -> tuple[int, int]:
        """The window a day wider each side: a sale journaled at 23:59:59 and booked by the
        host after midnight must meet its other half."""
        day_ms = 86_400_000
        low = -(2**62) if self.from_ms is None else self.from_ms - day_ms
        high = 2**62 if self.to_ms is None else self.to_ms + day_ms
        return low, high


def day_start_ms(text: str) -> int:
    """``YYYY-MM-DD`` (China time) as UTC milliseconds of its midnight; InputError else."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"date {text!r}: expected YYYY-MM-DD, e.g. 2026-11-18") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=_CHINA).timestamp()) * 1000


# -- parsing the inputs -------------------------------------------------------------------


def journal_row(line: str, tid: str | None, origin: str) -> Row | None:
    """One ``kassa pos journal --json`` line as a row in the `TermRow` layout; None for a
    balance inquiry (no money). ValueError says what is wrong with the line."""
    row = _journal_doc(_loads(line), tid, origin)
    return None if row is None else row[:10]


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None


def _journal_doc(doc: Any, tid: str | None, origin: str) -> Row | None:
    """`journal_row` of a parsed line, with its sort key (TID + batch + STAN) appended."""
    if type(doc) is not dict:
        raise ValueError("not a JSON object")
    get = doc.get
    txn_type, state, batch, stan = get("txn_type"), get("state"), get("batch"), get("stan")
    if txn_type == "balance":
        return None
    # Checked with plain comparisons, not regular expressions: a million lines a run.
    if type(txn_type) is not str or state not in TERMINAL_STATUS:
        raise ValueError(f"txn_type {txn_type!r} or state {state!r} is missing or unknown")
    if not (type(batch) is str and len(batch) == 6 and batch.isdigit() and
            type(stan) is str and len(stan) == 6 and stan.isdigit()):  # fmt: skip
        raise ValueError(f"batch {batch!r} and stan {stan!r} must be 6 digits")
    amount, created, rrn, pan = get("amount_fen"), get("created_ms"), get("rrn"), get("pan_masked")
    if type(amount) is not int or amount < 0 or type(created) is not int:
        raise ValueError("amount_fen and created_ms must be integers")
    line_tid = get("tid") or tid
    # [0-9A-Za-z]{8}: the key below relies on every TID having 8 characters.
    if not (type(line_tid) is str and len(line_tid) == 8 and line_tid.isascii()
            and line_tid.isalnum()):  # fmt: skip
        raise ValueError("no terminal id: give --journal TID=FILE or a tid in each line")
    if rrn is not None and type(rrn) is not str:
        raise ValueError(f"rrn {rrn!r} is not text")
    return (line_tid, batch, stan, rrn or None, txn_type, amount, state, created,
            pan if type(pan) is str else None, origin, line_tid + batch + stan)  # fmt: skip


# The JSON scanner json.loads calls, without its wrapper (a million lines a run); any line
# it does not take as one object with nothing but JSON whitespace after goes through
# json.loads, so what is accepted and every error message stay json.loads's.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_SPACE = " \t\n\r"
JOURNAL_KEY = 10  # where a journal row from `journal_rows` keeps its sort key


def journal_rows(path: Path, tid: str | None) -> Iterator[Row | str]:
    """The rows of a journal file, each with its sort key at ``JOURNAL_KEY`` (TID + batch +
    STAN: one string sorts faster than a tuple), and ``file:line: reason`` for each bad
    line."""
    name, scan = path.name, _scan_json
    with _open(path) as lines:
        for number, line in enumerate(lines, 1):
            try:
                doc, end = scan(line, 0)
            except (StopIteration, ValueError):
                doc = end = None
            try:
                if type(doc) is dict and not line[end:].strip(_JSON_SPACE):
                    row = _journal_doc(doc, tid, f"{name}:{number}")
                elif not line.strip():
                    continue
                else:
                    row = _journal_doc(_loads(line), tid, f"{name}:{number}")
            except ValueError as exc:
                yield f"{path}:{number}: {exc}"
                continue
            if row is not None:
                yield row


def _open(path: Path) -> Any:
    try:
        return path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


EXTERNAL_COLUMNS = ("date", "tid", "rrn", "amount", "status")


def external_row(rec: dict[str, str], origin: str) -> Row:
    """One bank statement row (`TermRow` layout); ValueError says what is wrong with it."""
    status = EXTERNAL_STATUS.get((rec.get("status") or "").strip().lower())
    if status is None:
        raise ValueError(f"status {rec.get('status')!r}: use approved, reversed or declined")
    rrn = (rec.get("rrn") or "").strip()
    if not _RRN.fullmatch(rrn):
        raise ValueError(f"rrn {rrn!r} must be 12 digits")
    try:
        amount = Amount.parse(rec.get("amount") or "").fen
        when = day_start_ms(rec.get("date") or "")
    except (AmountError, InputError) as exc:
        raise ValueError(str(exc)) from None
    tid = (rec.get("tid") or "").strip()
    if not _TID.fullmatch(tid):
        raise ValueError(f"tid {tid!r} must be 8 letters or digits")
    batch, stan = (rec.get("batch") or "").strip(), (rec.get("stan") or "").strip()
    return (tid, batch, stan, rrn, "external", amount, status, when, None, origin)


def external_rows(path: Path) -> Iterator[Row | str]:
    """The rows of a bank statement CSV, and ``file:line: reason`` for each bad row."""
    with _open(path) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in EXTERNAL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            need = ",".join(EXTERNAL_COLUMNS)
            yield f"{path}:1: missing column(s) {', '.join(missing)}; need {need}"
            return
        for rec in reader:
            try:
                yield external_row(rec, f"{path.name}:{reader.line_num}")
            except ValueError as exc:
                yield f"{path}:{reader.line_num}: {exc}"


# -- reading the streams ------------------------------------------------------------------


def _pages(db: Database, select: str, where: str, order: tuple[tuple[str, int], ...],
           params: tuple[Any, ...]) -> Iterator[list[Row]]:  # fmt: skip
    """The pages of ``select ... where ...``, in ``order``: (column, its index in the
    row) pairs that together are unique, so the last row of a page says where the next
    one starts. (Callers chain the pages: the rows then flow without a Python step each.)"""
    columns = ", ".join(name for name, _ in order)
    after: tuple[Any, ...] = ()
    while True:
        keyset = f" AND ({columns}) > ({', '.join('?' for _ in order)})" if after else ""
        sql = f"{select} WHERE {where}{keyset} ORDER BY {columns} LIMIT {page_rows}"
        with db.transaction(write=False) as tx:
            rows = tx.fetchall(sql, params + after)
        if rows:
            yield rows
        if len(rows) < page_rows:
            return
        after = tuple(rows[-1][i] for _, i in order)


@contextmanager
def host_cache(db: Database) -> Iterator[None]:
    """On SQLite, a bigger page cache while reconciling (the connection's own size is put
    back after). The host stores rows in arrival order, terminals interleaved, so one
    terminal's rows lie one every few pages across the table and the next terminal's rows
    sit on the same pages: with one terminal's pages cached (4 MB for 1,000 rows), the next
    reads them from memory rather than from the file. Bounded: ``host_cache_kib``."""
    if db.dialect != "sqlite":
        yield
        return
    with db.transaction(write=False) as tx:
        row = tx.fetchone("PRAGMA cache_size")
        tx.execute(f"PRAGMA cache_size = {-int(host_cache_kib)}")
    try:
        yield
    finally:
        with db.transaction(write=False) as tx:
            tx.execute(f"PRAGMA cache_size = {int(row[0]) if row else -2000}")


def terminal_db_tid(path: Path) -> str:
    """The terminal id configured in a terminal journal database."""
    if not path.is_file():
        raise InputError(f"no terminal journal database at {path}")
    db = connect(f"sqlite:///{path}", durable=False)
    try:
        with db.transaction(write=False) as tx:
            row = tx.fetchone("SELECT value FROM settings WHERE key = 'config'")
    except Exception as exc:
        raise InputError(f"{path} is not a terminal journal database: {exc}") from None
    finally:
        db.close()
    tid = json.loads(row[0]).get("tid") if row else None
    if not isinstance(tid, str) or not _TID.fullmatch(tid):
        raise InputError(f"{path}: the terminal has no terminal id configured")
    return tid


def terminal_db_rows(path: Path, tid: str) -> Iterator[Row]:
    """A terminal journal database's transactions in (batch, STAN) order, `TermRow`
    layout (masked data only)."""
    db = connect(f"sqlite:///{path}", durable=False)
    select = (
        "SELECT ?, batch, stan, rrn, txn_type, COALESCE(amount_fen, 0), state, created_ms,"
        " pan_masked, ? || id FROM txns"
    )
    where, order = "txn_type <> 'balance'", (("batch", 1), ("stan", 2))
    try:
        for page in _pages(db, select, where, order, (tid, path.name + "#")):
            yield from page
    finally:
        db.close()


def marked_imports(db: Database, tid: str) -> list[TermRow]:
    """Host transactions marked for this terminal to import (a missing_at_terminal fix)."""
    with db.transaction(write=False) as tx:
        rows = tx.fetchall(
            "SELECT tid, batch, stan, rrn, txn_type, amount_fen, state, created_ms, diff_id"
            " FROM recon_terminal_imports WHERE tid = ? ORDER BY batch, stan",
            (tid,),
        )
    return [
        TermRow(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], int(r[7]), None, f"import:{r[8]}")
        for r in rows
    ]


_HOST_COLS = (
    "SELECT tid, batch, stan, mti, rrn, txn_type, amount_fen, status, created_ms, id,"
    " card_ref, pan_masked, mid FROM txns"
)
_HOST_WHERE = "mti IN ('0100', '0200', '0220') AND txn_type <> 'balance'"


# What the comparison of a lone pair reads (`_recon_join.agree`), in the `HostRow`
# layout; the other columns (NULL here) are read by `host_rows_full` for the few rows
# that need more: decoding them for every row was a fifth of the host's reading.
_HOST_SLIM = "SELECT ?, batch, stan, mti, NULL, NULL, amount_fen, status, created_ms, id FROM txns"


def host_rows(db: Database, tid: str, window: Window) -> Iterator[Row]:
    """The host's transactions of one terminal, in (batch, STAN) order: plain tuples in
    the `HostRow` layout, cut short after ``id`` and with NULL for the RRN and type (see
    `host_rows_full`)."""
    low, high = window.widened()
    where = f"tid = ? AND {_HOST_WHERE} AND created_ms >= ? AND created_ms < ?"
    order = (("batch", 1), ("stan", 2), ("mti", 3))
    return chain.from_iterable(_pages(db, _HOST_SLIM, where, order, (tid, tid, low, high)))


def host_rows_full(db: Database, rows: list[Row]) -> list[Row]:
    """`host_rows` rows read again in full (corrections, already full, kept as they are),
    in the same order; a row gone meanwhile is left out, as if read a moment later."""
    ids = [r[9] for r in rows if r[3] != CORRECTION_MTI]
    if not ids:
        return rows
    marks = ", ".join("?" for _ in ids)
    with db.transaction(write=False) as tx:
        full = {r[9]: r for r in tx.fetchall(f"{_HOST_COLS} WHERE id IN ({marks})", ids)}
    return [r if r[3] == CORRECTION_MTI else full[r[9]] for r in rows if r[9] in full
            or r[3] == CORRECTION_MTI]  # fmt: skip


def host_rows_by_rrn(db: Database, window: Window) -> Iterator[Row]:
    """The host's transactions with an RRN, in RRN order, `HostRow` layout."""
    low, high = window.widened()
    where = f"rrn IS NOT NULL AND {_HOST_WHERE} AND created_ms >= ? AND created_ms < ?"
    return chain.from_iterable(_pages(db, _HOST_COLS, where, (("rrn", 4), ("id", 9)), (low, high)))


def correction_rows(db: Database, tid: str | None = None) -> list[HostRow]:
    """Approved corrections whose ledger entry exists, as host rows of ``mti = "recon"``,
    in (batch, STAN) order (``tid`` given) or RRN order (all)."""
    where, params = ("AND c.tid = ? ORDER BY c.batch, c.stan", (tid,)) if tid else (
        "AND c.rrn IS NOT NULL ORDER BY c.rrn", ())  # fmt: skip
    with db.transaction(write=False) as tx:
        rows = tx.fetchall(
            "SELECT c.tid, c.batch, c.stan, c.rrn, c.txn_type, c.delta_fen, c.checked_ms, c.id"
            " FROM recon_corrections c JOIN ledger_entries e ON e.entry_id = c.entry_id"
            f" WHERE c.status = 'approved' {where}",
            params,
        )
    return [HostRow(r[0], r[1], r[2], CORRECTION_MTI, r[3], r[4], int(r[5]), "correction",
                    int(r[6]), int(r[7]), None, None, None) for r in rows]  # fmt: skip


def import_tids(db: Database) -> set[str]:
    """The terminals with a host transaction marked for them to import."""
    with db.transaction(write=False) as tx:
        return {str(r[0]) for r in tx.fetchall("SELECT DISTINCT tid FROM recon_terminal_imports")}


def correction_tids(db: Database) -> set[str]:
    """The terminals with an approved correction booked (what `correction_rows` gives)."""
    with db.transaction(write=False) as tx:
        rows = tx.fetchall(
            "SELECT DISTINCT c.tid FROM recon_corrections c"
            " JOIN ledger_entries e ON e.entry_id = c.entry_id WHERE c.status = 'approved'"
        )
    return {str(r[0]) for r in rows}


def host_tids(db: Database) -> set[str]:
    with db.transaction(write=False) as tx:
        return {str(r[0]) for r in tx.fetchall("SELECT tid FROM terminals")}


def closed_batches(db: Database) -> set[tuple[str, str]]:
    """(tid, batch) of the host's closed settlements: a bank only lists settled batches."""
    with db.transaction(write=False) as tx:
        rows = tx.fetchall("SELECT tid, batch FROM settlements WHERE status = 'closed'")
    return {(str(r[0]), str(r[1])) for r in rows}
