"""Each rule type compiled into a check (judges an event before the issuer is asked,
reading its counters) and a feed (folds the answer in afterwards). Each is O(1): one dict
look-up and amortised O(1) window pruning (see `_counters`). The window rules live in
`_windowed`; here are the merchant outlier, off hours, refunds and terminal surge, and
`COMPILERS`, the table from rule type to compiler.
"""

from __future__ import annotations

from collections.abc import Callable
from math import isqrt
from typing import Any

from kassa.risk._compiled import MS_PER_S, Compiled, hhmm, judges, make_hit, touch, yuan
from kassa.risk._counters import Ewm, LruMap, Rate
from kassa.risk._model import APPROVAL_CODES, RiskEvent, RuleHit
from kassa.risk._rules import (
    AmountOutlierRule,
    CardTestingRule,
    OffHoursRule,
    RefundWithoutSaleRule,
    TerminalSurgeRule,
    VelocityRule,
    WrongPinsRule,
)
from kassa.risk._windowed import compile_card_testing, compile_velocity, compile_wrong_pins

__all__ = ["COMPILERS"]

_MILLI = 1000
_MS_PER_MINUTE = 60_000
_MINUTES_PER_DAY = 1440


# -- amount outlier ---------------------------------------------------------------------


def compile_outlier(rule: AmountOutlierRule, store: LruMap[Ewm]) -> Compiled:
    data, min_amount = store.data, rule.min_amount_fen
    min_samples, sigma_x10, alpha = rule.min_samples, rule.sigma_x10, rule.alpha_permille

    def check(event: RiskEvent) -> RuleHit | None:
        amount = event.amount_fen
        if amount < min_amount:
            return None
        stats = data.get(event.mid)
        if stats is None or stats.n < min_samples or not stats.above(amount, sigma_x10):
            return None
        return _outlier_hit(rule, stats, amount)

    def feed(event: RiskEvent) -> None:
        touch(store, event.mid, Ewm).add(event.amount_fen, alpha)

    def feeds_on(txn_type: str, code: str) -> bool:
        return code in APPROVAL_CODES and judges(rule, txn_type)

    return Compiled(check, feed, feeds_on)


def _outlier_hit(rule: AmountOutlierRule, stats: Ewm, amount: int) -> RuleHit:
    mean_fen, sigma_fen = stats.mean_mf // _MILLI, isqrt(stats.var_mf2) // _MILLI
    figures: dict[str, int | str] = {
        "amount_fen": amount, "mean_fen": mean_fen, "sigma_fen": sigma_fen,
        "sigma_x10": rule.sigma_x10, "samples": stats.n,
    }  # fmt: skip
    text = (
        f"amount {yuan(amount)} above mean {yuan(mean_fen)} + "
        f"{rule.sigma_x10 // 10}.{rule.sigma_x10 % 10}σ (σ {yuan(sigma_fen)}) for this merchant"
    )
    return make_hit(rule, figures, text)


# -- off hours, refunds (no state) ------------------------------------------------------


def compile_off_hours(rule: OffHoursRule, store: LruMap[Any]) -> Compiled:
    exempt, merchants, min_amount = rule.exempt_mccs, rule.merchants, rule.min_amount_fen
    usual = (rule.start_min, rule.end_min)

    def check(event: RiskEvent) -> RuleHit | None:
        if event.amount_fen < min_amount or event.mcc in exempt:
            return None
        span = merchants.get(event.mid, usual)
        if span is None:
            return None
        start, end = span
        # `RiskEvent.local_minute`, inline: integer minutes, no datetime
        minute = (event.at_ms // _MS_PER_MINUTE + event.utc_offset_min) % _MINUTES_PER_DAY
        if start <= end:
            if not start <= minute < end:
                return None
        elif end <= minute < start:
            return None
        local, first, last = hhmm(minute), hhmm(start), hhmm(end)
        figures: dict[str, int | str] = {"local_time": local, "start": first, "end": last}
        return make_hit(rule, figures, f"at {local} local, inside {first}-{last}")

    return Compiled(check)


def compile_refund(rule: RefundWithoutSaleRule, store: LruMap[Any]) -> Compiled:
    min_amount = rule.min_amount_fen

    def check(event: RiskEvent) -> RuleHit | None:
        if event.has_matching_sale is not False or event.amount_fen < min_amount:
            return None
        figures: dict[str, int | str] = {"amount_fen": event.amount_fen}
        return make_hit(rule, figures, f"refund of {yuan(event.amount_fen)} has no matching sale")

    return Compiled(check)


# -- terminal surge ---------------------------------------------------------------------


def compile_surge(rule: TerminalSurgeRule, store: LruMap[Rate]) -> Compiled:
    data, window_ms, alpha, rec = store.data, rule.window_ms, rule.alpha_permille, store.rec
    min_amount, min_windows, min_count = rule.min_amount_fen, rule.min_windows, rule.min_count
    factor_x10, stamps, ticks = rule.factor_x10, store.stamps, store.ticks

    def check(event: RiskEvent) -> RuleHit | None:
        rate = data.get(event.tid) if event.amount_fen >= min_amount else None
        if rate is None:
            return None
        at_ms = event.at_ms
        if at_ms - rate.start_ms >= window_ms:  # a window ended: `roll` has work to do
            if rec.log is not None:
                rec.log.save(store, event.tid)
            rate.roll(at_ms, window_ms, alpha)
        if rate.windows < min_windows:
            return None
        # `Rate.estimate`, inline, plus this transaction
        into = min(max(at_ms - rate.start_ms, 0), window_ms)
        count = rate.current + rate.previous * (window_ms - into) // window_ms + 1
        # count > factor × baseline, with factor in tenths and baseline in milli-counts
        if count < min_count or count * 10 * _MILLI <= factor_x10 * rate.baseline_milli:
            return None
        return _surge_hit(rule, rate, count)

    def feed(event: RiskEvent) -> None:
        at_ms, tid = event.at_ms, event.tid
        if rec.log is not None:
            rec.log.save(store, tid)
        rate = data.get(tid)
        if rate is None:  # a new rate starts in the current window: nothing to roll
            rate = Rate(at_ms - at_ms % window_ms)
            store.insert(tid, rate)
        else:  # `store.touch`, inline
            data.move_to_end(tid)
            stamps[tid] = next(ticks)
            if at_ms - rate.start_ms >= window_ms:
                rate.roll(at_ms, window_ms, alpha)
        rate.current += 1

    def feeds_on(txn_type: str, code: str) -> bool:
        return judges(rule, txn_type)

    return Compiled(check, feed, feeds_on)


def _surge_hit(rule: TerminalSurgeRule, rate: Rate, count: int) -> RuleHit:
    window_s = rule.window_ms // MS_PER_S
    figures: dict[str, int | str] = {
        "count": count, "baseline_milli": rate.baseline_milli, "factor_x10": rule.factor_x10,
        "min_count": rule.min_count, "window_s": window_s,
    }  # fmt: skip
    usual = f"{rate.baseline_milli // _MILLI}.{rate.baseline_milli % _MILLI // 100}"
    return make_hit(rule, figures, f"terminal at {count} in {window_s} s, usually {usual}")


COMPILERS: dict[type[Any], Callable[[Any, LruMap[Any]], Compiled]] = {
    VelocityRule: compile_velocity,
    AmountOutlierRule: compile_outlier,
    WrongPinsRule: compile_wrong_pins,
    CardTestingRule: compile_card_testing,
    OffHoursRule: compile_off_hours,
    RefundWithoutSaleRule: compile_refund,
    TerminalSurgeRule: compile_surge,
}
