"""`RiskUndo`: what the counters held before an engine call changed them, to put back.

The host folds each answer into the counters while its group's transaction is still open
(a later request of the group must see it: velocity within a group), but the transaction
may not commit (a deadlock retried, a bug redone request by request, a failing disk).
The counters must then be as if the undone work never ran, exactly: the same values, the
same keys, the same LRU order (which decides what a full store forgets next).

So, while an engine call is given an undo log, every store records in it, right before
changing a key, the key's value (a copy), its touch stamp, and the key a full store is
about to forget for it. `undo_to(mark)` puts those back newest first and, where a key's
stamp moved, re-sorts the store by stamp (the stamps are the LRU order; an
`OrderedDict` cannot put a key back in the middle). Recording costs a copy of one small
counter per change; undoing is rare and costs O(keys) per store whose order moved.

`mark` / `undo_to` is the shape `kassa.store.Transaction.joined` expects: the log follows
the transaction and its savepoints.
"""

from __future__ import annotations

from typing import Any

from kassa.risk._counters import LruMap
from kassa.risk._state import RiskState

__all__ = ["RiskUndo", "StateUndo"]

# store, key, its value before (a copy; None: absent), its stamp, the key it evicts (or None)
_Entry = tuple[LruMap[Any], str, Any, int, tuple[str, Any, int] | None]


class RiskUndo:
    """The undo log of one engine over one unit of work (see the module)."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def __len__(self) -> int:
        return len(self._entries)

    def mark(self) -> int:
        """A point to come back to with `undo_to`."""
        return len(self._entries)

    def save(self, store: LruMap[Any], key: str) -> None:
        """Record `key` of `store` as it is now: call right before changing it."""
        data = store.data
        value = data.get(key)
        if value is not None:
            self._entries.append((store, key, value.copy(), store.stamps[key], None))
            return
        victim = None
        if len(data) >= store.keys_max:  # inserting `key` will forget the oldest key
            oldest = next(iter(data))
            victim = (oldest, data[oldest], store.stamps[oldest])  # no longer changed
        self._entries.append((store, key, None, 0, victim))

    def undo_to(self, mark: int) -> None:
        """Put the stores back as they were at `mark`, exactly; forget what came after."""
        entries, moved = self._entries, set()
        while len(entries) > mark:
            store, key, value, stamp, victim = entries.pop()
            data, stamps = store.data, store.stamps
            if value is None:
                if data.pop(key, None) is not None:
                    del stamps[key]
            else:
                data[key] = value
                if stamps.get(key) != stamp:
                    stamps[key] = stamp
                    moved.add(store)
            if victim is not None and victim[0] not in data:
                data[victim[0]], stamps[victim[0]] = victim[1], victim[2]
                store.evicted -= 1
                moved.add(store)
        for store in moved:
            _reorder(store)


def _reorder(store: LruMap[Any]) -> None:
    """Put `store.data` back in stamp order, in place (the rules hold the dict itself)."""
    stamps = store.stamps
    items = sorted(store.data.items(), key=lambda item: stamps[item[0]])
    store.data.clear()
    store.data.update(items)


class StateUndo:
    """A whole state's counters as they were when made (copies), put back at once by
    `undo_to(0)`: for replaying many observations at once (a restart's warm-up from the
    feed), where a `RiskUndo` would hold a copy per change. Costs O(keys) to make."""

    __slots__ = ("_saved",)

    def __init__(self, state: RiskState) -> None:
        self._saved = [
            (store, [(k, v.copy()) for k, v in store.data.items()], dict(store.stamps),
             store.evicted)
            for store in state.stores.values()
        ]  # fmt: skip

    def mark(self) -> int:
        return 1  # a savepoint opened later has nothing of its own to undo here

    def undo_to(self, mark: int) -> None:
        if mark > 0:
            return
        for store, items, stamps, evicted in self._saved:
            store.data.clear()
            store.data.update(items)
            store.stamps.clear()
            store.stamps.update(stamps)
            store.evicted = evicted
        self._saved = []  # given back: the copies now are the counters
