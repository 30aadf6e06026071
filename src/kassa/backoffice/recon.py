"""Reconciliation (对账): terminal journals, the host and a bank statement, compared.

    summary = run_recon(db, ReconSources(journals=((path, "12345678"),)), now_ms, "ops01")
    for diff in list_differences(db, status="open"): ...

Terminal rows meet host rows on the transaction identity TID + batch + STAN by a
sort-merge of two streams (`recon_views`), one terminal at a time; a bank statement meets
the host on the RRN. Rows that find no partner are paired once more at the end, by
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

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from kassa.audit import AuditLog
from kassa.backoffice import recon_views as views
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
from kassa.backoffice.recon_views import NEUTRAL, HostRow, TermRow, Window
from kassa.errors import InputError
from kassa.money import Amount
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

T = TypeVar("T")
U = TypeVar("U")
# Rows travel as plain tuples in the TermRow / HostRow layouts: (batch, STAN) sit at the
# same places in both; the RRN does not.
_BY_KEY = itemgetter(1, 2)
_TERM_RRN = itemgetter(3)
_HOST_RRN = itemgetter(4)


def ensure_schema(db: Database) -> None:
    """Bring the "recon" tables up to date (idempotent)."""
    migrate(db, COMPONENT, MIGRATIONS)


class HostView(NamedTuple):
    """What the host says about one transaction, corrections included."""

    status: str  # "approved", a neutral one, or "absent"
    amount_fen: int
    principal: HostRow | None
    corrections_fen: int
    standing: int  # how many host rows stand (more than one is a duplicate)


def host_view(rows: Sequence[HostRow]) -> HostView:
    """The host's view of one identity: its request rows plus approved corrections."""
    base = [r for r in rows if r.mti != views.CORRECTION_MTI]
    delta = sum(r.amount_fen for r in rows if r.mti == views.CORRECTION_MTI)
    standing = [r for r in base if views.HOST_STATUS.get(r.status) == "approved"]
    principal = standing[0] if standing else (base[0] if base else None)
    status = "absent" if principal is None else views.HOST_STATUS.get(principal.status, "none")
    amount = principal.amount_fen if status == "approved" and principal else 0
    if delta:
        amount += delta
        status = "approved" if amount > 0 else "reversed"
    return HostView(status, amount, principal, delta, len(standing))


def _term_json(row: TermRow, count: int = 1) -> dict[str, Any]:
    doc = row._asdict()
    if count > 1:
        doc["records"] = count
    return doc


def _host_json(view: HostView) -> dict[str, Any] | None:
    p = view.principal
    if p is None and not view.corrections_fen:
        return None
    doc: dict[str, Any] = {"status": view.status, "amount_fen": view.amount_fen,
                           "corrections_fen": view.corrections_fen}  # fmt: skip
    if p is not None:
        doc.update(txn_id=p.id, mti=p.mti, row_status=p.status, base_fen=p.amount_fen,
                   rrn=p.rrn, txn_type=p.txn_type, pan_masked=p.pan_masked, mid=p.mid,
                   created_ms=p.created_ms)  # fmt: skip
    return doc


def _yuan(fen: int) -> str:
    return Amount(fen).yuan()


def _said(status: str, fen: int | None) -> str:
    return f"{status} {_yuan(fen)}" if status == "approved" and fen is not None else status


def classify(
    source: str,
    theirs: Sequence[TermRow],
    host: Sequence[HostRow],
    closed: Callable[[str, str], bool] = lambda tid, batch: True,
) -> list[Difference]:
    """The differences between one transaction's rows in the terminal (or external) view
    and in the host's; empty when they agree. ``closed(tid, batch)``: whether the host
    has closed that batch (only what is closed reaches a bank statement)."""
    real = [r for r in theirs if not r.origin.startswith("import:")] or list(theirs)
    view = host_view(host)
    mine = real[0] if real else None
    out: list[Difference] = []
    if len(real) > 1:
        origins = ", ".join(r.origin for r in real[:5])
        out.append(_diff("duplicate", "mismatched", source, mine, view, len(real),
                         f"{len(real)} {source} records for one transaction: {origins}"))  # fmt: skip
    if view.standing > 1:
        out.append(_diff("duplicate", "mismatched", source, mine, view, 1,
                         f"{view.standing} host rows stand for one transaction"))  # fmt: skip
    theirs_status = "absent" if mine is None else _status_of(source, mine)
    if theirs_status in NEUTRAL and view.status in NEUTRAL:
        return out
    theirs_fen = mine.amount_fen if mine is not None else None
    if theirs_status == view.status and (
        theirs_status != "approved" or theirs_fen == view.amount_fen
    ):
        return out
    kind, klass = _kind(source, theirs_status, view, closed)
    detail = (
        f"{source} {_said(theirs_status, theirs_fen)}, host {_said(view.status, view.amount_fen)}"
    )
    out.append(_diff(kind, klass, source, mine, view, len(real), detail))
    return out


def _status_of(source: str, row: TermRow) -> str:
    if source == "external":
        return row.state
    return views.TERMINAL_STATUS.get(row.state, "none")


