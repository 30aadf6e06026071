"""The risk counters shared through the database: across host nodes and across restarts.

The risk engine keeps its counters in memory (`kassa.risk`), so on its own each host
node sees only the authorisations it answered, and a restarted host starts from zero — a
card could then be spent past its velocity limits by spreading it over two nodes, or
across a restart. Every observation is therefore also appended to `risk_feed`, in the
same transaction as the answer it judged, and:

- at start-up a node replays the feed of the longest rule window (`warm`), so its
  counters are what they were (or what the other nodes made them);
- before each group (each distinct `now_ms`; the group committer gives one group one
  time) a node reads what the other nodes appended since it last looked (`catch_up`).

The feed's `id` order is not commit order (node A may commit id 7 after node B read id 8),
so ids skipped by a read are remembered as gaps and asked for again until they appear or
are older than `gap_expiry_ms` (a rolled-back group leaves a gap forever). What is still
uncommitted at another node is seen one group later: the counters lag by at most that.
Events arrive slightly out of time order; the windows tolerate it (an entry is pruned a
little late, never lost). Rows older than the longest window are deleted by `prune`.

Everything here follows the transaction it runs in: the observations folded in go into
the engine's undo log joined to it (`undo_log`; for `warm`, one copy of the counters as
they were), and the feed's own cursor (last id, gaps, last look, last prune) into one of
the feed's, so a transaction that rolls back (or is retried) leaves both as they were,
and the rows it read are read again by the next one.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from kassa.risk import RiskEngine, RiskEvent, RiskUndo, StateUndo
from kassa.store import Transaction

_DAY_MS = 86_400_000
_GAP_EXPIRY_MS = 60_000
_PRUNE_EVERY_MS = 60_000
_REPLAY_BATCH = 5_000


class RiskFeed:
    """One node's link between its in-memory risk engine and the shared `risk_feed`."""

    def __init__(self, engine: RiskEngine, node: str, *, share: bool = True) -> None:
        """`share` = False (one SQLite host) skips `catch_up`: there is no other node."""
        self.engine = engine
        self.node = node
        self.share = share
        self.keep_ms = max_window_ms(engine)
        self.last_id = 0
        self.gaps: dict[int, int] = {}  # id skipped by a read -> when it was first missed
        self._seen_ms: int | None = None
        self._pruned_ms = 0
        self.replayed = 0  # observations of other nodes (or of the past) folded in

    def warm(self, tx: Transaction, now_ms: int) -> int:
        """Replay the feed of the last `keep_ms` (everyone's, this node's past included);
        returns how many observations were folded in."""
        self._save_cursor(tx)
        # a day of the feed may be millions of rows: one copy of the counters as they were,
        # not one per change, is what a rolled-back warm-up gives back
        tx.joined((self, "warm"), partial(StateUndo, self.engine.state))
        before = self.replayed
        after_id = _first_id_since(tx, now_ms - self.keep_ms)
        while True:
            rows = tx.fetchall(
                "SELECT id, node, event, code FROM risk_feed WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, _REPLAY_BATCH),
            )
            for row in rows:
                self._fold(row, None)
            if len(rows) < _REPLAY_BATCH:
                break
            after_id = int(rows[-1][0])
        self.last_id = max(self.last_id, _max_id(tx))
        return self.replayed - before

    def publish(self, tx: Transaction, event: RiskEvent, code: str) -> None:
        """Append this node's observation (call it beside `engine.observe`). Written at the
        transaction's COMMIT with the group's others, in one statement."""
        row = (self.node, event.at_ms, _event_json(event), code)
        tx.append_deferred("risk_feed", row, _insert_rows)

    def catch_up(self, tx: Transaction, now_ms: int) -> int:
        """Fold in what the other nodes appended since the last look, once per `now_ms`;
        returns how many observations were folded in."""
        if not self.share or self._seen_ms == now_ms:
            return 0
        self._save_cursor(tx)
        self._seen_ms = now_ms
        before, undo = self.replayed, undo_log(self.engine, tx)
        rows = self._new_rows(tx)
        seen = {int(r[0]) for r in rows}
        for gap in [g for g in self.gaps if g in seen]:
            del self.gaps[gap]
        top = max(seen, default=self.last_id)
        for missing in range(self.last_id + 1, top):
            if missing not in seen:
                self.gaps[missing] = now_ms
        self.gaps = {g: t for g, t in self.gaps.items() if now_ms - t < _GAP_EXPIRY_MS}
        self.last_id = max(self.last_id, top)
        for row in rows:
            if row[1] != self.node:
                self._fold(row, undo)
        self.prune(tx, now_ms)
        return self.replayed - before

    def prune(self, tx: Transaction, now_ms: int) -> None:
        """Delete what no window reaches any more (at most once a minute)."""
        if now_ms - self._pruned_ms < _PRUNE_EVERY_MS:
            return
        self._save_cursor(tx)
        self._pruned_ms = now_ms
        tx.execute("DELETE FROM risk_feed WHERE at_ms < ?", (now_ms - self.keep_ms,))

    def _new_rows(self, tx: Transaction) -> list[Any]:
        gaps = sorted(self.gaps)[:500]
        marks = "".join(", ?" for _ in gaps)
        return tx.fetchall(
            "SELECT id, node, event, code FROM risk_feed"
            f" WHERE id > ? OR id IN (-1{marks}) ORDER BY id",
            (self.last_id, *gaps),
        )

    def _fold(self, row: Any, undo: RiskUndo | None) -> None:
        try:
            event = RiskEvent(**json.loads(row[2]))
        except (ValueError, TypeError):
            return  # a row this version cannot read is skipped, not fatal
        self.engine.observe(event, str(row[3]), undo)
        self.replayed += 1

    def _save_cursor(self, tx: Transaction) -> None:
        """Remember the cursor in the feed's undo log of `tx`: call before moving it."""
        tx.joined(self, partial(_CursorUndo, self)).save()


