"""Reconciliation (对账): terminal journals, the host and a bank statement, compared.

    summary = run_recon(db, ReconSources(journals=((path, "12345678"),)), now_ms, "ops01")
    for diff in list_differences(db, status="open"): ...

Terminal rows meet host rows on the transaction identity TID + batch + STAN by a
sort-merge of two streams (`recon_views`, `_recon_join`), one terminal at a time; a bank
statement meets the host on the RRN. Both sides are streamed: the journal through an
external sort (`_recon_sort`), the host page by page, so memory does not grow with the
day (a million rows: see benchmarks/recon.py). Rows that find no partner are paired once more at the end, by
identity and then by RRN (the fallback key), so a journal that lost its batch number or a
stream the database ordered differently still pairs. What disagrees is a `Difference`:

- ``missing_at_host`` / ``missing_at_terminal`` / ``missing_at_external``: one side has
  money standing that the other does not know;
- ``amount_mismatch``: both approved, amounts differ; ``status_mismatch``: approved on one
  side, reversed or declined (or not yet known) on the other;
- ``duplicate``: one identity twice in one view (a journal imported twice).

Its class is ``expected`` while the transaction is still in flight (the terminal has it
in doubt, offline or to resend; the bank has not been sent a batch the host has not
closed) and ``mismatched`` otherwise. Declines, reversals and nothing on both sides agree.
The host's view counts approved corrections (补登), so a corrected difference is gone at
the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from kassa.audit import AuditLog
from kassa.backoffice import recon_views as views
from kassa.backoffice._recon_classify import HostView, classify, host_view
from kassa.backoffice._recon_join import JournalByTid, Tally, join, merged
from kassa.backoffice._recon_sort import SortedInput
from kassa.backoffice.recon_schema import (
    COMPONENT,
    MIGRATIONS,
    Difference,
    DiffRecord,
    fail_run,
    finish_run,
    record_run,
    store_differences,
)
from kassa.backoffice.recon_views import JOURNAL_KEY, Window
from kassa.errors import InputError
from kassa.store import Database, migrate

__all__ = [
    "Difference",
    "HostView",
    "ReconSources",
    "RunSummary",
    "classify",
    "ensure_schema",
    "host_view",
    "run_recon",
]

# Rows travel as plain tuples in the TermRow / HostRow layouts: (batch, STAN) sit at the
# same places in both; the RRN does not.
_BY_KEY = itemgetter(1, 2)
_TERM_RRN = itemgetter(3)
_HOST_RRN = itemgetter(4)


def ensure_schema(db: Database) -> None:
    """Bring the "recon" tables up to date (idempotent)."""
    migrate(db, COMPONENT, MIGRATIONS)


@dataclass(frozen=True, slots=True)
class ReconSources:
    """What to compare. ``journals``: (file, terminal id or None when each line has one)."""

    journals: tuple[tuple[Path, str | None], ...] = ()
    terminal_dbs: tuple[Path, ...] = ()
    external: Path | None = None
    window: Window = field(default_factory=Window)

    def describe(self) -> dict[str, Any]:
        return {
            "journals": [f"{tid}={path}" if tid else str(path) for path, tid in self.journals],
            "terminal_dbs": [str(p) for p in self.terminal_dbs],
            "external": str(self.external) if self.external else None,
        }


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run found; ``by_kind`` counts its mismatched differences per kind."""

    run_id: int
    terminal_rows: int
    host_rows: int
    external_rows: int
    matched: int
    expected: int
    mismatched: int
    by_kind: dict[str, int]
    new: int
    resolved: int

    @property
    def agreed(self) -> bool:
        """No mismatched difference: terminal, host (and bank) agree."""
        return self.mismatched == 0


def _all_closed(tid: str, batch: str) -> bool:
    return True


def _terminal_pass(db: Database, journals: SortedInput, sources: ReconSources,
                   tally: Tally) -> set[str]:  # fmt: skip
    dbs: dict[str, list[Path]] = {}
    for path in sources.terminal_dbs:
        dbs.setdefault(views.terminal_db_tid(path), []).append(path)
    tids = journals.tids | set(dbs) | {tid for _, tid in sources.journals if tid}
    journal = JournalByTid(journals.blocks())
    # Most terminals have no marked import and no correction: ask only for those that do.
    marked_tids, fixed_tids = views.import_tids(db), views.correction_tids(db)
    for tid in sorted(tids):
        theirs: list[Iterator[Any]] = [views.terminal_db_rows(p, tid) for p in dbs.get(tid, [])]
        theirs.append(journal.rows_of(tid))
        if tid in marked_tids:
            theirs.append(iter(views.marked_imports(db, tid)))
        host: list[Iterator[Any]] = [views.host_rows(db, tid, sources.window)]
        if tid in fixed_tids:
            fixes = views.correction_rows(db, tid)
            host.append(iter(fixes))
            tally.host_rows -= len(fixes)
        tally.merge_terminal("terminal", merged(theirs, _BY_KEY), merged(host, _BY_KEY),
                             _all_closed, lambda rows: views.host_rows_full(db, rows))  # fmt: skip
    assert journal.done(), "journal rows left over: sorted differently from the TIDs"
    tally.pair_leftovers("terminal", _all_closed)
    return tids