def _kind(
    source: str, theirs: str, view: HostView, closed: Callable[[str, str], bool]
) -> tuple[str, str]:
    klass = "expected" if theirs == "in_flight" else "mismatched"
    if view.status == "absent":
        return "missing_at_host", klass
    if theirs == "absent":
        p = view.principal
        if source == "external":
            settled = p is None or closed(p.tid, p.batch)
            return "missing_at_external", "mismatched" if settled else "expected"
        return "missing_at_terminal", klass
    if theirs == view.status == "approved":
        return "amount_mismatch", klass
    return "status_mismatch", klass


def _diff(kind: str, klass: str, source: str, mine: TermRow | None, view: HostView,
          count: int, detail: str) -> Difference:  # fmt: skip
    p = view.principal
    ref: Any = mine if mine is not None else p
    assert ref is not None, "a difference needs at least one side"
    times = [t for t in (mine.created_ms if mine else None, p.created_ms if p else None) if t]
    tid, batch, stan = (p.tid, p.batch, p.stan) if p is not None and source == "external" else (
        ref.tid, ref.batch, ref.stan)  # fmt: skip
    return Difference(
        kind, klass, source, tid, batch, stan, (mine.rrn if mine else None) or (p.rrn if p else None),
        (p.txn_type if p is not None else ref.txn_type), min(times) if times else 0,
        mine.amount_fen if mine else None, view.amount_fen if view.status != "absent" else None,
        _term_json(mine, count) if mine else None, _host_json(view), detail,
    )  # fmt: skip


# -- the merge ----------------------------------------------------------------------------


def _run(
    rows: Iterator[Any], first: Any, key: Callable[[Any], Any], k: Any
) -> tuple[list[Any], Any]:
    """The rows of key ``k`` starting at ``first``, and the first row after them."""
    group = [first]
    nxt = next(rows, None)
    while nxt is not None and key(nxt) == k:
        group.append(nxt)
        nxt = next(rows, None)
    return group, nxt


def join(
    left: Iterable[T], right: Iterable[U], key_left: Callable[[T], Any],
    key_right: Callable[[U], Any],
) -> Iterator[tuple[list[T], list[U]]]:  # fmt: skip
    """Sort-merge join of two streams sorted by their keys: the rows of each key, from
    both sides (one side empty when only the other has it)."""
    li, ri = iter(left), iter(right)
    lrow, rrow = next(li, None), next(ri, None)
    while lrow is not None or rrow is not None:
        lk = key_left(lrow) if lrow is not None else None
        rk = key_right(rrow) if rrow is not None else None
        if rk is None or (lk is not None and lk < rk):
            mine, lrow = _run(li, lrow, key_left, lk)
            yield mine, []
        elif lk is None or rk < lk:
            theirs, rrow = _run(ri, rrow, key_right, rk)
            yield [], theirs
        else:
            mine, lrow = _run(li, lrow, key_left, lk)
            theirs, rrow = _run(ri, rrow, key_right, rk)
            yield mine, theirs


def _merged(streams: Sequence[Iterable[Any]], key: Callable[[Any], Any]) -> Iterable[Any]:
    """One sorted stream of several (heapq.merge costs a lot per row: skip it for one)."""
    if not streams:
        return iter(())
    return streams[0] if len(streams) == 1 else heapq.merge(*streams, key=key)


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


# States whose agreement needs no more than equal status and amount (external states are
# already normalised; "none" is not here: not_sent against a host row is a difference).
_SETTLED = ("approved", "declined", "reversed")
_PLAIN_STATUS = {k: v for k, v in {**views.TERMINAL_STATUS, **{s: s for s in _SETTLED}}.items()
                 if v in _SETTLED}  # fmt: skip
_HOST_PLAIN = {k: v for k, v in views.HOST_STATUS.items() if v in _SETTLED}


class _Tally:
    """Counts and findings of a run; host rows are counted by one pass only."""

    def __init__(self, window: Window, host_counted_by: str) -> None:
        self.window = window
        self.plain = window.from_ms is None and window.to_ms is None  # no window to check
        self.host_counted_by = host_counted_by
        self.diffs: list[Difference] = []
        self.matched = self.host_rows = self.terminal_rows = 0
        self.lonely: list[tuple[list[TermRow], list[HostRow]]] = []

    def feed(self, source: str, theirs: list[Any], host: list[Any],
             closed: Callable[[str, str], bool], defer: bool = True) -> None:  # fmt: skip
        """One identity's rows from both sides, as tuples in the TermRow / HostRow layouts
        (host rows include corrections: the caller takes those off ``host_rows``)."""
        if source == "terminal":
            self.terminal_rows += len(theirs)
        if source == self.host_counted_by:
            self.host_rows += len(host)
        if self.plain and len(theirs) == 1 == len(host):
            # The common case, kept cheap: a million of these in a run.
            mine, row = theirs[0], host[0]  # state 6, amount 5; status 7, amount 6, MTI 3
            status = _PLAIN_STATUS.get(mine[6])
            if (
                status is not None
                and status == _HOST_PLAIN.get(row[7])
                and (mine[5] == row[6] and row[3] != views.CORRECTION_MTI)
            ):
                self.matched += 1
                return
        terms = [TermRow._make(r[:10]) for r in theirs]
        hosts = [HostRow._make(r[:13]) for r in host]
        if (
            not self.plain
            and not any(self.window.holds(r.created_ms) for r in terms)
            and not any(self.window.holds(r.created_ms) for r in hosts)
        ):
            return
        if defer and (not terms or not hosts):
            self.lonely.append((terms, hosts))
            return
        found = classify(source, terms, hosts, closed)
        self.diffs.extend(found)
        self.matched += not found


