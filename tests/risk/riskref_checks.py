"""A frozen copy of the rule checks as they were before the engine was tuned (commit
eafb28c, `kassa.risk._checks`), for `test_risk_equivalence.py`. Keep it plain."""

from __future__ import annotations

from collections.abc import Callable
from math import isqrt
from typing import Any

from riskref_counters import Ewm, LruMap, Rate, Window

from kassa.risk import (
    AmountOutlierRule,
    CardTestingRule,
    OffHoursRule,
    RefundWithoutSaleRule,
    RiskEvent,
    RuleHit,
    TerminalSurgeRule,
    VelocityRule,
    WrongPinsRule,
)

__all__ = ["CHECKS", "Check", "Feed"]

Check = Callable[[Any, LruMap[Any], RiskEvent], RuleHit | None]
Feed = Callable[[Any, LruMap[Any], RiskEvent, str, bool], None]
_MS_PER_S = 1000
_MILLI = 1000


def _hit(rule: Any, figures: dict[str, int | str], message: str) -> RuleHit:
    return RuleHit(rule.rule_id, rule.action, figures, message, rule.code)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _window(store: LruMap[Window], key: str | None, now_ms: int, window_ms: int) -> Window | None:
    window = store.get(key) if key is not None else None
    if window is not None:
        window.prune(now_ms, window_ms)
    return window


# -- velocity ---------------------------------------------------------------------------


def _velocity_key(rule: VelocityRule, event: RiskEvent) -> str | None:
    return event.card_ref if rule.key == "card" else event.tid


def check_velocity(rule: VelocityRule, store: LruMap[Window], event: RiskEvent) -> RuleHit | None:
    if not rule.applies(event.txn_type, event.amount_fen):
        return None
    key = _velocity_key(rule, event)
    if key is None:
        return None
    window = _window(store, key, event.at_ms, rule.window_ms)
    count = (len(window) if window else 0) + 1  # this transaction included
    total = (window.total_fen if window else 0) + event.amount_fen
    over_amount = rule.max_amount_fen is not None and total > rule.max_amount_fen
    if count <= rule.max_count and not over_amount:
        return None
    figures: dict[str, int | str] = {
        "key": rule.key, "count": count, "max_count": rule.max_count,
        "amount_fen": total, "window_s": rule.window_ms // _MS_PER_S,
    }  # fmt: skip
    limit = f"max {rule.max_count}"
    if rule.max_amount_fen is not None:
        figures["max_amount_fen"] = rule.max_amount_fen
        limit += f" / {_yuan(rule.max_amount_fen)}"
    text = (
        f"{rule.key} at {count} transactions, {_yuan(total)} in {figures['window_s']} s ({limit})"
    )
    return _hit(rule, figures, text)


def feed_velocity(
    rule: VelocityRule, store: LruMap[Window], event: RiskEvent, code: str, approved: bool
) -> None:
    key = _velocity_key(rule, event)
    counts = rule.count == "attempts" or approved
    if key is None or not counts or not rule.applies(event.txn_type, event.amount_fen):
        return
    window = store.touch(key, Window)
    window.prune(event.at_ms, rule.window_ms)
    window.add(event.at_ms, event.amount_fen, rule.max_count)


# -- amount outlier ---------------------------------------------------------------------


def check_outlier(rule: AmountOutlierRule, store: LruMap[Ewm], event: RiskEvent) -> RuleHit | None:
    if not rule.applies(event.txn_type, event.amount_fen):
        return None
    stats = store.get(event.mid)
    if (
        stats is None
        or stats.n < rule.min_samples
        or not stats.above(event.amount_fen, rule.sigma_x10)
    ):
        return None
    mean_fen, sigma_fen = stats.mean_mf // _MILLI, isqrt(stats.var_mf2) // _MILLI
    figures: dict[str, int | str] = {
        "amount_fen": event.amount_fen, "mean_fen": mean_fen, "sigma_fen": sigma_fen,
        "sigma_x10": rule.sigma_x10, "samples": stats.n,
    }  # fmt: skip
    text = (
        f"amount {_yuan(event.amount_fen)} above mean {_yuan(mean_fen)} + "
        f"{rule.sigma_x10 // 10}.{rule.sigma_x10 % 10}σ (σ {_yuan(sigma_fen)}) for this merchant"
    )
    return _hit(rule, figures, text)


def feed_outlier(
    rule: AmountOutlierRule, store: LruMap[Ewm], event: RiskEvent, code: str, approved: bool
) -> None:
    if approved and rule.counts_type(event.txn_type):
        store.touch(event.mid, Ewm).add(event.amount_fen, rule.alpha_permille)


# -- wrong PINs -------------------------------------------------------------------------


def check_wrong_pins(
    rule: WrongPinsRule, store: LruMap[Window], event: RiskEvent
) -> RuleHit | None:
    if not rule.applies(event.txn_type, event.amount_fen):
        return None
    window = _window(store, event.card_ref, event.at_ms, rule.window_ms)
    count = len(window) if window else 0
    if count < rule.min_wrong_pins:
        return None
    window_s = rule.window_ms // _MS_PER_S
    figures: dict[str, int | str] = {
        "wrong_pins": count, "min_wrong_pins": rule.min_wrong_pins, "window_s": window_s,
    }  # fmt: skip
    return _hit(rule, figures, f"card had {count} wrong PINs in {window_s} s")


