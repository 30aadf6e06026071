"""The values the risk engine takes and gives: events, actions, rule hits, decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kassa.errors import InputError

__all__ = [
    "ALLOW",
    "APPROVAL_CODES",
    "DECLINE_CODES",
    "Action",
    "Decision",
    "RiskEvent",
    "RuleHit",
    "decide",
]

# Class A codes (reference §5): the issuer let the money move.
APPROVAL_CODES = frozenset({"00", "10", "11", "A2", "A4"})
# The codes a risk rule may answer with: 59 有作弊嫌疑(CVN), 34 有作弊嫌疑 (retain card).
DECLINE_CODES = ("59", "34")
_MINUTES_PER_DAY = 1440
_MS_PER_MINUTE = 60_000
_PAN_LENGTH_MIN, _PAN_LENGTH_MAX = 12, 19


class Action(StrEnum):
    """What a rule asks for. `allow` on a rule is shadow mode: the hit is recorded only."""

    ALLOW = "allow"
    ALERT = "alert"
    HOLD = "hold"
    DECLINE = "decline"

    @property
    def severity(self) -> int:
        """decline (3) > hold (2) > alert (1) > allow (0)."""
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.ALERT: 1, Action.HOLD: 2, Action.DECLINE: 3}
# `Action.value` is a Python-level property on 3.11: looked up in a dict on hot paths
_VALUE = {a: a.value for a in Action}
_BLOCKING = frozenset(a for a, severity in _SEVERITY.items() if severity >= _SEVERITY[Action.HOLD])
# Between two declines, 34 (suspected fraud, retain the card) outranks 59.
_CODE_RANK = {"59": 0, "34": 1}


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """One authorisation as the risk rules see it.

    `at_ms` is the host's UTC time in epoch milliseconds; `utc_offset_min` turns it into
    the merchant's local time (480 = Beijing). `card_ref` is the host's card token, or a
    keyed hash of the PAN for cards the host does not know; never a PAN (refused).
    `has_matching_sale` is what the host found for a refund: True, False, or None when
    it did not look (not a refund). `mcc` lets off-hours rules exempt 24-hour trades.
    """

    at_ms: int
    tid: str
    mid: str
    card_ref: str | None
    txn_type: str
    amount_fen: int
    utc_offset_min: int = 480
    mcc: str = ""
    has_matching_sale: bool | None = None

    def __post_init__(self) -> None:
        if self.at_ms < 0 or self.amount_fen < 0:
            raise InputError("risk event: at_ms and amount_fen must not be negative")
        ref = self.card_ref
        # The host's tokens start with a letter, so `isdigit` ends this at the first
        # character; only an all-digit reference of a PAN's length pays for the Luhn sum.
        if (
            ref is not None
            and ref.isdigit()
            and _PAN_LENGTH_MIN <= len(ref) <= _PAN_LENGTH_MAX
            and _luhn_ok(ref)
        ):
            raise InputError("risk event: card_ref looks like a PAN; pass the card token")

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in order: what `dataclasses.asdict` gives, without its deep
        copies (every field is an immutable scalar), e.g. to store the event as JSON."""
        return {
            "at_ms": self.at_ms, "tid": self.tid, "mid": self.mid, "card_ref": self.card_ref,
            "txn_type": self.txn_type, "amount_fen": self.amount_fen,
            "utc_offset_min": self.utc_offset_min, "mcc": self.mcc,
            "has_matching_sale": self.has_matching_sale,
        }  # fmt: skip

    @property
    def local_minute(self) -> int:
        """Minutes since local midnight, 0..1439."""
        return (self.at_ms // _MS_PER_MINUTE + self.utc_offset_min) % _MINUTES_PER_DAY

    @property
    def local_weekday(self) -> int:
        """Local day of the week, Monday = 0 (1970-01-01 was a Thursday)."""
        days = (self.at_ms // _MS_PER_MINUTE + self.utc_offset_min) // _MINUTES_PER_DAY
        return (days + 3) % 7


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired: its id, what it asks for, the figures it judged, a sentence.

    `figures` holds integers (fen, counts, milliseconds, fixed-point values named with
    their scale) and short strings, so a hit stores as JSON and exports as metrics as is.
    """

    rule_id: str
    action: Action
    figures: dict[str, int | str]
    message: str
    response_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the alert store."""
        return {
            "rule_id": self.rule_id,
            "action": _VALUE[self.action],
            "response_code": self.response_code,
            "figures": dict(self.figures),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What the host does with an authorisation, and every rule hit behind it.

    `response_code` is set only for a decline (59 or 34). A hold carries no code: the
    host chooses how to hold (see the package docstring).
    """

    action: Action
    response_code: str | None
    hits: tuple[RuleHit, ...] = field(default=())

    @property
    def blocks(self) -> bool:
        """True when the issuer must not be asked (hold or decline)."""
        return self.action in _BLOCKING

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, e.g. for the `risk` column of a transaction record."""
        return {
            "action": _VALUE[self.action],
            "response_code": self.response_code,
            "hits": [hit.as_dict() for hit in self.hits],
        }

    def summary(self) -> str:
        """One line for logs: ``decline 59: card_velocity(count=6,max_count=5)``."""
        head = self.action.value + (f" {self.response_code}" if self.response_code else "")
        if not self.hits:
            return head
        parts = []
        for hit in self.hits:
            figures = ",".join(f"{key}={value}" for key, value in hit.figures.items())
            parts.append(f"{hit.rule_id}({figures})")
        return head + ": " + " ".join(parts)


ALLOW = Decision(Action.ALLOW, None, ())


def decide(hits: Iterable[RuleHit]) -> Decision:
    """The most severe action among `hits` wins; no hit means allow."""
    found = tuple(hits)
    if not found:
        return ALLOW
    if len(found) == 1:  # the usual case when anything fires: no ranking to do
        action = found[0].action
        code = (found[0].response_code or "59") if action is Action.DECLINE else None
        return Decision(action, code, found)
    action = found[0].action
    for hit in found:  # the first of the most severe, as `max` would pick
        if _SEVERITY[hit.action] > _SEVERITY[action]:
            action = hit.action
    code = None
    if action is Action.DECLINE:
        codes = [hit.response_code or "59" for hit in found if hit.action is Action.DECLINE]
        code = max(codes, key=lambda c: _CODE_RANK.get(c, 0))
    return Decision(action, code, found)