def _of_tid(stream: Iterator[Any], pending: list[Any], tid: str) -> Iterator[Any]:
    """The rows of ``tid`` from a stream sorted by TID first; ``pending[0]`` holds the
    row read ahead (None at the end)."""
    while pending[0] is not None and pending[0][0] == tid:
        yield pending[0]
        pending[0] = next(stream, None)


def _terminal_pass(
    db: Database, journals: views.SortedInput, sources: ReconSources, tally: _Tally
) -> set[str]:
    dbs: dict[str, list[Path]] = {}
    for path in sources.terminal_dbs:
        dbs.setdefault(views.terminal_db_tid(path), []).append(path)
    tids = journals.tids | set(dbs) | {tid for _, tid in sources.journals if tid}
    stream = journals.rows()
    pending = [next(stream, None)]
    for tid in sorted(tids):
        theirs: list[Iterable[Any]] = [views.terminal_db_rows(p, tid) for p in dbs.get(tid, [])]
        theirs.append(_of_tid(stream, pending, tid))
        marked, fixes = views.marked_imports(db, tid), views.correction_rows(db, tid)
        theirs += [marked] if marked else []
        host: list[Iterable[Any]] = [views.host_rows(db, tid, sources.window)]
        host += [fixes] if fixes else []
        tally.host_rows -= len(fixes)
        for mine, hosts in join(_merged(theirs, _BY_KEY), _merged(host, _BY_KEY), _BY_KEY, _BY_KEY):
            tally.feed("terminal", mine, hosts, lambda t, b: True)
    assert pending[0] is None, "journal rows left over: sorted differently from the TIDs"
    _pair_leftovers(tally, "terminal", lambda t, b: True)
    return tids


def _external_pass(db: Database, statement: views.SortedInput, window: Window,
                   tally: _Tally) -> set[str]:  # fmt: skip
    tids = statement.tids
    closed_set = views.closed_batches(db)

    def closed(tid: str, batch: str) -> bool:
        return (tid, batch) in closed_set

    fixes = views.correction_rows(db)
    merged = _merged([views.host_rows_by_rrn(db, window), *([fixes] if fixes else [])], _HOST_RRN)
    host = (r for r in merged if r[0] in tids)
    for mine, hosts in join(statement.rows(), host, _TERM_RRN, _HOST_RRN):
        tally.feed("external", mine, hosts, closed, defer=False)
    return tids


def _pair_leftovers(tally: _Tally, source: str, closed: Callable[[str, str], bool]) -> None:
    """Rows that met nobody: pair them by identity, then by RRN, then classify alone."""
    hosts: dict[tuple[str, str, str], list[HostRow]] = {}
    by_rrn: dict[str, tuple[str, str, str]] = {}
    for _, rows in tally.lonely:
        if rows:
            key = (rows[0].tid, rows[0].batch, rows[0].stan)
            hosts.setdefault(key, []).extend(rows)
            by_rrn.update({r.rrn: key for r in rows if r.rrn})
    pairs: list[tuple[list[TermRow], list[HostRow]]] = []
    for mine, _ in tally.lonely:
        if mine:
            key = (mine[0].tid, mine[0].batch, mine[0].stan)
            if key not in hosts and mine[0].rrn in by_rrn:
                key = by_rrn[mine[0].rrn or ""]
            pairs.append((mine, hosts.pop(key, [])))
    pairs += [([], rows) for rows in hosts.values()]
    tally.lonely = []
    for mine, rows in pairs:
        found = classify(source, mine, rows, closed)
        tally.diffs.extend(found)
        tally.matched += not found


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
    tally = _Tally(window, "terminal" if sources.journals or sources.terminal_dbs else "external")
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


def _compare(db: Database, sources: ReconSources, tally: _Tally) -> tuple[dict[str, set[str]], int]:
    journals = views.SortedInput(itemgetter(0, 1, 2))
    statement = views.SortedInput(_TERM_RRN)
    try:
        for path, tid in sources.journals:
            journals.add(views.journal_rows(path, tid))
        journals.check()
        if sources.external is not None:
            statement.add(views.external_rows(sources.external))
            statement.check()
        scope: dict[str, set[str]] = {}
        if sources.journals or sources.terminal_dbs:
            scope["terminal"] = _terminal_pass(db, journals, sources, tally)
        if sources.external is not None:
            scope["external"] = _external_pass(db, statement, sources.window, tally)
        return scope, statement.count
    finally:
        journals.close()
        statement.close()