def feed_wrong_pins(
    rule: WrongPinsRule, store: LruMap[Window], event: RiskEvent, code: str, approved: bool
) -> None:
    if event.card_ref is None or code not in rule.codes:
        return
    if rule.counts_type(event.txn_type):
        window = store.touch(event.card_ref, Window)
        window.prune(event.at_ms, rule.window_ms)
        window.add(event.at_ms, 0, rule.min_wrong_pins)


# -- card testing -----------------------------------------------------------------------


def check_card_testing(
    rule: CardTestingRule, store: LruMap[Window], event: RiskEvent
) -> RuleHit | None:
    if not rule.applies(event.txn_type, event.amount_fen):
        return None
    if rule.small_only and event.amount_fen > rule.small_amount_fen:
        return None
    window = _window(store, event.tid, event.at_ms, rule.window_ms)
    count = len(window) if window else 0
    if count < rule.min_declines:
        return None
    window_s = rule.window_ms // _MS_PER_S
    figures: dict[str, int | str] = {
        "small_declines": count, "min_declines": rule.min_declines,
        "small_amount_fen": rule.small_amount_fen, "window_s": window_s,
    }  # fmt: skip
    text = (
        f"terminal had {count} declines of at most {_yuan(rule.small_amount_fen)} in {window_s} s"
    )
    return _hit(rule, figures, text)


def feed_card_testing(
    rule: CardTestingRule, store: LruMap[Window], event: RiskEvent, code: str, approved: bool
) -> None:
    small = event.amount_fen <= rule.small_amount_fen
    if small and code in rule.codes and rule.counts_type(event.txn_type):
        window = store.touch(event.tid, Window)
        window.prune(event.at_ms, rule.window_ms)
        window.add(event.at_ms, event.amount_fen, rule.min_declines)


# -- off hours, refunds (no state) ------------------------------------------------------


def check_off_hours(rule: OffHoursRule, store: LruMap[Any], event: RiskEvent) -> RuleHit | None:
    if not rule.applies(event.txn_type, event.amount_fen) or event.mcc in rule.exempt_mccs:
        return None
    span = rule.span_for(event.mid)
    if span is None:
        return None
    start, end = span
    minute = (event.at_ms // 60_000 + event.utc_offset_min) % 1440
    inside = start <= minute < end if start <= end else (minute >= start or minute < end)
    if not inside:
        return None
    figures: dict[str, int | str] = {
        "local_time": _hhmm(minute), "start": _hhmm(start), "end": _hhmm(end),
    }  # fmt: skip
    return _hit(rule, figures, f"at {_hhmm(minute)} local, inside {_hhmm(start)}-{_hhmm(end)}")


def check_refund(
    rule: RefundWithoutSaleRule, store: LruMap[Any], event: RiskEvent
) -> RuleHit | None:
    if event.has_matching_sale is not False or not rule.applies(event.txn_type, event.amount_fen):
        return None
    figures: dict[str, int | str] = {"amount_fen": event.amount_fen}
    return _hit(rule, figures, f"refund of {_yuan(event.amount_fen)} has no matching sale")


def _feed_nothing(rule: Any, store: LruMap[Any], event: RiskEvent, code: str, ok: bool) -> None:
    return None


# -- terminal surge ---------------------------------------------------------------------


def check_surge(rule: TerminalSurgeRule, store: LruMap[Rate], event: RiskEvent) -> RuleHit | None:
    rate = store.get(event.tid) if rule.applies(event.txn_type, event.amount_fen) else None
    if rate is None:
        return None
    rate.roll(event.at_ms, rule.window_ms, rule.alpha_permille)
    if rate.windows < rule.min_windows:
        return None
    count = rate.estimate(event.at_ms, rule.window_ms) + 1  # this transaction included
    # count > factor × baseline, with factor in tenths and baseline in milli-counts
    if count < rule.min_count or count * 10 * _MILLI <= rule.factor_x10 * rate.baseline_milli:
        return None
    window_s = rule.window_ms // _MS_PER_S
    figures: dict[str, int | str] = {
        "count": count, "baseline_milli": rate.baseline_milli, "factor_x10": rule.factor_x10,
        "min_count": rule.min_count, "window_s": window_s,
    }  # fmt: skip
    usual = f"{rate.baseline_milli // _MILLI}.{rate.baseline_milli % _MILLI // 100}"
    return _hit(rule, figures, f"terminal at {count} in {window_s} s, usually {usual}")


def feed_surge(
    rule: TerminalSurgeRule, store: LruMap[Rate], event: RiskEvent, code: str, approved: bool
) -> None:
    if not rule.counts_type(event.txn_type):
        return
    start = event.at_ms - event.at_ms % rule.window_ms
    rate = store.touch(event.tid, lambda: Rate(start))
    rate.roll(event.at_ms, rule.window_ms, rule.alpha_permille)
    rate.current += 1


CHECKS: dict[type[Any], tuple[Check, Feed]] = {
    VelocityRule: (check_velocity, feed_velocity),
    AmountOutlierRule: (check_outlier, feed_outlier),
    WrongPinsRule: (check_wrong_pins, feed_wrong_pins),
    CardTestingRule: (check_card_testing, feed_card_testing),
    OffHoursRule: (check_off_hours, _feed_nothing),
    RefundWithoutSaleRule: (check_refund, _feed_nothing),
    TerminalSurgeRule: (check_surge, feed_surge),
}
