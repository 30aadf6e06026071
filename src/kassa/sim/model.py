"""The simulator's values: fault kinds, trace steps, invariant violations, a seed's result.

A trace step is what one cashier (or the simulator itself) did at one moment of
simulated time, the faults injected while it ran, and what came of it. Two runs of one
seed produce the same steps, in the same order, with the same text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum


class FaultKind(StrEnum):
    """Every kind of fault the simulator injects, named as the summary prints it."""

    DROP_REQUEST = "net.drop-request"  # never reaches the host (nothing sent)
    DROP_RESPONSE = "net.drop-response"  # the host booked it, the answer is lost
    LOSE_CONNECTION = "net.lose-connection"  # the host booked it, then the line dropped
    BAD_FRAME = "net.bad-frame"  # the answer arrives garbled
    DUPLICATE = "net.duplicate"  # the host receives the request twice
    DELAY = "net.delay-past-timeout"  # the answer comes after the terminal gave up
    LATE_DELIVERY = "net.late-delivery"  # held in the network, reaches the host much later
    PARTITION = "net.partition"  # a terminal cut off from the host for a stretch
    HOST_CRASH = "host.crash"  # the host died before committing: nothing booked, no answer
    CRASH_BEFORE_COMMIT = "disk.crash-before-commit"  # power lost: the write never landed
    CRASH_AFTER_COMMIT = "disk.crash-after-commit"  # power lost just after the write landed
    DISK_FULL = "disk.full"  # the write fails with a StoreError
    CLOCK_JUMP = "clock.jump"  # the terminal's clock jumps forwards or backwards
    PRINTER_FAIL = "printer.fail"  # the receipt printer refuses a job


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One operation: when, where, what, which faults were injected, and the outcome."""

    number: int
    at_ms: int
    terminal: str
    operation: str
    faults: tuple[str, ...]
    outcome: str

    def line(self, utc_offset_minutes: int = 480) -> str:
        tz = timezone(timedelta(minutes=utc_offset_minutes))
        when = datetime.fromtimestamp(self.at_ms / 1000, UTC).astimezone(tz)
        faults = ", ".join(self.faults) if self.faults else "-"
        return (
            f"#{self.number:04d} {when:%H:%M:%S} {self.terminal:<8} {self.operation:<34}"
            f" faults=[{faults}] -> {self.outcome}"
        )


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken promise, found after trace step `step`."""

    invariant: str
    detail: str
    step: int

    def __str__(self) -> str:
        return f"[{self.invariant}] after step #{self.step:04d}: {self.detail}"


@dataclass(frozen=True, slots=True)
class SeedResult:
    """Everything one seed's trading day produced."""

    seed: int
    trace: tuple[TraceStep, ...]
    faults: Counter[str]
    violations: tuple[Violation, ...]
    transactions: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.violations

    def report(self) -> str:
        """The seed, its violations and the trace that led there, for a person to read."""
        lines = [f"seed {self.seed}: {len(self.violations)} violation(s)"]
        lines += [f"  {v}" for v in self.violations]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines.append("trace:")
        lines += [f"  {step.line()}" for step in self.trace]
        lines.append(f"replay with: kassa sim --seed {self.seed} --verbose")
        return "\n".join(lines)
