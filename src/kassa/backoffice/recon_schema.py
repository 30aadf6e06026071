"""The reconciliation and problem-record tables (component "recon"), on the host database.

They sit beside the host's tables because a correction (补登) must append its ledger entry
and mark its difference corrected in one transaction. Nothing here edits the host's
tables; money only ever moves through appended ``ledger_entries``.

- ``recon_runs``: one row per reconciliation run: what it compared (``sources`` JSON),
  its window, counts, and ``status`` ``running`` -> ``done``.
- ``recon_differences``: one row per disagreement: ``kind`` (missing_at_host,
  missing_at_terminal, missing_at_external, amount_mismatch, status_mismatch, duplicate),
  ``class`` (``expected``: still in flight; ``mismatched``), the views as JSON, and
  ``status`` ``open`` -> ``corrected`` | ``accepted`` | ``resolved`` (gone by itself at
  a later run, e.g. an in-flight sale that completed). A later run that finds the same
  disagreement again updates ``last_run_id`` of the open or accepted row instead of
  adding a second one.
- ``recon_corrections``: a correction made by one operator (maker) and approved by
  another (checker): ``pending`` -> ``approved`` | ``rejected``. An approved money
  correction names its ledger entry; ``delta_fen`` is what it adds to the host's view of
  the transaction (signed, in the transaction's own direction).
- ``recon_terminal_imports``: host transactions marked for a terminal to import (the
  auto rule for missing_at_terminal); they count in the terminal's view from then on.
- ``problems`` + ``problem_events``: problem records for complaints and appeals (申诉),
  with their append-only history.

The records read back from these tables (`Difference`, `DiffRecord`, `RunRecord`) and
the few statements that write runs and differences live here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kassa.store import Database, Migration, Row, Transaction

COMPONENT = "recon"

_V1 = """
CREATE TABLE recon_runs (
    id {pk},
    started_ms {bigint} NOT NULL,
    finished_ms {bigint},
    status TEXT NOT NULL,
    sources TEXT NOT NULL,
    from_ms {bigint},
    to_ms {bigint},
    terminal_rows {bigint} NOT NULL DEFAULT 0,
    host_rows {bigint} NOT NULL DEFAULT 0,
    external_rows {bigint} NOT NULL DEFAULT 0,
    matched {bigint} NOT NULL DEFAULT 0,
    expected {bigint} NOT NULL DEFAULT 0,
    mismatched {bigint} NOT NULL DEFAULT 0,
    operator TEXT NOT NULL
);
CREATE TABLE recon_differences (
    id {pk},
    run_id {bigint} NOT NULL,
    last_run_id {bigint} NOT NULL,
    kind TEXT NOT NULL,
    class TEXT NOT NULL,
    source TEXT NOT NULL,
    tid TEXT NOT NULL,
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    rrn TEXT,
    txn_type TEXT NOT NULL,
    txn_ms {bigint} NOT NULL,
    terminal_fen {bigint},
    host_fen {bigint},
    terminal_view TEXT,
    host_view TEXT,
    detail TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL
);
CREATE INDEX recon_differences_run ON recon_differences(run_id, status);
CREATE INDEX recon_differences_status ON recon_differences(status, class);
CREATE TABLE recon_corrections (
    id {pk},
    diff_id {bigint} NOT NULL,
    mode TEXT NOT NULL,
    rule TEXT,
    account_from TEXT,
    account_to TEXT,
    amount_fen {bigint} NOT NULL,
    delta_fen {bigint} NOT NULL DEFAULT 0,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    maker TEXT NOT NULL,
    made_ms {bigint} NOT NULL,
    checker TEXT,
    checked_ms {bigint},
    status TEXT NOT NULL,
    entry_id TEXT,
    tid TEXT NOT NULL,
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    rrn TEXT,
    txn_type TEXT NOT NULL
);
CREATE INDEX recon_corrections_diff ON recon_corrections(diff_id);
CREATE INDEX recon_corrections_status ON recon_corrections(status, tid);
CREATE TABLE recon_terminal_imports (
    diff_id {bigint} PRIMARY KEY,
    correction_id {bigint} NOT NULL,
    tid TEXT NOT NULL,
    batch TEXT NOT NULL,
    stan TEXT NOT NULL,
    rrn TEXT,
    txn_type TEXT NOT NULL,
    amount_fen {bigint} NOT NULL,
    state TEXT NOT NULL,
    created_ms {bigint} NOT NULL
);
CREATE INDEX recon_terminal_imports_key ON recon_terminal_imports(tid, batch, stan);
CREATE TABLE problems (
    id {pk},
    opened_ms {bigint} NOT NULL,
    updated_ms {bigint} NOT NULL,
    kind TEXT NOT NULL,
    refs TEXT NOT NULL,
    error TEXT NOT NULL,
    checks TEXT NOT NULL,
    resolution TEXT,
    outcome TEXT,
    status TEXT NOT NULL,
    opened_by TEXT NOT NULL
);
CREATE INDEX problems_status ON problems(status, opened_ms);
CREATE TABLE problem_events (
    id {pk},
    problem_id {bigint} NOT NULL,
    at_ms {bigint} NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX problem_events_problem ON problem_events(problem_id, id);
"""

MIGRATIONS: tuple[Migration, ...] = (Migration(1, "reconciliation and problems", _V1),)


# -- records ------------------------------------------------------------------------------


def dumps(doc: Any) -> str:
    """JSON as stored in the recon tables (UTF-8 kept readable, keys sorted)."""
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between the host view and the terminal (or external) view."""

    kind: str
    klass: str  # "expected" (still in flight) | "mismatched"
    source: str  # "terminal" | "external": which view was compared with the host
    tid: str
    batch: str
    stan: str
    rrn: str | None
    txn_type: str
    txn_ms: int
    terminal_fen: int | None
    host_fen: int | None
    terminal_view: dict[str, Any] | None
    host_view: dict[str, Any] | None
    detail: str

    @property
    def identity(self) -> tuple[str, str, str, str, str, str]:
        """What makes two runs' findings the same difference."""
        return (self.source, self.kind, self.tid, self.batch, self.stan, self.rrn or "")


@dataclass(frozen=True, slots=True)
class DiffRecord:
    """A stored difference: ``status`` open, corrected, accepted or resolved."""

    id: int
    run_id: int
    last_run_id: int
    status: str
    created_ms: int
    updated_ms: int
    diff: Difference


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_ms: int
    finished_ms: int | None
    status: str
    sources: dict[str, Any]
    from_ms: int | None
    to_ms: int | None
    terminal_rows: int
    host_rows: int
    external_rows: int
    matched: int
    expected: int
    mismatched: int
    operator: str


_DIFF_COLS = (
    "id, run_id, last_run_id, status, created_ms, updated_ms, kind, class, source, tid, batch,"
    " stan, rrn, txn_type, txn_ms, terminal_fen, host_fen, terminal_view, host_view, detail"
)
_RUN_COLS = (
    "id, started_ms, finished_ms, status, sources, from_ms, to_ms, terminal_rows, host_rows,"
    " external_rows, matched, expected, mismatched, operator"
)


def _diff_record(r: Row) -> DiffRecord:
    views = [json.loads(v) if v else None for v in (r[17], r[18])]
    diff = Difference(
        r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], int(r[14]),
        r[15], r[16], views[0], views[1], r[19],
    )  # fmt: skip
    return DiffRecord(int(r[0]), int(r[1]), int(r[2]), r[3], int(r[4]), int(r[5]), diff)


