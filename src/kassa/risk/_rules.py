"""The rule types, as immutable values. `_loader` builds them from TOML.

Thresholds read the same way everywhere: a `max_*` is the most that is still allowed
(the rule fires above it); a `min_*` is the least that makes the rule fire (at or above).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kassa.risk._model import Action

__all__ = [
    "AmountOutlierRule",
    "CardTestingRule",
    "OffHoursRule",
    "RefundWithoutSaleRule",
    "Rule",
    "RuleCommon",
    "RuleSet",
    "TerminalSurgeRule",
    "VelocityRule",
    "WrongPinsRule",
]

KEYS_MAX_DEFAULT = 50_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleCommon:
    """What every rule has. `txn_types` None means every type; `min_amount_fen` skips
    smaller transactions; `code` is the response code of a decline (59 or 34)."""

    rule_id: str
    action: Action
    code: str | None
    txn_types: frozenset[str] | None
    min_amount_fen: int

    def applies(self, txn_type: str, amount_fen: int) -> bool:
        """True when this rule judges a transaction of that type and amount."""
        in_types = self.txn_types is None or txn_type in self.txn_types
        return in_types and amount_fen >= self.min_amount_fen

    def counts_type(self, txn_type: str) -> bool:
        """True when transactions of that type feed this rule's counters. Only velocity
        also leaves out amounts under `min_amount` ("more than N sales of at least X");
        the other rules learn from every amount and judge only the large ones."""
        return self.txn_types is None or txn_type in self.txn_types


@dataclass(frozen=True, slots=True, kw_only=True)
class VelocityRule(RuleCommon):
    """Per card or per terminal: more than `max_count` transactions, or more than
    `max_amount_fen` in total, within `window_ms`. `count` says what fills the window:
    every observed attempt, or approvals only. A window keeps at most `max_count` entries,
    which is all the decision needs (see `_state`)."""

    key: Literal["card", "terminal"]
    window_ms: int
    max_count: int
    max_amount_fen: int | None
    count: Literal["attempts", "approved"]
    keys_max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AmountOutlierRule(RuleCommon):
    """Per merchant: an amount above mean + k·σ of its approved amounts, where mean and
    variance are exponentially weighted (weight `alpha_permille`/1000 for the newest),
    k = `sigma_x10`/10, judged only once the merchant has `min_samples` approvals."""

    alpha_permille: int
    sigma_x10: int
    min_samples: int
    keys_max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WrongPinsRule(RuleCommon):
    """Per card: fires once the card had `min_wrong_pins` answers in `codes` (55, 75)
    within `window_ms`."""

    window_ms: int
    min_wrong_pins: int
    codes: frozenset[str]
    keys_max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CardTestingRule(RuleCommon):
    """Per terminal: fires once it had `min_declines` declines (answers in `codes`) of
    amounts at most `small_amount_fen` within `window_ms`. With `small_only` it then
    judges only small transactions, so a real customer's large sale goes through."""

    window_ms: int
    min_declines: int
    small_amount_fen: int
    codes: frozenset[str]
    small_only: bool
    keys_max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OffHoursRule(RuleCommon):
    """Fires inside [start, end) local minutes of the day (wrapping past midnight).
    `merchants` overrides the span per MID (None: that merchant never has off hours);
    `exempt_mccs` lists trades open all night (hotels, fuel)."""

    start_min: int
    end_min: int
    merchants: Mapping[str, tuple[int, int] | None] = field(default_factory=dict)
    exempt_mccs: frozenset[str] = frozenset()

    def span_for(self, mid: str) -> tuple[int, int] | None:
        """The off-hours span for `mid`, or None when it has none."""
        return self.merchants.get(mid, (self.start_min, self.end_min))


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminalSurgeRule(RuleCommon):
    """Per terminal: fires when the transactions of the last `window_ms` exceed both
    `min_count` and `factor_x10`/10 times its long-run count per window. The long-run
    count is an exponentially weighted mean over whole windows (weight `alpha_permille`),
    trusted once `min_windows` windows have passed."""

    window_ms: int
    factor_x10: int
    min_count: int
    alpha_permille: int
    min_windows: int
    keys_max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundWithoutSaleRule(RuleCommon):
    """A refund for which the host found no matching sale (`has_matching_sale` False)."""


Rule = (
    VelocityRule
    | AmountOutlierRule
    | WrongPinsRule
    | CardTestingRule
    | OffHoursRule
    | TerminalSurgeRule
    | RefundWithoutSaleRule
)

RULE_TYPES: dict[str, type[RuleCommon]] = {
    "velocity": VelocityRule,
    "amount_outlier": AmountOutlierRule,
    "wrong_pins": WrongPinsRule,
    "card_testing": CardTestingRule,
    "off_hours": OffHoursRule,
    "terminal_surge": TerminalSurgeRule,
    "refund_without_sale": RefundWithoutSaleRule,
}


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The enabled rules, in file order (which is also the order of hits)."""

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        ids = [rule.rule_id for rule in self.rules]
        assert len(ids) == len(set(ids)), f"duplicate rule ids in {ids}"

    def get(self, rule_id: str) -> Rule | None:
        """The rule with that id, if enabled."""
        return next((rule for rule in self.rules if rule.rule_id == rule_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.rule_id for rule in self.rules)
