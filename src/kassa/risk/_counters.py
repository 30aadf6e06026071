"""The rolling counters behind the rules: all integer, all bounded, O(1) per event.

- `Window`: the (time, amount) entries of a sliding window with their running total.
  It keeps at most `cap` entries (a rule passes its threshold as the cap): once that
  many are in the window the rule fires whatever else happened, so older ones are not
  needed. Pruning is amortised O(1): each entry is added once and dropped once.
- `Ewm`: exponentially weighted mean and variance of amounts (West 1979 / Finch 2009,
  "Incremental calculation of weighted mean and variance"), in fixed point: the mean in
  milli-fen (fen × 1000), the variance in milli-fen² (σ = √var / 1000 fen). The weight of
  the newest amount is max(alpha, 1/n), so the first amounts give a plain mean instead of
  a mean dragged toward zero.
- `Rate`: transactions per fixed window, the current and previous window's counts and
  an exponentially weighted long-run count per window in milli-counts (× 1000).
- `LruMap`: at most `keys_max` keys; touching a key makes it the newest, adding one more
  forgets the least recently touched. Memory per rule is therefore at most
  keys_max × (one counter), a `Window` holding at most `cap` entries.

Each counter can `copy()` itself and each key carries a touch stamp, so that `_undo` can
put a store back exactly (values, keys and LRU order) when a transaction rolls back.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from itertools import count
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from kassa.risk._undo import RiskUndo

__all__ = ["Ewm", "LruMap", "Rate", "Recorder", "Window"]

_V = TypeVar("_V")
_new = object.__new__
_MILLI = 1000
_IDLE_WINDOWS_MAX = 500
_SAMPLES_MAX = 1 << 31  # after this many empty windows the long-run count is ~0 anyway


class Window:
    """Sliding-window entries, oldest first, with their total in fen."""

    __slots__ = ("entries", "total_fen")

    def __init__(self) -> None:
        self.entries: deque[tuple[int, int]] = deque()
        self.total_fen = 0

    def prune(self, now_ms: int, window_ms: int) -> None:
        """Drop entries at or before now - window: the window is (now - window, now]."""
        cutoff = now_ms - window_ms
        entries = self.entries
        while entries and entries[0][0] <= cutoff:
            self.total_fen -= entries.popleft()[1]

    def add(self, at_ms: int, amount_fen: int, cap: int) -> None:
        """Append one entry, dropping the oldest beyond `cap`."""
        self.entries.append((at_ms, amount_fen))
        self.total_fen += amount_fen
        if len(self.entries) > cap:
            self.total_fen -= self.entries.popleft()[1]

    def copy(self) -> Window:
        window = _new(Window)  # no __init__: its empty deque would be thrown away
        window.entries, window.total_fen = self.entries.copy(), self.total_fen
        return window

    def __len__(self) -> int:
        return len(self.entries)


def _weight_permille(alpha_permille: int, n: int) -> int:
    """max(alpha, 1/n) in permille: the first n < 1/alpha samples average plainly."""
    return max(alpha_permille, _MILLI // n) if n > 0 else _MILLI


class Ewm:
    """Weighted mean (milli-fen) and variance (milli-fen²) of approved amounts."""

    __slots__ = ("mean_mf", "n", "var_mf2")

    def __init__(self, n: int = 0, mean_mf: int = 0, var_mf2: int = 0) -> None:
        self.n, self.mean_mf, self.var_mf2 = n, mean_mf, var_mf2

    def add(self, amount_fen: int, alpha_permille: int) -> None:
        """Fold one amount in; `n` counts samples, saturating at `_SAMPLES_MAX`."""
        weight = _weight_permille(alpha_permille, self.n + 1)
        diff = amount_fen * _MILLI - self.mean_mf
        increment = diff * weight // _MILLI
        self.mean_mf += increment
        self.var_mf2 = (_MILLI - weight) * (self.var_mf2 + diff * increment) // _MILLI
        self.n = min(self.n + 1, _SAMPLES_MAX)

    def above(self, amount_fen: int, sigma_x10: int) -> bool:
        """amount > mean + (sigma_x10/10)·σ, decided exactly on integers (no square root):
        d > k·σ with d > 0  ⇔  100·d² > sigma_x10²·var."""
        diff = amount_fen * _MILLI - self.mean_mf
        return diff > 0 and 100 * diff * diff > sigma_x10 * sigma_x10 * self.var_mf2

    def copy(self) -> Ewm:
        return Ewm(self.n, self.mean_mf, self.var_mf2)


class Rate:
    """Counts per fixed window (aligned on the epoch) and their long-run mean."""

    __slots__ = ("baseline_milli", "current", "previous", "start_ms", "windows")

    def __init__(
        self, start_ms: int, current: int = 0, previous: int = 0, baseline_milli: int = 0,
        windows: int = 0,
    ) -> None:  # fmt: skip
        self.start_ms, self.current, self.previous = start_ms, current, previous
        self.baseline_milli, self.windows = baseline_milli, windows

    def roll(self, now_ms: int, window_ms: int, alpha_permille: int) -> None:
        """Close every window that ended by `now_ms`, folding its count into the mean."""
        passed = (now_ms - self.start_ms) // window_ms
        if passed <= 0:
            return  # same window, or a clock a little behind: count it in the current one
        # the closing window's count, folded in (`_fold`, inline: this runs per window)
        windows = self.windows = self.windows + 1
        weight = max(alpha_permille, _MILLI // windows) if windows > 0 else _MILLI
        self.baseline_milli += (self.current * _MILLI - self.baseline_milli) * weight // _MILLI
        if passed > 1:
            self._idle(min(passed - 1, _IDLE_WINDOWS_MAX), alpha_permille)
        self.previous = self.current if passed == 1 else 0
        self.current = 0
        self.start_ms += passed * window_ms

    def _idle(self, idle: int, alpha_permille: int) -> None:
        """Fold `idle` empty windows in."""
        plain = min(idle, max(0, _MILLI // alpha_permille - self.windows))
        for _ in range(plain):  # idle windows still in the plain-mean warm-up
            self._fold(0, alpha_permille)
        rest = idle - plain
        if rest:  # closed form for the others: baseline × (1 - alpha)^rest
            keep = _MILLI - alpha_permille
            self.baseline_milli = self.baseline_milli * keep**rest // _MILLI**rest
            self.windows += rest

    def _fold(self, count_milli: int, alpha_permille: int) -> None:
        self.windows += 1
        weight = _weight_permille(alpha_permille, self.windows)
        self.baseline_milli += (count_milli - self.baseline_milli) * weight // _MILLI

    def estimate(self, now_ms: int, window_ms: int) -> int:
        """Transactions in the last `window_ms`: the current window's count plus the share
        of the previous window that still lies inside it (the two-bucket estimate)."""
        into = min(max(now_ms - self.start_ms, 0), window_ms)
        return self.current + self.previous * (window_ms - into) // window_ms

    def copy(self) -> Rate:
        return Rate(self.start_ms, self.current, self.previous, self.baseline_milli, self.windows)


class Recorder:
    """Where the stores of one state write down what a key held before they change it:
    `log` is the undo log of the engine call under way (None: nothing is recorded)."""

    __slots__ = ("log",)

    def __init__(self) -> None:
        self.log: RiskUndo | None = None


class LruMap(Generic[_V]):
    """A dict of at most `keys_max` keys that forgets the least recently touched.

    The rules work on `data` directly (their hot path): `data.get` reads without
    touching (evaluation), `touch` (inline: `data.move_to_end` and a new stamp) touches a
    present key (observation), and `insert` adds an absent one, forgetting the oldest
    beyond the bound. Values are never None, so `data.get(key) is None` means absent.
    `stamps` gives each key the `ticks` number of its last touch: `data` is in stamp
    order, which is what lets an undo put a key back where it was (`_undo`). Before
    changing a key the rules call `rec.log.save(store, key)` when `rec.log` is set.
    """

    __slots__ = ("data", "evicted", "keys_max", "rec", "stamps", "ticks")

    def __init__(self, keys_max: int, rec: Recorder | None = None) -> None:
        assert keys_max > 0
        self.data: OrderedDict[str, _V] = OrderedDict()
        self.stamps: dict[str, int] = {}
        self.ticks = count(1)
        self.keys_max = keys_max
        self.evicted = 0
        self.rec = rec if rec is not None else Recorder()

    def get(self, key: str) -> _V | None:
        """The value, without touching it (evaluation reads; observation touches)."""
        return self.data.get(key)

    def touch(self, key: str) -> None:
        """Make present `key` the most recently used."""
        self.data.move_to_end(key)
        self.stamps[key] = next(self.ticks)

    def insert(self, key: str, value: _V) -> None:
        """Add `key`, absent until now, as the most recently used."""
        data = self.data
        assert value is not None and key not in data
        data[key] = value
        self.stamps[key] = next(self.ticks)
        if len(data) > self.keys_max:
            del self.stamps[data.popitem(last=False)[0]]
            self.evicted += 1

    def put(self, key: str, value: _V) -> None:
        """Set `key` to `value`, now the most recently used (restoring a snapshot)."""
        self.data[key] = value
        self.touch(key)
        if len(self.data) > self.keys_max:
            del self.stamps[self.data.popitem(last=False)[0]]
            self.evicted += 1

    def items(self) -> Iterator[tuple[str, _V]]:
        """Oldest first, so a snapshot restores the same order."""
        return iter(self.data.items())

    def __len__(self) -> int:
        return len(self.data)
