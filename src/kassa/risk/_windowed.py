"""The sliding-window rules, compiled: velocity (per card or terminal), wrong PINs (per
card), card testing (per terminal). Each check reads its window (dropping entries that
left it), each feed touches, prunes and appends; both O(1) amortised (see `_counters`).

Same decisions and counters as the plain form (`RuleCommon.applies` then `Window.prune`
/ `Window.add` through `LruMap`), which `tests/risk/test_risk_equivalence.py` checks
against a frozen copy of it.
"""

from __future__ import annotations

from collections.abc import Callable

from kassa.risk._compiled import (
    MS_PER_S,
    Compiled,
    judges,
    make_hit,
    prune_and_add,
    touch,
    yuan,
)
from kassa.risk._counters import LruMap, Window
from kassa.risk._model import APPROVAL_CODES, RiskEvent, RuleHit
from kassa.risk._rules import CardTestingRule, VelocityRule, WrongPinsRule

__all__ = ["compile_card_testing", "compile_velocity", "compile_wrong_pins"]


def _read(store: LruMap[Window], key: str, window: Window, at_ms: int, window_ms: int) -> int:
    """Entries left in `window` at `at_ms` (pruning it, as `Window.prune` does)."""
    entries = window.entries
    if entries and entries[0][0] <= at_ms - window_ms:
        _prune(store, key, window, at_ms, window_ms)
    return len(entries)


def _prune(store: LruMap[Window], key: str, window: Window, at_ms: int, window_ms: int) -> None:
    """A check's `Window.prune`, saved first in the undo log of the call under way if any."""
    log = store.rec.log
    if log is not None:
        log.save(store, key)
    window.prune(at_ms, window_ms)


# -- velocity ---------------------------------------------------------------------------


def compile_velocity(rule: VelocityRule, store: LruMap[Window]) -> Compiled:
    data, by_card, window_ms = store.data, rule.key == "card", rule.window_ms
    rec, stamps, ticks = store.rec, store.stamps, store.ticks
    max_count, max_amount, min_amount = rule.max_count, rule.max_amount_fen, rule.min_amount_fen
    hit = _velocity_hit(rule)

    def check(event: RiskEvent) -> RuleHit | None:
        amount = event.amount_fen
        if amount < min_amount:
            return None
        key = event.card_ref if by_card else event.tid
        if key is None:
            return None
        window = data.get(key)
        if window is None:
            count, total = 1, amount  # this transaction included
        else:
            entries = window.entries
            if entries and entries[0][0] <= event.at_ms - window_ms:
                _prune(store, key, window, event.at_ms, window_ms)
            count, total = len(entries) + 1, window.total_fen + amount
        if count <= max_count and (max_amount is None or total <= max_amount):
            return None
        return hit(count, total)

    def feed(event: RiskEvent) -> None:
        amount = event.amount_fen
        key = event.card_ref if by_card else event.tid
        if key is None or amount < min_amount:
            return
        log = rec.log
        if log is not None:
            log.save(store, key)
        window = data.get(key)
        if window is None:
            window = Window()
            store.insert(key, window)
        else:  # `store.touch`, inline
            data.move_to_end(key)
            stamps[key] = next(ticks)
        # `Window.prune` then `Window.add`, inline: this is the busiest feed
        at_ms, entries = event.at_ms, window.entries
        if entries and entries[0][0] <= at_ms - window_ms:
            window.prune(at_ms, window_ms)
        entries.append((at_ms, amount))
        window.total_fen += amount
        if len(entries) > max_count:
            window.total_fen -= entries.popleft()[1]

    every_answer = rule.count == "attempts"

    def feeds_on(txn_type: str, code: str) -> bool:
        return judges(rule, txn_type) and (every_answer or code in APPROVAL_CODES)

    return Compiled(check, feed, feeds_on)


def _velocity_hit(rule: VelocityRule) -> Callable[[int, int], RuleHit]:
    """The hit maker of a velocity rule, its constant figures and words made once."""
    key, max_count, max_amount = rule.key, rule.max_count, rule.max_amount_fen
    window_s = rule.window_ms // MS_PER_S
    limit = f"max {max_count}" + (f" / {yuan(max_amount)}" if max_amount is not None else "")
    tail = f" in {window_s} s ({limit})"

    def hit(count: int, total: int) -> RuleHit:
        figures: dict[str, int | str] = {
            "key": key, "count": count, "max_count": max_count, "amount_fen": total,
            "window_s": window_s,
        }  # fmt: skip
        if max_amount is not None:
            figures["max_amount_fen"] = max_amount
        text = f"{key} at {count} transactions, {yuan(total)}{tail}"
        return RuleHit(rule.rule_id, rule.action, figures, text, rule.code)

    return hit


# -- wrong PINs -------------------------------------------------------------------------


def compile_wrong_pins(rule: WrongPinsRule, store: LruMap[Window]) -> Compiled:
    data, window_ms, least = store.data, rule.window_ms, rule.min_wrong_pins
    min_amount = rule.min_amount_fen

    def check(event: RiskEvent) -> RuleHit | None:
        if event.amount_fen < min_amount:
            return None
        ref, count = event.card_ref, 0
        if ref is not None and (window := data.get(ref)) is not None:
            count = _read(store, ref, window, event.at_ms, window_ms)
        if count < least:
            return None
        window_s = window_ms // MS_PER_S
        figures: dict[str, int | str] = {
            "wrong_pins": count, "min_wrong_pins": least, "window_s": window_s,
        }  # fmt: skip
        return make_hit(rule, figures, f"card had {count} wrong PINs in {window_s} s")

    def feed(event: RiskEvent) -> None:
        ref = event.card_ref
        if ref is not None:
            window = touch(store, ref, Window)
            prune_and_add(window, event.at_ms, window_ms, 0, least)

    def feeds_on(txn_type: str, code: str) -> bool:
        return code in rule.codes and judges(rule, txn_type)

    return Compiled(check, feed, feeds_on)


# -- card testing -----------------------------------------------------------------------


def compile_card_testing(rule: CardTestingRule, store: LruMap[Window]) -> Compiled:
    data, window_ms, least = store.data, rule.window_ms, rule.min_declines
    min_amount, small, small_only = rule.min_amount_fen, rule.small_amount_fen, rule.small_only

    def check(event: RiskEvent) -> RuleHit | None:
        amount = event.amount_fen
        if amount < min_amount or (small_only and amount > small):
            return None
        tid = event.tid
        window = data.get(tid)
        count = 0 if window is None else _read(store, tid, window, event.at_ms, window_ms)
        if count < least:
            return None
        return _testing_hit(rule, count)

    def feed(event: RiskEvent) -> None:
        if event.amount_fen <= small:
            window = touch(store, event.tid, Window)
            prune_and_add(window, event.at_ms, window_ms, event.amount_fen, least)

    def feeds_on(txn_type: str, code: str) -> bool:
        return code in rule.codes and judges(rule, txn_type)

    return Compiled(check, feed, feeds_on)


def _testing_hit(rule: CardTestingRule, count: int) -> RuleHit:
    window_s = rule.window_ms // MS_PER_S
    figures: dict[str, int | str] = {
        "small_declines": count, "min_declines": rule.min_declines,
        "small_amount_fen": rule.small_amount_fen, "window_s": window_s,
    }  # fmt: skip
    text = f"terminal had {count} declines of at most {yuan(rule.small_amount_fen)} in {window_s} s"
    return make_hit(rule, figures, text)
