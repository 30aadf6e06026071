"""A rule compiled for the hot path: its check and feed as closures over its constants
and its store's dict, plus what it needs to know once per transaction type and answer.

The engine calls a check only for the transaction types the rule judges, and a feed only
for the (type, response code) pairs that can fill its counters (`feeds_on`), so neither
re-tests those per event; what depends on the event itself (amount, key present, the
window's contents) they test every time. A hit is built only when the rule fires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kassa.risk._counters import LruMap, Window
from kassa.risk._model import RiskEvent, RuleHit

__all__ = [
    "MS_PER_S",
    "Check",
    "Compiled",
    "Feed",
    "hhmm",
    "judges",
    "make_hit",
    "prune_and_add",
    "touch",
    "yuan",
]

Check = Callable[[RiskEvent], RuleHit | None]
Feed = Callable[[RiskEvent], None]
MS_PER_S = 1000


@dataclass(frozen=True, slots=True)
class Compiled:
    """`check(event)` judges an event of a type the rule judges (see `judges`);
    `feed(event)` folds an answer in, called only when `feeds_on(txn_type, code)`;
    `feed` is None for rules without counters."""

    check: Check
    feed: Feed | None = None
    feeds_on: Callable[[str, str], bool] = lambda txn_type, code: False


def judges(rule: Any, txn_type: str) -> bool:
    """The type half of `RuleCommon.applies`/`counts_type` (the amount half is per event)."""
    types: frozenset[str] | None = rule.txn_types
    return types is None or txn_type in types


def make_hit(rule: Any, figures: dict[str, int | str], message: str) -> RuleHit:
    return RuleHit(rule.rule_id, rule.action, figures, message, rule.code)


def touch(store: LruMap[Any], key: str, make: Callable[[], Any]) -> Any:
    """The value for `key`, made if absent, now the most recently used, saved first in the
    undo log of the call under way if any (the slow path of a feed's inline touch, kept
    here for the feeds that are not on the hot path). Change the value right after."""
    log = store.rec.log
    if log is not None:
        log.save(store, key)
    value = store.data.get(key)
    if value is None:
        value = make()
        store.insert(key, value)
    else:  # `store.touch`, inline
        store.data.move_to_end(key)
        store.stamps[key] = next(store.ticks)
    return value


def prune_and_add(window: Window, at_ms: int, window_ms: int, fen: int, cap: int) -> None:
    """`Window.prune` then `Window.add`, inlined (one call instead of two per feed)."""
    entries = window.entries
    cutoff = at_ms - window_ms
    while entries and entries[0][0] <= cutoff:
        window.total_fen -= entries.popleft()[1]
    entries.append((at_ms, fen))
    window.total_fen += fen
    if len(entries) > cap:
        window.total_fen -= entries.popleft()[1]


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def hhmm(minute: int) -> str:
    """ "HH:MM" of a minute of the day (the 1,440 of them made once)."""
    if 0 <= minute < _MINUTES_PER_DAY:
        return _HHMM[minute]
    return f"{minute // 60:02d}:{minute % 60:02d}"  # a span of a rule built in code


_MINUTES_PER_DAY = 1440
_HHMM = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(_MINUTES_PER_DAY))
