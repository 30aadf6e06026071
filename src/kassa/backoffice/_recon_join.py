"""The merges of reconciliation: sorted streams met key by key, and what they found.

- `Tally.merge_terminal`: one terminal's rows against the host's, both in (batch, STAN)
  order, each key's rows fed to `Tally.feed`; a lone pair that agrees (nearly every key
  of a day) is counted on the spot, without an object or a call per row;
- `join`: the generic sort-merge (the bank statement meets the host on the RRN);
- `JournalByTid`: the sorted journal handed out one terminal at a time;
- `Tally.pair_leftovers`: rows that met nobody, paired once more by identity, then RRN.

Every row goes to exactly one place (a counted pair, a key's group, or the leftovers), so
nothing is lost even when a database orders differently from Python: such rows come out
as leftovers and are paired at the end.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, TypeVar

from kassa.backoffice import recon_views as views
from kassa.backoffice._recon_classify import classify
from kassa.backoffice.recon_schema import Difference
from kassa.backoffice.recon_views import JOURNAL_KEY, HostRow, TermRow, Window
from kassa.store import Row

T = TypeVar("T")
U = TypeVar("U")
Closed = Callable[[str, str], bool]

# States whose agreement needs no more than equal status and amount (external states are
# already normalised; "none" is not here: not_sent against a host row is a difference).
_SETTLED = ("approved", "declined", "reversed")
_PLAIN_STATUS = {k: v for k, v in {**views.TERMINAL_STATUS, **{s: s for s in _SETTLED}}.items()
                 if v in _SETTLED}  # fmt: skip
_HOST_PLAIN = {k: v for k, v in views.HOST_STATUS.items() if v in _SETTLED}


def agree(mine: Row, row: Row) -> bool:
    """A lone terminal (or statement) row and a lone host row that plainly agree: settled
    the same way, same amount, the host row not a correction (`classify` finds nothing).
    Rows in the `TermRow` / `HostRow` layouts: state 6, amount 5; status 7, amount 6, MTI 3."""
    status = _PLAIN_STATUS.get(mine[6])
    return (
        status is not None
        and status == _HOST_PLAIN.get(row[7])
        and mine[5] == row[6]
        and row[3] != views.CORRECTION_MTI
    )


class Tally:
    """Counts and findings of a run; host rows are counted by one pass only."""

    def __init__(self, window: Window, host_counted_by: str) -> None:
        self.window = window
        self.plain = window.from_ms is None and window.to_ms is None  # no window to check
        self.host_counted_by = host_counted_by
        self.diffs: list[Difference] = []
        self.matched = self.host_rows = self.terminal_rows = 0
        self.lonely: list[tuple[list[TermRow], list[HostRow]]] = []

    def _count(self, source: str, theirs: int, host: int) -> None:
        if source == "terminal":
            self.terminal_rows += theirs
        if source == self.host_counted_by:
            self.host_rows += host

    def feed(self, source: str, theirs: list[Any], host: list[Any], closed: Closed,
             defer: bool = True) -> None:  # fmt: skip
        """One identity's rows from both sides, as tuples in the TermRow / HostRow layouts
        (host rows include corrections: the caller takes those off ``host_rows``)."""
        self._count(source, len(theirs), len(host))
        if len(theirs) == 1 == len(host) and agree(theirs[0], host[0]):
            if self.plain or self._in_window(theirs[0][7], host[0][8]):
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

    def _in_window(self, *times_ms: int) -> bool:
        return any(self.window.holds(t) for t in times_ms)

    def merge_terminal(self, source: str, theirs: Iterator[Row], host: Iterator[Row],
                       closed: Closed, full: Callable[[list[Row]], list[Row]]) -> None:  # fmt: skip
        """Both streams in (batch, STAN) order (index 1, 2 of either layout); each key's
        rows go to `feed`, a lone agreeing pair is counted here (what `feed` would do).
        Host rows may come cut short (`views.host_rows`): ``full`` reads the rows of a
        key in full before they go to `feed`."""
        plain, in_window = self.plain, self._in_window

        def feed(source: str, mine: list[Row], hosts: list[Row], closed: Closed) -> None:
            self.feed(source, mine, full(hosts) if hosts else hosts, closed)

        term_status, host_status, correction = _PLAIN_STATUS, _HOST_PLAIN, views.CORRECTION_MTI
        pairs = matched = 0
        t, h = next(theirs, None), next(host, None)
        while t is not None and h is not None:
            tb, ts, hb, hs = t[1], t[2], h[1], h[2]
            if ts == hs and tb == hb:
                t2, h2 = next(theirs, None), next(host, None)
                # `agree(t, h)` spelt out: a million times a run, a call costs.
                status = term_status.get(t[6])
                if (
                    status is not None and status == host_status.get(h[7]) and t[5] == h[6]
                    and h[3] != correction and (t2 is None or t2[2] != ts or t2[1] != tb)
                    and (h2 is None or h2[2] != hs or h2[1] != hb)
                ):  # fmt: skip
                    pairs += 1
                    matched += plain or in_window(t[7], h[8])
                    t, h = t2, h2
                    continue
                mine, t = _group(theirs, t, t2)
                hosts, h = _group(host, h, h2)
                feed(source, mine, hosts, closed)
            elif tb < hb or (tb == hb and ts < hs):
                mine, t = _group(theirs, t, next(theirs, None))
                feed(source, mine, [], closed)
            else:
                hosts, h = _group(host, h, next(host, None))
                feed(source, [], hosts, closed)
        while t is not None:
            mine, t = _group(theirs, t, next(theirs, None))
            feed(source, mine, [], closed)
        while h is not None:
            hosts, h = _group(host, h, next(host, None))
            feed(source, [], hosts, closed)
        self._count(source, pairs, pairs)
        self.matched += matched

    def pair_leftovers(self, source: str, closed: Closed) -> None:
        """Rows that met nobody: pair them by identity, then by RRN, then classify alone."""
        hosts: dict[tuple[str, str, str], list[HostRow]] = {}
        by_rrn: dict[str, tuple[str, str, str]] = {}
        for _, rows in self.lonely:
            if rows:
                key = (rows[0].tid, rows[0].batch, rows[0].stan)
                hosts.setdefault(key, []).extend(rows)
                by_rrn.update({r.rrn: key for r in rows if r.rrn})
        pairs: list[tuple[list[TermRow], list[HostRow]]] = []
        for mine, _ in self.lonely:
            if mine:
                key = (mine[0].tid, mine[0].batch, mine[0].stan)
                if key not in hosts and mine[0].rrn in by_rrn:
                    key = by_rrn[mine[0].rrn or ""]
                pairs.append((mine, hosts.pop(key, [])))
        pairs += [([], rows) for rows in hosts.values()]
        self.lonely = []
        for mine, rows in pairs:
            found = classify(source, mine, rows, closed)
            self.diffs.extend(found)
            self.matched += not found


def _group(rows: Iterator[Row], first: Row, nxt: Row | None) -> tuple[list[Row], Row | None]:
    """``first`` and the rows after it of the same (batch, STAN); ``nxt`` is the row read
    after ``first``. Returns them and the first row of another key (None at the end)."""
    group = [first]
    batch, stan = first[1], first[2]
    while nxt is not None and nxt[2] == stan and nxt[1] == batch:
        group.append(nxt)
        nxt = next(rows, None)
    return group, nxt


class JournalByTid:
    """Journal rows (blocks sorted by their key, TID first) one terminal at a time: ask
    for the terminals in sorted order and read each one's rows to the end."""

    _KEY = itemgetter(JOURNAL_KEY)

    def __init__(self, blocks: Iterator[list[Row]]) -> None:
        self._blocks = blocks
        self._block: list[Row] = []
        self._at = 0

    def rows_of(self, tid: str) -> Iterator[Row]:
        return chain.from_iterable(self._pieces(tid))

    def _pieces(self, tid: str) -> Iterator[list[Row]]:
        # Every key of this TID starts with it (8 characters, checked when parsed), so
        # the TID followed by the highest character is above all of them.
        above = tid + "\U0010ffff"
        while True:
            if self._at >= len(self._block):
                block = next(self._blocks, None)
                if block is None:
                    return
                self._block, self._at = block, 0
            block, at = self._block, self._at
            if block[at][0] != tid:
                return
            self._at = end = bisect_right(block, above, at, key=self._KEY)
            yield block if at == 0 and end == len(block) else block[at:end]

    def done(self) -> bool:
        """Every row handed out."""
        return self._at >= len(self._block) and next(self._blocks, None) is None


# -- the generic merge --------------------------------------------------------------------


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


def merged(streams: Sequence[Iterable[Any]], key: Callable[[Any], Any]) -> Iterator[Any]:
    """One sorted stream of several (heapq.merge costs a lot per row: skip it for one)."""
    if not streams:
        return iter(())
    return iter(streams[0]) if len(streams) == 1 else heapq.merge(*streams, key=key)
