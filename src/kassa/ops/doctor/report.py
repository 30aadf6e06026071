"""How a doctor's report is shown: plain text for people (with the guide's advice for each
warning and failure, in Chinese and English), or one JSON object for machines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kassa.guide import as_dict, cause_label, lookup
from kassa.ops.doctor.checks import Check

if TYPE_CHECKING:
    from kassa.ops.doctor.run import DoctorReport

MARKS = {"ok": "✓", "info": "·", "warning": "!", "failure": "✗"}
VERDICTS = {
    0: ("一切正常", "all fine"),
    1: ("有警告，请尽快处理", "warnings: act soon"),
    2: ("有故障，请立即处理", "failures: act now"),
}


def advice(code: str) -> dict[str, Any]:
    """The guide entry behind a check, in both languages (JSON-ready)."""
    entry = as_dict(lookup(code))
    keep = ("code", "cause", "meaning_zh", "meaning_en", "screen_zh", "screen_en",
            "action_zh", "action_en")  # fmt: skip
    return {k: entry[k] for k in keep}


def render_json(report: DoctorReport) -> str:
    """One JSON object: version, examined, status, ok, checks [{name, ok, severity,
    detail, guide_code, advice?}]."""
    doc = report.to_json()
    for check, item in zip(report.checks, doc["checks"], strict=True):
        if check.guide_code:
            item["advice"] = advice(check.guide_code)
    return json.dumps(doc, ensure_ascii=False)


def _advice_lines(check: Check) -> list[str]:
    assert check.guide_code is not None
    entry = lookup(check.guide_code)
    return [
        f"      {entry.code}: {entry.meaning_zh} / {entry.meaning_en}",
        f"      可能原因 cause: {cause_label(entry.cause, 'zh')} / {cause_label(entry.cause, 'en')}",
        f"      处理 what to do: {entry.action_zh}",
        f"                       {entry.action_en}",
    ]


def render_text(report: DoctorReport) -> str:
    """Lines for a terminal window: one per check, advice under each problem."""
    width = max((len(c.name) for c in report.checks), default=10)
    lines = [f"kassa doctor: {' + '.join(report.examined)}"]
    for check in report.checks:
        lines.append(f"  {MARKS[check.severity]} {check.name:<{width}}  {check.detail}")
        if not check.ok:
            lines += _advice_lines(check)
    zh, en = VERDICTS[report.status]
    counts = {s: sum(1 for c in report.checks if c.severity == s) for s in MARKS}
    lines.append(
        f"结论 verdict: {zh} / {en} ({counts['ok']} ok, {counts['info']} info, "
        f"{counts['warning']} warnings, {counts['failure']} failures; exit {report.status})"
    )
    return "\n".join(lines)
