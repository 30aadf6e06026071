"""The print queue policy: waits while the printer is down, prints in order, once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.terminal.escpos import PrinterStatus
from kassa.terminal.printqueue import (
    JobState,
    PrintJob,
    after_attempt,
    backoff_ms,
    enqueue,
    next_jobs,
    pending,
    recover,
    start,
)

UP = PrinterStatus(True, "ok")
NEAR_END = PrinterStatus(True, "near_end")
OUT = PrinterStatus(False, "out", "printer_no_paper")
SILENT = PrinterStatus(False, "unknown", "printer_not_connected")


def job(job_id: int, copy: str = "merchant", *, reprint: bool = False) -> PrintJob:
    return PrintJob(job_id, f"12345678-000001-{job_id:06d}", copy, b"slip %d" % job_id,
                    reprint=reprint)  # fmt: skip


def test_a_job_goes_queued_printing_printed() -> None:
    first = job(1)
    assert first.state is JobState.QUEUED and first.attempts == 0
    sending = start(first)
    assert sending.state is JobState.PRINTING
    done = after_attempt(sending, True, now_ms=5_000)
    assert done.state is JobState.PRINTED and done.attempts == 1
    assert next_jobs([done], UP, 5_000) == []


def test_a_failed_job_waits_its_backoff_then_comes_back_queued() -> None:
    failed = after_attempt(start(job(1)), False, now_ms=10_000, error="printer_no_paper")
    assert failed.state is JobState.FAILED and failed.last_error == "printer_no_paper"
    assert failed.not_before_ms == 10_000 + backoff_ms(1)
    assert next_jobs([failed], UP, failed.not_before_ms - 1) == []
    (again,) = next_jobs([failed], UP, failed.not_before_ms)
    assert again.state is JobState.QUEUED and again.attempts == 1
    assert start(again).state is JobState.PRINTING


def test_backoff_doubles_and_is_capped() -> None:
    waits = [backoff_ms(attempts) for attempts in range(1, 30)]
    assert waits[:5] == [1_000, 2_000, 4_000, 8_000, 16_000]
    assert max(waits) == 16_000
    assert waits == sorted(waits)


@pytest.mark.parametrize("status", [OUT, SILENT, PrinterStatus(False, "ok", "printer_cover_open")])
def test_nothing_prints_while_the_printer_is_not_ready(status: PrinterStatus) -> None:
    assert next_jobs([job(1), job(2)], status, 0) == []


@pytest.mark.parametrize("status", [UP, NEAR_END, PrinterStatus(True, "unknown")])
def test_waiting_jobs_print_oldest_first(status: PrinterStatus) -> None:
    jobs = [job(3), job(1), job(2)]
    assert [j.job_id for j in next_jobs(jobs, status, 0)] == [1, 2, 3]


def test_a_failed_job_holds_back_the_later_ones() -> None:
    failed = after_attempt(start(job(1)), False, now_ms=0)
    assert next_jobs([failed, job(2)], UP, 1) == []
    assert [j.job_id for j in next_jobs([failed, job(2)], UP, 60_000)] == [1, 2]


def test_nothing_new_starts_while_one_is_printing() -> None:
    assert next_jobs([start(job(1)), job(2)], UP, 0) == []


def test_recover_queues_a_job_caught_printing_by_a_crash() -> None:
    jobs = recover([start(job(1)), after_attempt(start(job(2)), True, 0), job(3)])
    assert [j.state for j in jobs] == [JobState.QUEUED, JobState.PRINTED, JobState.QUEUED]
    assert [j.job_id for j in next_jobs(jobs, UP, 0)] == [1, 3]


@pytest.mark.parametrize(
    "state",
    # a failed job must come back through next_jobs (retry) before it starts again
    [JobState.PRINTING, JobState.PRINTED, JobState.FAILED],
)
def test_transitions_not_in_the_table_are_bugs(state: JobState) -> None:
    with pytest.raises(ValueError, match=str(state)):
        start(replace(job(1), state=state))


def test_after_attempt_needs_a_printing_job() -> None:
    with pytest.raises(ValueError, match="queued"):
        after_attempt(job(1), True, 0)


def test_enqueue_is_idempotent_and_keeps_order() -> None:
    jobs = enqueue([], job(1))
    jobs = enqueue(jobs, job(2, "cardholder"))
    assert enqueue(jobs, job(1)) == jobs  # the same job again
    same_copy = replace(job(3), txn_ref=job(1).txn_ref, data=job(1).data)
    assert enqueue(jobs, same_copy) == jobs  # the same receipt stub under a new id
    with pytest.raises(ValueError, match="other content"):
        enqueue(jobs, replace(job(1), data=b"other"))
    with pytest.raises(ValueError, match="older"):
        enqueue(enqueue(jobs, job(9)), job(5))
    with pytest.raises(ValueError, match="twice"):
        pending([job(1), job(1)])


def test_reprint_is_a_new_job_only_once_the_copy_is_out() -> None:
    printed = after_attempt(start(job(1)), True, 0)
    reprint = replace(job(2), txn_ref=printed.txn_ref, reprint=True)
    jobs = enqueue([printed], reprint)
    assert [j.job_id for j in jobs] == [1, 2]
    another = replace(job(3), txn_ref=printed.txn_ref, reprint=True)
    assert enqueue(jobs, another) == jobs  # the first reprint is still waiting


# Any sequence of printer events: every job printed exactly once, in order ------------

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.integers(1, 3)),
        st.tuples(st.just("status"), st.sampled_from([UP, NEAR_END, OUT, SILENT])),
        st.tuples(st.just("flaky"), st.booleans()),  # the printer fails a print it said ok to
        st.tuples(st.just("tick"), st.integers(0, 20_000)),
    ),
    max_size=60,
)


class Terminal:
    """Drives the policy like the terminal does, against a simulated printer."""

    def __init__(self) -> None:
        self.jobs: list[PrintJob] = []
        self.paper: list[int] = []  # job ids in the order they came out of the printer
        self.status = UP
        self.flaky = False
        self.now_ms = 0
        self.next_id = 1

    def store(self, changed: PrintJob) -> None:
        self.jobs = [changed if j.job_id == changed.job_id else j for j in self.jobs]

    def pump(self) -> None:
        for due in next_jobs(self.jobs, self.status, self.now_ms):
            sending = start(due)
            self.store(sending)
            ok = self.status.ready and not self.flaky
            if ok:
                self.paper.append(sending.job_id)
            self.store(after_attempt(sending, ok, self.now_ms, None if ok else "printer_no_paper"))
            if not ok:
                break

    def run(self, event: tuple[str, object]) -> None:
        kind, value = event
        if kind == "enqueue":
            for _ in range(int(value)):  # type: ignore[call-overload]
                self.jobs = enqueue(self.jobs, job(self.next_id))
                self.next_id += 1
        elif kind == "status":
            assert isinstance(value, PrinterStatus)
            self.status = value
        elif kind == "flaky":
            self.flaky = bool(value)
        else:
            self.now_ms += int(value)  # type: ignore[call-overload]
        self.pump()


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_no_job_is_lost_or_printed_twice(events: list[tuple[str, object]]) -> None:
    terminal = Terminal()
    for event in events:
        terminal.run(event)
        assert terminal.paper == sorted(set(terminal.paper))  # in order, never twice
    # The printer comes back for good: everything waiting comes out.
    terminal.status, terminal.flaky = UP, False
    for _ in range(5):
        terminal.now_ms += 20_000
        terminal.pump()
    assert terminal.paper == list(range(1, terminal.next_id))
    assert all(j.state is JobState.PRINTED for j in terminal.jobs)
    assert pending(terminal.jobs) == []
