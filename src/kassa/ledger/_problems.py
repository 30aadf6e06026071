"""Problems found by the validation passes: data, never exceptions (beancount style)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["LedgerProblem", "ProblemCode"]


class ProblemCode(StrEnum):
    """What a validation pass found; the letter is the pass that reports it."""

    entry_malformed = "entry_malformed"  # (a) fewer than 2 postings, zero amount, bad account...
    entry_unbalanced = "entry_unbalanced"  # (a) postings do not sum to zero
    total_nonzero = "total_nonzero"  # (a) the grand total over all accounts is not zero
    entry_id_duplicate = "entry_id_duplicate"  # (b) two entries share an id
    reverses_unknown = "reverses_unknown"  # (b) `reverses` names no earlier entry
    reverses_kind = "reverses_kind"  # (b) this kind may not undo that kind
    reverse_mismatch = "reverse_mismatch"  # (b) not the exact opposite / not the held amount
    completion_over_limit = "completion_over_limit"  # (b) capture above hold + tolerance
    reversed_twice = "reversed_twice"  # (b) two live entries undo (or consume) the same entry
    capture_missing = "capture_missing"  # (c) approved transaction with no capture
    capture_duplicate = "capture_duplicate"  # (c) approved transaction captured twice
    capture_unapproved = "capture_unapproved"  # (c) capture without an approved transaction
    card_below_floor = "card_below_floor"  # (d) a debit takes a card below its floor
    hold_negative = "hold_negative"  # (e) a hold account goes below zero
    problems_truncated = "problems_truncated"  # more problems than the pass keeps


@dataclass(frozen=True, slots=True)
class LedgerProblem:
    """One finding: its code, the entries involved (in ledger order) and a one-line message."""

    code: ProblemCode
    entry_ids: tuple[str, ...]
    message: str


class ProblemLog:
    """Collects problems up to ``problems_max``; past that it counts and says so once."""

    __slots__ = ("dropped", "problems", "problems_max")

    def __init__(self, problems_max: int) -> None:
        if problems_max < 1:
            raise ValueError(f"problems_max must be at least 1, got {problems_max}")
        self.problems_max = problems_max
        self.problems: list[LedgerProblem] = []
        self.dropped = 0

    def add(self, code: ProblemCode, entry_ids: tuple[str, ...], message: str) -> None:
        if len(self.problems) < self.problems_max:
            self.problems.append(LedgerProblem(code, entry_ids, message))
        else:
            self.dropped += 1

    def result(self) -> list[LedgerProblem]:
        if not self.dropped:
            return list(self.problems)
        note = f"{self.dropped} more problems not kept (problems_max={self.problems_max})"
        return [*self.problems, LedgerProblem(ProblemCode.problems_truncated, (), note)]