def load_difference(tx: Transaction, diff_id: int) -> DiffRecord | None:
    row = tx.fetchone(f"SELECT {_DIFF_COLS} FROM recon_differences WHERE id = ?", (diff_id,))
    return _diff_record(row) if row else None


def list_differences(
    tx: Transaction, run_id: int | None = None, status: str | None = None
) -> list[DiffRecord]:
    """Differences found (or found again) by run ``run_id``, of ``status``, by id."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if run_id is not None:
        where.append("(run_id = ? OR last_run_id = ?)")
        params += [run_id, run_id]
    if status is not None:
        where.append("status = ?")
        params.append(status)
    rows = tx.fetchall(
        f"SELECT {_DIFF_COLS} FROM recon_differences WHERE {' AND '.join(where)} ORDER BY id",
        params,
    )
    return [_diff_record(r) for r in rows]


def list_runs(tx: Transaction, run_id: int | None = None) -> list[RunRecord]:
    where, params = ("WHERE id = ?", (run_id,)) if run_id is not None else ("", ())
    rows = tx.fetchall(f"SELECT {_RUN_COLS} FROM recon_runs {where} ORDER BY id", params)
    return [
        RunRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8], r[9],
                  r[10], r[11], r[12], r[13])
        for r in rows
    ]  # fmt: skip


def record_run(db: Database, sources: dict[str, Any], from_ms: int | None, to_ms: int | None,
               now_ms: int, operator: str) -> int:  # fmt: skip
    """A new run, ``running``; its id."""
    with db.transaction() as tx:
        row = tx.fetchone(
            "INSERT INTO recon_runs (started_ms, status, sources, from_ms, to_ms, operator)"
            " VALUES (?, 'running', ?, ?, ?, ?) RETURNING id",
            (now_ms, dumps(sources), from_ms, to_ms, operator),
        )
    assert row is not None
    return int(row[0])


def fail_run(db: Database, run_id: int, now_ms: int) -> None:
    with db.transaction() as tx:
        tx.execute(
            "UPDATE recon_runs SET status = 'failed', finished_ms = ? WHERE id = ?",
            (now_ms, run_id),
        )


_INSERT_DIFF = (
    "INSERT INTO recon_differences (run_id, last_run_id, status, created_ms, updated_ms, kind,"
    " class, source, tid, batch, stan, rrn, txn_type, txn_ms, terminal_fen, host_fen,"
    " terminal_view, host_view, detail) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " ?, ?, ?, ?, ?)"
)


def _diff_values(d: Difference) -> tuple[Any, ...]:
    views = [dumps(v) if v is not None else None for v in (d.terminal_view, d.host_view)]
    return (d.kind, d.klass, d.source, d.tid, d.batch, d.stan, d.rrn, d.txn_type, d.txn_ms,
            d.terminal_fen, d.host_fen, *views, d.detail)  # fmt: skip


def store_differences(
    tx: Transaction,
    run_id: int,
    diffs: list[Difference],
    in_scope: Callable[[DiffRecord], bool],
    now_ms: int,
) -> tuple[int, int]:
    """Record a run's findings: a difference still open (or accepted) from an earlier run
    is found again (``last_run_id``, refreshed views) rather than added twice; an open one
    in the run's scope that was not found again is ``resolved``. Returns (new, resolved)."""
    known = {r.diff.identity: r for r in list_differences(tx) if r.status in ("open", "accepted")}
    seen: set[int] = set()
    new = 0
    for d in diffs:
        earlier = known.get(d.identity)
        if earlier is None:
            tx.execute(_INSERT_DIFF, (run_id, run_id, now_ms, now_ms, *_diff_values(d)))
            new += 1
            continue
        seen.add(earlier.id)
        refresh = (
            ", class = ?, terminal_view = ?, host_view = ?, detail = ?, terminal_fen = ?,"
            " host_fen = ?"
            if earlier.status == "open"
            else ""
        )
        values = _diff_values(d)
        extra = (d.klass, values[-3], values[-2], d.detail, d.terminal_fen, d.host_fen)
        tx.execute(
            f"UPDATE recon_differences SET last_run_id = ?, updated_ms = ?{refresh} WHERE id = ?",
            (run_id, now_ms, *(extra if refresh else ()), earlier.id),
        )
    stale = [
        r.id for r in known.values() if r.status == "open" and r.id not in seen and in_scope(r)
    ]
    for diff_id in stale:
        tx.execute(
            "UPDATE recon_differences SET status = 'resolved', last_run_id = ?, updated_ms = ?"
            " WHERE id = ?",
            (run_id, now_ms, diff_id),
        )
    return new, len(stale)


def finish_run(tx: Transaction, run_id: int, counts: dict[str, int], now_ms: int) -> None:
    tx.execute(
        "UPDATE recon_runs SET status = 'done', finished_ms = ?, terminal_rows = ?, host_rows = ?,"
        " external_rows = ?, matched = ?, expected = ?, mismatched = ? WHERE id = ?",
        (now_ms, counts["terminal_rows"], counts["host_rows"], counts["external_rows"],
         counts["matched"], counts["expected"], counts["mismatched"], run_id),
    )  # fmt: skip
