"""Lessons learnt (经验总结): which declines and faults happen most, where, over a period.

    report = lessons(tx, from_ms, to_ms)
    print(render(report))          # or as_json(report)

Read from the host: the response codes of its transactions (every code but 00 counts,
reversals included), its events (orphan reversals, format errors, unbalanced settlements)
and the problem records opened in the period. Each code is explained with the operator
guide, so the report says what to fix, not only what happened. Counts come from SQL
``GROUP BY`` over the period, most frequent first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kassa import guide
from kassa.backoffice.problems import list_problems
from kassa.store import Transaction

__all__ = ["Count", "LessonsReport", "as_json", "lessons", "render"]

_WHERE = "created_ms >= ? AND created_ms < ? AND mti IN ('0100', '0200', '0220', '0400')"
_QUIET_EVENTS = ("batch_closed",)  # routine, not a lesson


@dataclass(frozen=True, slots=True)
class Count:
    """How often ``code`` happened, at ``where`` (a TID, a MID, a kind, or "")."""

    where: str
    code: str
    count: int


@dataclass(frozen=True, slots=True)
class LessonsReport:
    from_ms: int
    to_ms: int
    transactions: int
    declines: tuple[Count, ...]
    by_terminal: tuple[Count, ...]
    by_merchant: tuple[Count, ...]
    events: tuple[Count, ...]
    problems: tuple[Count, ...]
    merchant_names: dict[str, str]


def _counts(tx: Transaction, sql: str, params: tuple[Any, ...]) -> tuple[Count, ...]:
    rows = tx.fetchall(sql, params)
    found = [Count(str(r[0] or ""), str(r[1] or "-"), int(r[2])) for r in rows]
    return tuple(sorted(found, key=lambda c: (-c.count, c.where, c.code)))


def lessons(tx: Transaction, from_ms: int, to_ms: int) -> LessonsReport:
    """The report of ``[from_ms, to_ms)``."""
    window = (from_ms, to_ms)
    total = tx.fetchone(f"SELECT COUNT(*) FROM txns WHERE {_WHERE}", window)
    declined = f"{_WHERE} AND response_code <> '00'"
    codes = _counts(tx, "SELECT '', response_code, COUNT(*) FROM txns WHERE "
                    f"{declined} GROUP BY response_code", window)  # fmt: skip
    terminals = _counts(tx, "SELECT tid, response_code, COUNT(*) FROM txns WHERE "
                        f"{declined} GROUP BY tid, response_code", window)  # fmt: skip
    merchants = _counts(tx, "SELECT mid, response_code, COUNT(*) FROM txns WHERE "
                        f"{declined} GROUP BY mid, response_code", window)  # fmt: skip
    quiet = ", ".join(f"'{k}'" for k in _QUIET_EVENTS)
    events = _counts(
        tx,
        "SELECT COALESCE(tid, '') || ' ' || kind, code, COUNT(*) FROM events WHERE at_ms >= ?"
        f" AND at_ms < ? AND kind NOT IN ({quiet}) AND NOT (kind = 'settlement' AND code = '1')"
        " GROUP BY tid, kind, code",
        window,
    )
    names = {str(r[0]): str(r[1]) for r in tx.fetchall("SELECT mid, name FROM merchants")}
    tally: dict[tuple[str, str], int] = {}
    for p in list_problems(tx, from_ms=from_ms, to_ms=to_ms):
        key = (p.kind, str(p.refs.get("code") or "-"))
        tally[key] = tally.get(key, 0) + 1
    problems = tuple(sorted((Count(k, c, n) for (k, c), n in tally.items()),
                            key=lambda c: (-c.count, c.where, c.code)))  # fmt: skip
    return LessonsReport(from_ms, to_ms, int(total[0]) if total else 0, codes, terminals,
                         merchants, events, problems, names)  # fmt: skip


def _meaning(code: str) -> tuple[str, str, str]:
    entry = guide.lookup(code)
    return entry.meaning_zh, entry.meaning_en, guide.cause_label(entry.cause, "en")


def as_json(report: LessonsReport) -> dict[str, Any]:
    """The report as plain JSON values, each code with the guide's meaning and cause."""

    def rows(counts: tuple[Count, ...]) -> list[dict[str, Any]]:
        out = []
        for c in counts:
            zh, en, cause = _meaning(c.code) if c.code != "-" else ("", "", "")
            out.append({"where": c.where, "code": c.code, "count": c.count, "meaning_zh": zh,
                        "meaning_en": en, "cause": cause})  # fmt: skip
        return out

    return {"transactions": report.transactions, "declines": rows(report.declines),
            "by_terminal": rows(report.by_terminal), "by_merchant": rows(report.by_merchant),
            "events": rows(report.events), "problems": rows(report.problems),
            "merchant_names": report.merchant_names}  # fmt: skip


def render(report: LessonsReport, top: int = 10) -> str:
    """A plain-text report in Chinese and English, the ``top`` rows of each table."""
    lines = [f"经验总结 Lessons: {report.transactions} 笔交易 transactions"]
    sections = (("拒绝与故障 Declines and faults", report.declines),
                ("按终端 By terminal", report.by_terminal),
                ("按商户 By merchant", report.by_merchant),
                ("主机事件 Host events", report.events),
                ("问题记录 Problem records", report.problems))  # fmt: skip
    for title, counts in sections:
        lines += ["", title]
        if not counts:
            lines.append("  (无 none)")
        for c in counts[:top]:
            where = c.where
            if title.startswith("按商户") and c.where in report.merchant_names:
                where = f"{c.where} {report.merchant_names[c.where]}"
            zh, en, _ = _meaning(c.code) if c.code != "-" else ("", "", "")
            lines.append(f"  {c.count:>6}  {where:<24} {c.code:<4} {zh} / {en}".rstrip(" /"))
    return "\n".join(lines) + "\n"
