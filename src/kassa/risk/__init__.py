"""Real-time risk rules (实时风控), evaluated by the acquirer host on every authorisation.

Pure: no I/O, no clock (time arrives in `RiskEvent.at_ms`), no floats. Two hooks::

    engine = RiskEngine(load_default_rules())
    decision = engine.evaluate(event)      # before the issuer is asked
    if decision.blocks: ...                # hold or decline (59 / 34): do not ask the issuer
    engine.observe(event, response_code)   # after: the final F39, whoever gave it

Rule types (configured in TOML, see `load_rules` and the shipped `default_rules.toml`):
velocity per card or terminal, amount_outlier per merchant, wrong_pins per card,
card_testing per terminal, off_hours, terminal_surge, refund_without_sale. Each asks
for allow (shadow mode: the hit is recorded, nothing else), alert, hold or decline; the
most severe action among the hits wins (decline > hold > alert > allow), and every
`RuleHit` names its rule and the figures it judged.

Hold: the `Decision` carries no response code. The host decides what a hold means on
the wire (the guide's `risk_held` fault: the terminal shows 交易待审核 while a supervisor
reviews it in the console); the engine only says "do not approve this on your own".

Cost: each rule is one dict look-up plus amortised O(1) window pruning, so an evaluation
is O(number of rules), whatever the traffic. The rules are compiled once into closures
(`_checks`, `_windowed`), and the engine keeps, per transaction type, the checks that
judge it and, per (type, response code), the feeds that can count it, so a rule that
cannot apply costs nothing; hits are built only when a rule fires. About 11-13 µs per
evaluate + observe with the shipped rules (`benchmarks/risk_engine.py`);
`tests/risk/test_risk_equivalence.py` holds the decisions and counters to those of the
plain engine before that tuning (a frozen copy in `tests/risk/riskref_*.py`).

Transactions: both hooks take an optional `RiskUndo`, in which the counters write what
they held before each change; `undo.undo_to(mark)` puts them back exactly (values, keys,
LRU order), so a host whose transaction or savepoint rolls back forgets what it counted
in it (`kassa.host.riskgate` joins one to each database transaction).

Memory: every rule keeps at most `keys_max` keys, forgetting the least recently used
(see `_state`). Fixed point: amounts are fen; merchant mean and variance are kept in
milli-fen and milli-fen² (× 1000 and × 10⁶), weights in permille, factors in tenths.

Several host nodes: each engine sees only the traffic of its own node. Velocity limits
then hold per node, so a card spread over N nodes could make up to N × max_count
transactions in a window before any node objects, and per-terminal rules stay exact only
while a terminal sticks to one node (its connection usually does). Sharing counters
through the database is the lead's choice; `RiskState.to_dict`/`from_dict` warm a
restarted or added node from a snapshot, not a live exchange.
"""

from __future__ import annotations

from importlib import resources

from kassa.risk._engine import RiskEngine, RiskStats, alert_record
from kassa.risk._loader import load_rules
from kassa.risk._model import (
    APPROVAL_CODES,
    DECLINE_CODES,
    Action,
    Decision,
    RiskEvent,
    RuleHit,
    decide,
)
from kassa.risk._rules import (
    AmountOutlierRule,
    CardTestingRule,
    OffHoursRule,
    RefundWithoutSaleRule,
    Rule,
    RuleSet,
    TerminalSurgeRule,
    VelocityRule,
    WrongPinsRule,
)
from kassa.risk._state import SNAPSHOT_FORMAT, RiskState
from kassa.risk._undo import RiskUndo, StateUndo

__all__ = [
    "APPROVAL_CODES",
    "DECLINE_CODES",
    "SNAPSHOT_FORMAT",
    "Action",
    "AmountOutlierRule",
    "CardTestingRule",
    "Decision",
    "OffHoursRule",
    "RefundWithoutSaleRule",
    "RiskEngine",
    "RiskEvent",
    "RiskState",
    "RiskStats",
    "RiskUndo",
    "Rule",
    "RuleHit",
    "RuleSet",
    "StateUndo",
    "TerminalSurgeRule",
    "VelocityRule",
    "WrongPinsRule",
    "alert_record",
    "decide",
    "default_rules_text",
    "load_default_rules",
    "load_rules",
]


def default_rules_text() -> str:
    """The shipped `default_rules.toml`, commented in Chinese and English."""
    return resources.files("kassa.risk").joinpath("default_rules.toml").read_text("utf-8")


def load_default_rules() -> RuleSet:
    """The shipped default rules."""
    return load_rules(default_rules_text())
