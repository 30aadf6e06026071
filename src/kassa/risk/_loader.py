"""Rules from TOML. Every mistake is one `ConfigError` line naming the rule and the key.

    [state]
    keys_max = 50000            # default bound on tracked keys, per rule

    [rules.card_velocity]
    type = "velocity"           # velocity | amount_outlier | wrong_pins | card_testing |
                                # off_hours | terminal_surge | refund_without_sale
    action = "decline"          # allow (shadow: record only) | alert | hold | decline
    code = "59"                 # decline only: 59 or 34
    txn_types = ["sale"]        # optional; every type when absent
    min_amount = "0.00"         # optional, yuan; smaller transactions are not judged
    enabled = true              # optional
    ...                         # the keys of the type (see `_rules`)

Money is written in yuan as text ("200.00"), durations in whole seconds, times of day
as "HH:MM", factors and sigmas as integers in tenths (`factor_x10 = 50` is 5.0).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from typing import Any, cast

from kassa.errors import AmountError, ConfigError
from kassa.money import Amount
from kassa.risk._model import DECLINE_CODES, Action
from kassa.risk._rules import KEYS_MAX_DEFAULT, RULE_TYPES, Rule, RuleSet

__all__ = ["load_rules"]

_COMMON = ("type", "action", "code", "txn_types", "min_amount", "enabled", "keys_max")
_ID = re.compile(r"[a-z][a-z0-9_]{0,47}")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_SPAN = re.compile(r"([0-9]{2}:[0-9]{2})-([0-9]{2}:[0-9]{2})")
_PIN_CODES = ("55", "75")
# Declines a card tester provokes: unknown or bad card, funds, PIN, restrictions.
_TESTING_CODES = ("01", "04", "05", "14", "15", "21", "33", "34", "41", "43", "51", "54",
                  "55", "57", "59", "61", "62", "65", "75")  # fmt: skip
_MS_PER_S = 1000


class _Table:
    """One `[rules.<id>]` table, read key by key; keys never read are reported."""

    def __init__(self, rule_id: str, data: dict[str, Any]) -> None:
        self.rule_id, self.data, self.used = rule_id, data, set(_COMMON)

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"risk rule {self.rule_id!r}: key {key!r} {what}")

    def get(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        return self.data[key]

    def integer(self, key: str, low: int, high: int, default: Any = ...) -> int:
        value = self.get(key, default)
        if type(value) is not int or not low <= value <= high:
            raise self.fail(key, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def seconds_ms(self, key: str, default: Any = ...) -> int:
        return self.integer(key, 1, 31 * 86_400, default) * _MS_PER_S

    def yuan(self, key: str, default_fen: Any = ..., positive: bool = True) -> int:
        if key not in self.data and default_fen is not ...:
            self.used.add(key)
            return int(default_fen)
        value = self.get(key)
        if not isinstance(value, str):
            raise self.fail(key, f'must be yuan as text, e.g. "200.00", got {value!r}')
        try:
            return Amount.parse(value, positive=positive).fen
        except AmountError as exc:
            raise self.fail(key, f"is not an amount: {exc}") from None

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def strings(self, key: str, default: Any = ...) -> frozenset[str] | None:
        value = self.get(key, default)
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"must be a list of strings, got {value!r}")
        return frozenset(value)

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def clock(self, key: str, text: Any = ...) -> int:
        value = self.get(key) if text is ... else text
        match = _HHMM.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise self.fail(key, f'must be a local time "HH:MM", got {value!r}')
        return int(match.group(1)) * 60 + int(match.group(2))

    def unknown(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise self.fail(extra[0], "is not known for this rule type; check its spelling")


def load_rules(text: str) -> RuleSet:
    """Parse rule TOML into a `RuleSet` of the enabled rules, in file order.

    Raises `ConfigError` (one line, naming the rule and key) for bad TOML, an unknown
    type, action or key, a value out of range, or a decline without code 59/34.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"risk rules are not valid TOML: {exc}") from None
    extra = sorted(set(doc) - {"state", "rules"})
    if extra:
        raise ConfigError(f"risk rules: unknown section {extra[0]!r}; use [state] and [rules.*]")
    keys_max = _keys_max_default(doc.get("state", {}))
    rules_doc = doc.get("rules", {})
    if not isinstance(rules_doc, dict):
        raise ConfigError("risk rules: write each rule as a table [rules.<id>]")
    rules: list[Rule] = []
    for rule_id, data in rules_doc.items():
        if not _ID.fullmatch(rule_id):
            raise ConfigError(f"risk rule {rule_id!r}: ids are lower case letters, digits and _")
        if not isinstance(data, dict):
            raise ConfigError(f"risk rule {rule_id!r}: must be a table [rules.{rule_id}]")
        table = _Table(rule_id, data)
        if table.boolean("enabled", True):
            rules.append(_build(table, keys_max))
        else:
            table.used |= set(data)  # a switched-off rule is not checked further
    return RuleSet(tuple(rules))