def _external_pass(db: Database, statement: SortedInput, window: Window,
                   tally: Tally) -> set[str]:  # fmt: skip
    tids = statement.tids
    closed_set = views.closed_batches(db)

    def closed(tid: str, batch: str) -> bool:
        return (tid, batch) in closed_set

    fixes = views.correction_rows(db)
    host = merged([views.host_rows_by_rrn(db, window), *([iter(fixes)] if fixes else [])],
                  _HOST_RRN)  # fmt: skip
    for mine, hosts in join(statement.rows(), (r for r in host if r[0] in tids), _TERM_RRN,
                            _HOST_RRN):  # fmt: skip
        tally.feed("external", mine, hosts, closed, defer=False)
    return tids


def run_recon(
    db: Database,
    sources: ReconSources,
    now_ms: int,
    operator: str,
    audit: AuditLog | None = None,
    role: str = "operator",
) -> RunSummary:
    """Run one reconciliation and store it (runs, differences); see the module docstring.

    Raises InputError for unreadable inputs, with ``file:line: reason`` for the bad rows;
    the run is then stored as ``failed`` and nothing else changes.
    """
    if not (sources.journals or sources.terminal_dbs or sources.external):
        raise InputError("nothing to reconcile: give --journal, --terminal-db or --external")
    ensure_schema(db)
    window = sources.window
    run_id = record_run(db, sources.describe(), window.from_ms, window.to_ms, now_ms, operator)
    tally = Tally(window, "terminal" if sources.journals or sources.terminal_dbs else "external")
    try:
        scope, external_rows = _compare(db, sources, tally)
    except BaseException:
        fail_run(db, run_id, now_ms)
        raise
    mismatched = [d for d in tally.diffs if d.klass == "mismatched"]
    by_kind: dict[str, int] = {}
    for d in mismatched:
        by_kind[d.kind] = by_kind.get(d.kind, 0) + 1
    counts = {"terminal_rows": tally.terminal_rows, "host_rows": tally.host_rows,
              "external_rows": external_rows, "matched": tally.matched,
              "expected": len(tally.diffs) - len(mismatched), "mismatched": len(mismatched)}  # fmt: skip

    def in_scope(r: DiffRecord) -> bool:
        return r.diff.tid in scope.get(r.diff.source, ()) and window.holds(r.diff.txn_ms)

    with db.transaction() as tx:
        new, resolved = store_differences(tx, run_id, tally.diffs, in_scope, now_ms)
        finish_run(tx, run_id, counts, now_ms)
        if audit is not None:
            detail = {**counts, "by_kind": by_kind, "new": new, "resolved": resolved,
                      **sources.describe()}  # fmt: skip
            audit.record_in(tx, operator, role, "recon.run", f"run {run_id}", detail, now_ms)
    return RunSummary(run_id, tally.terminal_rows, tally.host_rows, external_rows, tally.matched,
                      counts["expected"], len(mismatched), by_kind, new, resolved)  # fmt: skip


def _compare(db: Database, sources: ReconSources, tally: Tally) -> tuple[dict[str, set[str]], int]:
    # One string key sorts faster than a tuple: journal rows carry TID + batch + STAN.
    journals = SortedInput(itemgetter(JOURNAL_KEY))
    statement = SortedInput(_TERM_RRN)
    try:
        for path, tid in sources.journals:
            journals.add(views.journal_rows(path, tid))
        journals.check()
        if sources.external is not None:
            statement.add(views.external_rows(sources.external))
            statement.check()
        scope: dict[str, set[str]] = {}
        with views.host_cache(db):
            if sources.journals or sources.terminal_dbs:
                scope["terminal"] = _terminal_pass(db, journals, sources, tally)
            if sources.external is not None:
                scope["external"] = _external_pass(db, statement, sources.window, tally)
        return scope, statement.count
    finally:
        journals.close()
        statement.close()
