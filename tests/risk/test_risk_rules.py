"""Each rule fires exactly at its threshold and not one step below."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.risk import Action, RiskEngine, RiskEvent, load_rules

T0_MS = 1_772_380_800_000  # 2026-03-02 00:00 in Beijing (UTC+8)
HOUR_MS = 3_600_000


def ev(at_ms: int, **kw: object) -> RiskEvent:
    fields: dict[str, object] = {
        "tid": "10000001", "mid": "898310048990001", "card_ref": "card-a",
        "txn_type": "sale", "amount_fen": 10_000, "mcc": "5411",
    }  # fmt: skip
    fields.update(kw)
    return RiskEvent(at_ms=at_ms, **fields)  # type: ignore[arg-type]


def engine(toml: str) -> RiskEngine:
    return RiskEngine(load_rules(toml))


def fired(e: RiskEngine, event: RiskEvent, rule_id: str = "r") -> bool:
    return any(hit.rule_id == rule_id for hit in e.evaluate(event).hits)


# -- velocity ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    max_count=st.integers(1, 30),
    window_s=st.integers(1, 7200),
    key=st.sampled_from(["card", "terminal"]),
)
def test_velocity_fires_on_the_transaction_after_max_count(
    max_count: int, window_s: int, key: str
) -> None:
    e = engine(
        f'[rules.r]\ntype="velocity"\nkey="{key}"\nwindow_s={window_s}\nmax_count={max_count}\naction="hold"'
    )
    window_ms = window_s * 1000
    step = window_ms // (max_count + 1) or 1
    for n in range(max_count):
        event = ev(T0_MS + n * step)
        assert not fired(e, event), f"fired on transaction {n + 1} of at most {max_count}"
        e.observe(event, "00")
    last = ev(T0_MS + max_count * step)
    assert last.at_ms - T0_MS < window_ms
    decision = e.evaluate(last)
    assert decision.action is Action.HOLD
    assert decision.hits[0].figures["count"] == max_count + 1


def test_velocity_window_is_half_open() -> None:
    """An entry counts for window_ms - 1 more milliseconds and is gone at window_ms."""
    e = engine('[rules.r]\ntype="velocity"\nkey="card"\nwindow_s=60\nmax_count=1\naction="alert"')
    e.observe(ev(T0_MS), "00")
    assert fired(e, ev(T0_MS + 59_999))
    assert not fired(e, ev(T0_MS + 60_000))


def test_velocity_amount_limit_is_inclusive() -> None:
    e = engine(
        '[rules.r]\ntype="velocity"\nkey="card"\nwindow_s=600\nmax_count=99\n'
        'max_amount="300.00"\naction="decline"\ncode="34"'
    )
    e.observe(ev(T0_MS, amount_fen=20_000), "00")
    assert not fired(e, ev(T0_MS + 1, amount_fen=10_000))  # 300.00 in total: allowed
    decision = e.evaluate(ev(T0_MS + 1, amount_fen=10_001))
    assert (decision.action, decision.response_code) == (Action.DECLINE, "34")
    assert decision.hits[0].figures["amount_fen"] == 30_001


def test_velocity_counts_keys_apart_and_approvals_only_when_asked() -> None:
    e = engine(
        '[rules.r]\ntype="velocity"\nkey="card"\nwindow_s=600\nmax_count=1\n'
        'count="approved"\naction="alert"'
    )
    e.observe(ev(T0_MS), "51")  # declined: not counted
    assert not fired(e, ev(T0_MS + 1))
    e.observe(ev(T0_MS + 1), "00")
    assert fired(e, ev(T0_MS + 2))
    assert not fired(e, ev(T0_MS + 2, card_ref="card-b"))
    assert not fired(e, ev(T0_MS + 2, txn_type="void"))  # not a default velocity type


def test_velocity_min_amount_filters_both_counting_and_judging() -> None:
    e = engine(
        '[rules.r]\ntype="velocity"\nkey="card"\nwindow_s=600\nmax_count=1\n'
        'min_amount="100.00"\naction="alert"'
    )
    e.observe(ev(T0_MS, amount_fen=9_999), "00")
    assert not fired(e, ev(T0_MS + 1, amount_fen=10_000))
    e.observe(ev(T0_MS + 1, amount_fen=10_000), "00")
    assert not fired(e, ev(T0_MS + 2, amount_fen=9_999))
    assert fired(e, ev(T0_MS + 2, amount_fen=10_000))


# -- wrong PINs, card testing -----------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12))
def test_wrong_pins_fire_at_the_nth_wrong_pin(n: int) -> None:
    e = engine(f'[rules.r]\ntype="wrong_pins"\nwindow_s=3600\nmin_wrong_pins={n}\naction="decline"')
    for i in range(n):
        assert not fired(e, ev(T0_MS + i * 1000))
        e.observe(ev(T0_MS + i * 1000), "75" if i % 2 else "55")
        e.observe(ev(T0_MS + i * 1000), "51")  # other declines do not count
    decision = e.evaluate(ev(T0_MS + n * 1000))
    assert (decision.action, decision.response_code) == (Action.DECLINE, "59")
    assert decision.hits[0].figures["wrong_pins"] == n
    assert not fired(e, ev(T0_MS + n * 1000, card_ref="card-b"))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 15))
def test_card_testing_fires_at_n_small_declines(n: int) -> None:
    e = engine(
        f'[rules.r]\ntype="card_testing"\nwindow_s=900\nmin_declines={n}\n'
        'small_amount="20.00"\naction="decline"'
    )
    for i in range(n):
        at = T0_MS + i * 1000
        assert not fired(e, ev(at, card_ref=f"c{i}", amount_fen=500))
        e.observe(ev(at, card_ref=f"c{i}", amount_fen=2_000), "14")
        e.observe(ev(at, card_ref=f"x{i}", amount_fen=2_001), "14")  # not small
        e.observe(ev(at, card_ref=f"y{i}", amount_fen=100), "00")  # approved
    at = T0_MS + n * 1000
    assert fired(e, ev(at, card_ref="new", amount_fen=2_000))
    assert not fired(e, ev(at, card_ref="new", amount_fen=2_001))  # small_only
    assert not fired(e, ev(at, tid="10000002", amount_fen=100))


# -- amount outlier ---------------------------------------------------------------------


OUTLIER = '[rules.r]\ntype="amount_outlier"\nsigma_x10=30\nmin_samples=5\naction="alert"'


def test_outlier_needs_min_samples_and_only_approved_amounts() -> None:
    e = engine(OUTLIER)
    for i in range(4):
        e.observe(ev(T0_MS + i, amount_fen=10_000), "00")
        e.observe(ev(T0_MS + i, amount_fen=10**9), "51")  # declined: not learnt
    assert not fired(e, ev(T0_MS + 10, amount_fen=10**8))  # 4 samples < 5
    e.observe(ev(T0_MS + 5, amount_fen=10_000), "00")
    assert not fired(e, ev(T0_MS + 10, amount_fen=10_000))
    assert fired(e, ev(T0_MS + 10, amount_fen=10_001))  # σ = 0: anything above the mean
    assert not fired(e, ev(T0_MS + 10, mid="other", amount_fen=10**8))


def test_outlier_threshold_is_mean_plus_k_sigma_exactly() -> None:
    """With mean 10,000.000 fen and σ 1,000.000 fen set directly and k = 3.0, the line is
    13,000 fen: at it nothing fires, one fen above it does."""
    e = engine(OUTLIER)
    e.observe(ev(T0_MS, amount_fen=1), "00")
    stats = e.state.stores["r"].get("898310048990001")
    assert stats is not None
    stats.n, stats.mean_mf, stats.var_mf2 = 100, 10_000 * 1000, (1_000 * 1000) ** 2
    assert not fired(e, ev(T0_MS + 1, amount_fen=13_000))
    decision = e.evaluate(ev(T0_MS + 1, amount_fen=13_001))
    assert decision.hits[0].figures == {
        "amount_fen": 13_001, "mean_fen": 10_000, "sigma_fen": 1_000, "sigma_x10": 30,
        "samples": 100,
    }  # fmt: skip


# -- off hours, refunds -----------------------------------------------------------------

OFF = (
    '[rules.r]\ntype="off_hours"\nstart="23:00"\nend="06:00"\nexempt_mccs=["7011"]\n'
    'action="alert"\n[rules.r.merchants]\n"M-LATE"="01:00-05:00"\n"M-24H"="none"\n'
    '"M-DAY"="09:00-17:00"'
)


def at_local(hh: int, mm: int) -> int:
    return T0_MS + (hh * 60 + mm) * 60_000


def test_off_hours_boundaries_wrap_midnight() -> None:
    e = engine(OFF)
    inside = [(23, 0), (23, 59), (0, 0), (5, 59)]
    outside = [(22, 59), (6, 0), (12, 0)]
    assert all(fired(e, ev(at_local(h, m))) for h, m in inside)
    assert not any(fired(e, ev(at_local(h, m))) for h, m in outside)
    assert not fired(e, ev(at_local(23, 30), mcc="7011"))
    hit = e.evaluate(ev(at_local(23, 5))).hits[0]
    assert hit.figures == {"local_time": "23:05", "start": "23:00", "end": "06:00"}


def test_off_hours_per_merchant_and_utc_offset() -> None:
    e = engine(OFF)
    assert not fired(e, ev(at_local(0, 30), mid="M-LATE"))
    assert fired(e, ev(at_local(1, 0), mid="M-LATE"))
    assert not fired(e, ev(at_local(3, 0), mid="M-24H"))
    assert fired(e, ev(at_local(9, 0), mid="M-DAY"))  # a span that does not wrap
    assert not fired(e, ev(at_local(17, 0), mid="M-DAY"))
    # 23:30 in Beijing is 16:30 in London (UTC+0): not off hours there
    assert not fired(e, ev(at_local(23, 30), utc_offset_min=0))


def test_refund_without_matching_sale() -> None:
    e = engine('[rules.r]\ntype="refund_without_sale"\naction="hold"\nmin_amount="1.00"')
    assert fired(e, ev(T0_MS, txn_type="refund", has_matching_sale=False, amount_fen=100))
    assert not fired(e, ev(T0_MS, txn_type="refund", has_matching_sale=False, amount_fen=99))
    assert not fired(e, ev(T0_MS, txn_type="refund", has_matching_sale=True))
    assert not fired(e, ev(T0_MS, txn_type="refund", has_matching_sale=None))
    assert not fired(e, ev(T0_MS, txn_type="sale", has_matching_sale=False))


# -- terminal surge ---------------------------------------------------------------------

SURGE = (
    '[rules.r]\ntype="terminal_surge"\nwindow_s=600\nfactor_x10=30\nmin_count=5\n'
    'alpha_permille=100\nmin_windows={}\naction="alert"'
)


def _steady(e: RiskEngine, windows: int, per_window: int) -> int:
    """`per_window` transactions in each of `windows` windows; returns the next window."""
    start = T0_MS - T0_MS % 600_000
    for w in range(windows):
        for i in range(per_window):
            e.observe(ev(start + w * 600_000 + i * 1000), "00")
    return start + windows * 600_000


@settings(max_examples=20, deadline=None)
@given(per_window=st.integers(1, 6))
def test_surge_fires_above_factor_times_the_usual_count(per_window: int) -> None:
    """Steady `per_window`, so the long-run count is exactly that; factor 3.0. Halfway
    through a new window half of the previous window still counts."""
    e = engine(SURGE.format(3))
    middle = _steady(e, 3, per_window) + 300_000
    share = per_window * 300_000 // 600_000
    limit = max(5, 3 * per_window + 1)  # count > 3 × usual, and at least min_count
    for n in range(limit - share - 1):  # events so far in the new window
        assert not fired(e, ev(middle)), (n, limit)
        e.observe(ev(middle), "00")
    hit = e.evaluate(ev(middle)).hits[0]
    assert hit.figures["count"] == limit
    assert hit.figures["baseline_milli"] == per_window * 1000


def test_surge_waits_for_min_windows() -> None:
    e = engine(SURGE.format(5))
    start = _steady(e, 3, 1)
    for n in range(30):
        e.observe(ev(start + 300_000 + n), "00")
    assert not fired(e, ev(start + 300_099))  # only 3 of 5 windows have closed
    later = start + 2 * 600_000 + 300_000  # 5 closed: usual (1+1+1+30+0)/5 = 6.6
    for n in range(30):
        e.observe(ev(later + n), "00")
    assert fired(e, ev(later + 99))


def test_surge_counts_forget_windows_that_passed_idle() -> None:
    from kassa.risk._counters import Rate

    rate = Rate(0, current=10)
    rate.roll(600_000 + 300_000, 600_000, 100)
    assert (rate.previous, rate.estimate(900_000, 600_000)) == (10, 5)
    rate.roll(3 * 600_000, 600_000, 100)  # window 2 passed with nothing in it
    assert (rate.previous, rate.current, rate.estimate(3 * 600_000, 600_000)) == (0, 0, 0)
    assert rate.windows == 3 and abs(rate.baseline_milli - 10_000 // 3) <= 3  # permille weights