def _keys_max_default(state: Any) -> int:
    if not isinstance(state, dict) or set(state) - {"keys_max"}:
        raise ConfigError("risk rules: [state] takes only keys_max")
    value = state.get("keys_max", KEYS_MAX_DEFAULT)
    if type(value) is not int or not 1 <= value <= 10_000_000:
        raise ConfigError(f"risk rules: [state] keys_max must be 1..10000000, got {value!r}")
    return value


def _build(table: _Table, keys_max: int) -> Rule:
    kind = table.choice("type", tuple(RULE_TYPES))
    action = Action(table.choice("action", tuple(a.value for a in Action)))
    if action is Action.DECLINE:
        code: str | None = table.choice("code", DECLINE_CODES, "59")
    elif "code" in table.data:
        raise table.fail("code", "applies only to action = decline")
    else:
        code = None
    common: dict[str, Any] = {
        "rule_id": table.rule_id, "action": action, "code": code,
        "txn_types": table.strings("txn_types", _DEFAULT_TYPES.get(kind)),
        "min_amount_fen": table.yuan("min_amount", 0, positive=False),
    }  # fmt: skip
    if kind not in {"off_hours", "refund_without_sale"}:
        common["keys_max"] = table.integer("keys_max", 1, 10_000_000, keys_max)
    elif "keys_max" in table.data:
        raise table.fail("keys_max", "does not apply: this rule keeps no state")
    rule = cast(Rule, RULE_TYPES[kind](**common, **_SPECIFIC[kind](table)))
    table.unknown()
    return rule


def _velocity(t: _Table) -> dict[str, Any]:
    has_amount = "max_amount" in t.data
    return {
        "key": t.choice("key", ("card", "terminal")),
        "window_ms": t.seconds_ms("window_s"),
        "max_count": t.integer("max_count", 1, 100_000),
        "max_amount_fen": t.yuan("max_amount") if has_amount else None,
        "count": t.choice("count", ("attempts", "approved"), "attempts"),
    }


def _outlier(t: _Table) -> dict[str, Any]:
    return {
        "alpha_permille": t.integer("alpha_permille", 1, 999, 20),
        "sigma_x10": t.integer("sigma_x10", 1, 1000),
        "min_samples": t.integer("min_samples", 1, 1_000_000, 30),
    }


def _wrong_pins(t: _Table) -> dict[str, Any]:
    return {
        "window_ms": t.seconds_ms("window_s"),
        "min_wrong_pins": t.integer("min_wrong_pins", 1, 1000),
        "codes": t.strings("codes", list(_PIN_CODES)),
    }


def _card_testing(t: _Table) -> dict[str, Any]:
    return {
        "window_ms": t.seconds_ms("window_s"),
        "min_declines": t.integer("min_declines", 1, 100_000),
        "small_amount_fen": t.yuan("small_amount", positive=False),
        "codes": t.strings("codes", list(_TESTING_CODES)),
        "small_only": t.boolean("small_only", True),
    }


def _off_hours(t: _Table) -> dict[str, Any]:
    merchants = t.get("merchants", {})
    if not isinstance(merchants, dict):
        raise t.fail("merchants", 'must be a table of MID = "HH:MM-HH:MM" or "none"')
    spans: dict[str, tuple[int, int] | None] = {}
    for mid, span in merchants.items():
        match = _SPAN.fullmatch(span) if isinstance(span, str) else None
        if span == "none":
            spans[mid] = None
        elif match is None:
            raise t.fail(f"merchants.{mid}", f'must be "HH:MM-HH:MM" or "none", got {span!r}')
        else:
            spans[mid] = (t.clock(f"merchants.{mid}", match.group(1)),
                          t.clock(f"merchants.{mid}", match.group(2)))  # fmt: skip
    return {
        "start_min": t.clock("start"),
        "end_min": t.clock("end"),
        "merchants": spans,
        "exempt_mccs": t.strings("exempt_mccs", []),
    }


def _surge(t: _Table) -> dict[str, Any]:
    return {
        "window_ms": t.seconds_ms("window_s"),
        "factor_x10": t.integer("factor_x10", 11, 10_000),
        "min_count": t.integer("min_count", 1, 1_000_000),
        "alpha_permille": t.integer("alpha_permille", 1, 999, 20),
        "min_windows": t.integer("min_windows", 1, 1_000_000, 24),
    }


_SPECIFIC: dict[str, Callable[[_Table], dict[str, Any]]] = {
    "velocity": _velocity,
    "amount_outlier": _outlier,
    "wrong_pins": _wrong_pins,
    "card_testing": _card_testing,
    "off_hours": _off_hours,
    "terminal_surge": _surge,
    "refund_without_sale": lambda t: {},
}
# When a rule names no txn_types: what each type judges by default.
_DEFAULT_TYPES: dict[str, list[str] | None] = {
    "velocity": ["sale", "preauth", "offline_sale", "offline_upload"],
    "amount_outlier": ["sale", "preauth"],
    "refund_without_sale": ["refund"],
}
