"""The retention rules (pure): properties that no input may break, and the TOML policy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.errors import ConfigError
from kassa.ops import retention_policy as rp
from kassa.terminal.states import FINAL, State

CST = timezone(timedelta(hours=8))
T0 = 1_795_000_000_000
times = st.integers(T0 - 400 * rp.DAY_MS, T0 + 4000 * rp.DAY_MS)
maybe_times = st.none() | times
batches = st.sampled_from(["000001", "000002", "000003"])
policies = st.builds(
    rp.Policy,
    terminal_txn_days=st.integers(0, 400),
    terminal_event_days=st.integers(0, 400),
    print_job_days=st.integers(0, 400),
    host_txn_years=st.integers(5, 8),
    holds=st.frozensets(st.sampled_from(["000001", "T1:000002", "T2:000001"])),
)
steps = st.sampled_from(["started", "totals_answered", "uploaded", "done"])
runs = st.none() | st.builds(rp.BatchRun, batch=batches, step=steps, updated_ms=times)
terminal_rows = st.builds(
    rp.TerminalTxn,
    id=st.integers(1, 10**6),
    batch=batches,
    state=st.sampled_from([s.value for s in State] + ["weird"]),
    updated_ms=times,
)


@given(terminal_rows, runs, maybe_times, policies, times)
def test_a_terminal_row_is_purged_only_when_final_settled_backed_up_and_old(
    row: rp.TerminalTxn, run: rp.BatchRun | None, backup: int | None, policy: rp.Policy, now: int
) -> None:
    decision = rp.judge_terminal_txn(row, run, backup, policy, now)
    assert decision.row_id == row.id and decision.detail
    if not decision.purge:
        return
    assert State(row.state) in FINAL  # never pending, in_doubt, offline or resend
    assert run is not None and run.step == "done"
    assert backup is not None and backup > row.updated_ms and backup > run.updated_ms
    assert now - run.updated_ms >= policy.terminal_txn_days * rp.DAY_MS
    assert row.batch not in policy.holds


@given(terminal_rows, runs, maybe_times, policies, times, st.integers(0, 5000 * rp.DAY_MS))
def test_a_purgeable_terminal_row_stays_purgeable_later(
    row: rp.TerminalTxn,
    run: rp.BatchRun | None,
    backup: int | None,
    policy: rp.Policy,
    now: int,
    later: int,
) -> None:
    if rp.judge_terminal_txn(row, run, backup, policy, now).purge:
        assert rp.judge_terminal_txn(row, run, backup, policy, now + later).purge


@pytest.mark.parametrize("state", ["pending", "in_doubt", "offline", "resend"])
def test_in_flight_rows_are_kept_whatever_else_holds(state: str) -> None:
    row = rp.TerminalTxn(1, "000001", state, T0)
    run = rp.BatchRun("000001", "done", T0)
    decision = rp.judge_terminal_txn(row, run, T0 + 1, rp.Policy(), T0 + 10**13)
    assert (decision.purge, decision.reason) == (False, "in_flight")


def test_without_a_backup_nothing_is_purged_and_it_says_so() -> None:
    row = rp.TerminalTxn(1, "000001", "approved", T0)
    run = rp.BatchRun("000001", "done", T0)
    decision = rp.judge_terminal_txn(row, run, None, rp.Policy(), T0 + 10**13)
    assert (decision.purge, decision.reason) == (False, "no_backup")
    assert "no backup" in decision.detail


host_rows = st.builds(
    rp.HostTxn,
    id=st.integers(1, 10**6),
    tid=st.sampled_from(["T1", "T2"]),
    batch=batches,
    txn_type=st.sampled_from(["sale", "balance", "void", "refund", "completion", "preauth"]),
    status=st.sampled_from(["approved", "declined", "reversed", "voided", "completed", "recorded"]),
    created_ms=times,
    updated_ms=times,
)
settlements = st.none() | st.builds(
    rp.HostSettlement, status=st.sampled_from(["open", "closed", "unbalanced"]), closed_ms=times
)


@given(host_rows, settlements, st.booleans(), maybe_times, policies, times)
def test_a_host_row_is_purged_only_when_closed_not_money_backed_up_and_five_years_old(
    row: rp.HostTxn,
    settlement: rp.HostSettlement | None,
    alerted: bool,
    backup: int | None,
    policy: rp.Policy,
    now: int,
) -> None:
    decision = rp.judge_host_txn(row, settlement, alerted, backup, policy, now)
    if not decision.purge:
        return
    assert settlement is not None and settlement.status == "closed"
    assert not alerted and f"{row.tid}:{row.batch}" not in policy.holds
    assert not (row.status in ("approved", "voided") and row.txn_type in rp.CAPTURE_TYPES)
    assert backup is not None and backup > row.updated_ms
    booked = datetime.fromtimestamp(row.created_ms // 1000, CST)
    assert datetime.fromtimestamp(now // 1000, CST).year > booked.year + policy.host_txn_years


def test_host_retention_runs_in_whole_calendar_years_in_china_time() -> None:
    # Booked 2020-12-31 23:30 CST (15:30 UTC): five whole years are 2021..2025.
    booked = int(datetime(2020, 12, 31, 23, 30, tzinfo=CST).timestamp()) * 1000
    expiry = rp.host_txn_expiry_ms(booked, rp.Policy())
    assert expiry == int(datetime(2026, 1, 1, tzinfo=CST).timestamp()) * 1000
    row = rp.HostTxn(1, "T1", "000001", "balance", "approved", booked, booked)
    closed = rp.HostSettlement("closed", booked)
    assert not rp.judge_host_txn(row, closed, False, booked + 1, rp.Policy(), expiry - 1).purge
    assert rp.judge_host_txn(row, closed, False, booked + 1, rp.Policy(), expiry).purge


print_jobs = st.builds(
    rp.PrintJob,
    id=st.integers(1, 99),
    state=st.sampled_from(["queued", "printed"]),
    created_ms=times,
    printed_ms=maybe_times,
)


@given(print_jobs, maybe_times, policies, times)
def test_a_receipt_waiting_to_print_is_never_purged(
    job: rp.PrintJob, backup: int | None, policy: rp.Policy, now: int
) -> None:
    decision = rp.judge_print_job(job, backup, policy, now)
    if decision.purge:
        assert job.state == "printed" and job.printed_ms is not None
        assert backup is not None and backup > job.printed_ms
        assert now - job.printed_ms >= policy.print_job_days * rp.DAY_MS


alerts = st.builds(
    rp.RiskAlert,
    id=st.integers(1, 99),
    at_ms=times,
    review=st.sampled_from(["open", "cleared", "confirmed"]),
    reviewed_ms=maybe_times,
)


@given(alerts, maybe_times, policies, times)
def test_an_open_risk_alert_is_never_purged(
    alert: rp.RiskAlert, backup: int | None, policy: rp.Policy, now: int
) -> None:
    decision = rp.judge_risk_alert(alert, backup, policy, now)
    if decision.purge:
        assert alert.review != "open" and alert.reviewed_ms is not None
        assert now - alert.reviewed_ms >= policy.risk_alert_days * rp.DAY_MS


def test_policy_from_toml_sections() -> None:
    policy = rp.parse_policy(
        {"holds": ["000007"], "terminal": {"txn_days": 90}, "host": {"txn_years": 7}}, "r.toml"
    )
    assert policy.terminal_txn_days == 90 and policy.host_txn_years == 7
    assert policy.holds == frozenset({"000007"})
    assert policy.terminal_event_days == rp.Policy().terminal_event_days


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"host": {"txn_years": 3}}, "from 5"),  # below the PBOC five years
        ({"terminal": {"txn_days": -1}}, "txn_days"),
        ({"terminal": {"txn_days": True}}, "txn_days"),
        ({"terminal": {"days": 3}}, "no setting 'days'"),
        ({"ledger_days": 3}, "unknown setting"),
        ({"holds": "000001"}, "holds"),
    ],
)
def test_policy_mistakes_are_one_line_config_errors(doc: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        rp.parse_policy(doc, "r.toml")