class _CursorUndo:
    """A feed's cursor as it was before each move in one transaction (`Transaction.joined`)."""

    __slots__ = ("feed", "saved")

    def __init__(self, feed: RiskFeed) -> None:
        self.feed = feed
        self.saved: list[tuple[int, dict[int, int], int | None, int, int]] = []

    def save(self) -> None:
        f = self.feed
        self.saved.append((f.last_id, dict(f.gaps), f._seen_ms, f._pruned_ms, f.replayed))

    def mark(self) -> int:
        return len(self.saved)

    def undo_to(self, mark: int) -> None:
        if len(self.saved) > mark:
            f = self.feed
            f.last_id, f.gaps, f._seen_ms, f._pruned_ms, f.replayed = self.saved[mark]
            del self.saved[mark:]


def undo_log(engine: RiskEngine, tx: Transaction) -> RiskUndo:
    """`engine`'s undo log for `tx`, joined to it on first use (`Transaction.joined`): what
    the engine changes while given it is taken back if `tx`, or a savepoint, rolls back."""
    return tx.joined(engine, RiskUndo)


def _insert_rows(tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
    tx.executemany("INSERT INTO risk_feed (node, at_ms, event, code) VALUES (?, ?, ?, ?)", rows)


def max_window_ms(engine: RiskEngine) -> int:
    """The longest window any rule looks back over (a day when none says)."""
    windows = [int(getattr(rule, "window_ms", 0)) for rule in engine.rules.rules]
    return max([w for w in windows if w > 0], default=_DAY_MS)


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _event_json(event: RiskEvent) -> str:
    return _JSON.encode(event.as_dict())  # not dataclasses.asdict: its deep copies cost


def _first_id_since(tx: Transaction, since_ms: int) -> int:
    row = tx.fetchone("SELECT MIN(id) FROM risk_feed WHERE at_ms >= ?", (since_ms,))
    return int(row[0]) - 1 if row and row[0] is not None else _max_id(tx)


def _max_id(tx: Transaction) -> int:
    row = tx.fetchone("SELECT MAX(id) FROM risk_feed")
    return int(row[0]) if row and row[0] is not None else 0
