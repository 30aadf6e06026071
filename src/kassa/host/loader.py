"""Reference data from TOML: merchants, terminals and cards (`kassa host load`).

The whole file is checked before anything is written: every bad row is reported with
file, line and reason, and a file with any error loads nothing. Amounts are yuan decimal
strings ("1000.00"); rates are decimal fractions ("0.0038").
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from kassa.card import parse_expiry, validate_pan
from kassa.errors import InputError
from kassa.host.records import CardKind, Status
from kassa.money import Amount

_TABLES = ("merchant", "terminal", "card")
_RATE = re.compile(r"0(\.\d{1,6})?|1(\.0{1,6})?")
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{16}")


@dataclass(frozen=True, slots=True)
class LoadProblem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(slots=True)
class Reference:
    """Validated rows, ready to write."""

    merchants: list[dict[str, Any]] = field(default_factory=list)
    terminals: list[dict[str, Any]] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)


def _header_lines(text: str, table: str) -> list[int]:
    pattern = re.compile(rf"^[ \t]*\[\[[ \t]*{table}[ \t]*\]\]", re.MULTILINE)
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def parse_reference(text: str, filename: str) -> tuple[Reference, list[LoadProblem]]:
    """Parse and check a reference file; problems as data, nothing raised for bad rows."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else 1
        return Reference(), [LoadProblem(filename, line, f"not valid TOML: {exc}")]
    problems: list[LoadProblem] = []
    unknown = sorted(set(doc) - set(_TABLES))
    if unknown:
        problems.append(LoadProblem(filename, 1, f"unknown section(s) {unknown}; use {_TABLES}"))
    ref = Reference()
    checkers = {"merchant": (_merchant, ref.merchants), "terminal": (_terminal, ref.terminals),
                "card": (_card, ref.cards)}  # fmt: skip
    for table, (check, out) in checkers.items():
        rows = doc.get(table, [])
        lines = _header_lines(text, table)
        if not isinstance(rows, list):
            problems.append(LoadProblem(filename, 1, f"[{table}] must be written [[{table}]]"))
            continue
        for index, row in enumerate(rows):
            line = lines[index] if index < len(lines) else 1
            try:
                out.append(check(row))
            except InputError as exc:
                problems.append(LoadProblem(filename, line, f"{table}: {exc}"))
    problems += _cross_checks(ref, text, filename)
    return ref, problems


def _cross_checks(ref: Reference, text: str, filename: str) -> list[LoadProblem]:
    problems: list[LoadProblem] = []
    for table, rows, key in (("merchant", ref.merchants, "mid"), ("terminal", ref.terminals, "tid"),
                             ("card", ref.cards, "pan")):  # fmt: skip
        seen: set[str] = set()
        lines = _header_lines(text, table)
        for index, row in enumerate(rows):
            if row[key] in seen:
                line = lines[index] if index < len(lines) else 1
                problems.append(LoadProblem(filename, line, f"{table}: duplicate {key}"))
            seen.add(row[key])
    return problems


def _get(row: Any, name: str, default: Any = ...) -> Any:
    if not isinstance(row, dict):
        raise InputError("each entry must be a table of key = value lines")
    if name not in row:
        if default is ...:
            raise InputError(f"missing {name!r}")
        return default
    return row[name]


def _text(row: Any, name: str, pattern: str, what: str) -> str:
    value = _get(row, name)
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise InputError(f"{name} must be {what}")
    return value


def _yuan(row: Any, name: str, default: Any = ..., positive: bool = False) -> int | None:
    value = _get(row, name, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f'{name} must be a quoted yuan amount like "1000.00"')
    try:
        return Amount.parse(value, positive=positive).fen
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None


def _enum(row: Any, name: str, kind: type[Any], default: Any, allowed: tuple[str, ...]) -> Any:
    value = _get(row, name, default)
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return kind(value)


def _rate_ppm(text: Any) -> int:
    if not isinstance(text, str) or not _RATE.fullmatch(text):
        raise InputError('fee_rate must be a decimal fraction like "0.0038" (at most 6 places)')
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def _merchant(row: Any) -> dict[str, Any]:
    credit = _get(row, "credit_allowed", False)
    if not isinstance(credit, bool):
        raise InputError("credit_allowed must be true or false")
    name = _get(row, "name")
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        raise InputError("name must be 1 to 40 characters")
    return {
        "mid": _text(row, "mid", r"[0-9A-Za-z]{15}", "15 letters or digits"),
        "name": name.strip(),
        "mcc": _text(row, "mcc", r"\d{4}", "4 digits (merchant category code)"),
        "fee_rate_ppm": _rate_ppm(_get(row, "fee_rate")),
        "fee_fixed_fen": _yuan(row, "fee_fixed", "0.00"),
        "fee_min_fen": _yuan(row, "fee_min", "0.00"),
        "fee_max_fen": _yuan(row, "fee_max", None),
        "credit_allowed": credit,
        "txn_limit_fen": _yuan(row, "txn_limit", positive=True),
        "daily_limit_fen": _yuan(row, "daily_limit", None, positive=True),
        "status": _enum(row, "status", Status, "active", ("active", "frozen")),
    }


def _terminal(row: Any) -> dict[str, Any]:
    tmk = _get(row, "tmk")
    if not isinstance(tmk, str) or not _HEX_KEY.fullmatch(tmk):
        raise InputError("tmk must be 32 (or 16) hex digits")
    return {
        "tid": _text(row, "tid", r"[0-9A-Za-z]{8}", "8 letters or digits"),
        "mid": _text(row, "mid", r"[0-9A-Za-z]{15}", "15 letters or digits"),
        "tmk": bytes.fromhex(tmk),
        "batch": _text(row, "batch", r"\d{6}", "6 digits") if "batch" in row else "000001",
        "status": _enum(row, "status", Status, "active", ("active", "frozen")),
    }


def _card(row: Any) -> dict[str, Any]:
    pan = _get(row, "pan")
    expiry = _get(row, "expiry")
    if not isinstance(pan, str) or not isinstance(expiry, str):
        raise InputError('pan and expiry must be quoted strings, e.g. pan = "6212..."')
    kind = _enum(row, "kind", CardKind, "debit", ("debit", "credit"))
    limit = _yuan(row, "credit_limit", "0.00")
    if kind is CardKind.DEBIT and limit:
        raise InputError("credit_limit is for credit cards; a debit card spends its balance")
    return {
        "pan": validate_pan(pan),
        "expiry": parse_expiry(expiry),
        "pin": _text(row, "pin", r"\d{4,12}", "4 to 12 digits"),
        "balance_fen": _yuan(row, "balance", "0.00"),
        "kind": kind,
        "credit_limit_fen": limit,
        "status": _enum(row, "status", Status, "active", tuple(s.value for s in Status)),
        "daily_limit_fen": _yuan(row, "daily_limit", None, positive=True),
        "daily_count_max": _count(row, "daily_count"),
    }


def _count(row: Any, name: str) -> int | None:
    """An optional whole number of at least 1 (TOML integer, not a string or a bool)."""
    value = _get(row, name, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a whole number of at least 1, e.g. {name} = 20")
    return value
