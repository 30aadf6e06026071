"""The print queue's policy: receipts wait while the printer fails and print, in order,
once it is back; never lost, never printed twice (pure, data only).

A job moves through a transition table (h11 style; a missing key is a bug naming both)::

    queued --start--> printing --ok--> printed
                               --fail--> failed --retry--> queued
    printing --recover--> queued          (after a crash, see `recover`)

The terminal journal persists the jobs (the lead's store); this module only says what
happens next. The driving loop is::

    for job in next_jobs(jobs, printer.status(), now_ms):
        job = start(job)                       # persist before sending
        result = printer.print(job.data)
        job = after_attempt(job, result.ok, now_ms, result.error)   # persist
        if not result.ok:
            break                              # later jobs wait: order is kept

Order is job_id order (the journal hands ids out increasing). A failed job holds the
queue until its backoff ends, so a later receipt never overtakes it.

"Never twice" holds for every fault but one: a crash between sending a job and recording
the outcome leaves it "printing", and nobody knows whether the paper came out. `recover`
queues it again, because a merchant copy lost means a sale without its signature, while a
second copy is only paper; the reprint carries the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise

from kassa.terminal.escpos import PrinterStatus

__all__ = [
    "JobState",
    "PrintJob",
    "after_attempt",
    "backoff_ms",
    "enqueue",
    "next_jobs",
    "pending",
    "recover",
    "start",
]

backoff_base_ms = 1_000
backoff_max_ms = 16_000  # a printer back in service prints waiting receipts within this


class JobState(StrEnum):
    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED = "failed"


_Q, _P, _D, _F = JobState.QUEUED, JobState.PRINTING, JobState.PRINTED, JobState.FAILED
_TRANSITIONS: dict[tuple[JobState, str], JobState] = {
    (_Q, "start"): _P,
    (_P, "ok"): _D,
    (_P, "fail"): _F,
    (_F, "retry"): _Q,
    (_P, "recover"): _Q,
}


@dataclass(frozen=True, slots=True)
class PrintJob:
    """One copy of one receipt. `txn_ref` is the transaction identity (TID + batch + STAN),
    `copy` the stub ("merchant", "cardholder", "settlement"...); `reprint` marks a copy the
    operator asked for again. `not_before_ms` is the end of the backoff after a failure."""

    job_id: int
    txn_ref: str
    copy: str
    data: bytes = field(repr=False)
    attempts: int = 0
    state: JobState = JobState.QUEUED
    not_before_ms: int = 0
    last_error: str | None = None
    reprint: bool = False

    def __post_init__(self) -> None:
        if self.job_id < 0 or self.attempts < 0:
            raise ValueError(f"print job {self.job_id}: job_id and attempts must be >= 0")


def _move(job: PrintJob, event: str) -> JobState:
    try:
        return _TRANSITIONS[(job.state, event)]
    except KeyError:
        raise ValueError(
            f"print job {job.job_id}: no transition from {job.state} on {event}"
        ) from None


def backoff_ms(attempts: int) -> int:
    """How long a job waits after its `attempts`-th failed attempt: 1 s doubling to 16 s."""
    return min(backoff_max_ms, backoff_base_ms << min(max(attempts - 1, 0), 16))


def start(job: PrintJob) -> PrintJob:
    """The job about to be sent (queued → printing); persist it before sending."""
    return replace(job, state=_move(job, "start"))


def after_attempt(job: PrintJob, ok: bool, now_ms: int, error: str | None = None) -> PrintJob:
    """The job after one attempt: printed, or failed with one attempt more, the printer's
    fault name and a backoff deadline."""
    if ok:
        return replace(job, state=_move(job, "ok"), attempts=job.attempts + 1, last_error=None)
    attempts = job.attempts + 1
    return replace(
        job,
        state=_move(job, "fail"),
        attempts=attempts,
        not_before_ms=now_ms + backoff_ms(attempts),
        last_error=error,
    )


def _checked(jobs: Iterable[PrintJob]) -> list[PrintJob]:
    ordered = sorted(jobs, key=lambda job: job.job_id)
    for before, after in pairwise(ordered):
        if before.job_id == after.job_id:
            raise ValueError(f"print job {before.job_id} is in the queue twice")
    return ordered


def pending(jobs: Iterable[PrintJob]) -> list[PrintJob]:
    """The jobs not printed yet, in print order."""
    return [job for job in _checked(jobs) if job.state is not JobState.PRINTED]


def next_jobs(
    jobs: Iterable[PrintJob], printer_status: PrinterStatus, now_ms: int
) -> list[PrintJob]:
    """The jobs to print now, in order: none while the printer is not ready or a job is
    still printing; else the waiting jobs from the oldest on, up to the first one still in
    its backoff. Failed jobs come back queued (persist them as returned)."""
    waiting = pending(jobs)
    if not printer_status.ready or any(job.state is JobState.PRINTING for job in waiting):
        return []
    due: list[PrintJob] = []
    for job in waiting:
        if job.state is JobState.FAILED:
            if now_ms < job.not_before_ms:
                break
            due.append(replace(job, state=_move(job, "retry")))
        else:
            due.append(job)
    return due


def recover(jobs: Iterable[PrintJob]) -> list[PrintJob]:
    """After a restart: jobs left "printing" are queued again (see the module docstring)."""
    return [
        replace(job, state=_move(job, "recover")) if job.state is JobState.PRINTING else job
        for job in _checked(jobs)
    ]


def _same_receipt(a: PrintJob, b: PrintJob) -> bool:
    return (a.txn_ref, a.copy, a.reprint) == (b.txn_ref, b.copy, b.reprint)


def enqueue(jobs: Sequence[PrintJob], job: PrintJob) -> list[PrintJob]:
    """`jobs` (in order) with `job` added last, unless it is already there: the same job_id
    again (with other content: ValueError), the same copy of the same receipt (printed or
    not), or a reprint of a copy whose reprint is still waiting. A job_id lower than one
    already queued is a ValueError: ids are handed out increasing, and order is by id."""
    ordered = _checked(jobs)
    if job.state is not JobState.QUEUED or job.attempts:
        raise ValueError(f"print job {job.job_id}: a new job must be queued with no attempts")
    for known in ordered:
        if known.job_id == job.job_id:
            if not _same_receipt(known, job) or known.data != job.data:
                raise ValueError(f"print job {job.job_id} is already queued with other content")
            return ordered
        if _same_receipt(known, job) and (not job.reprint or known.state is not JobState.PRINTED):
            return ordered
    if ordered and job.job_id < ordered[-1].job_id:
        raise ValueError(f"print job {job.job_id} is older than job {ordered[-1].job_id}")
    return [*ordered, job]
