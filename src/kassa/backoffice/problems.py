"""Problem records (问题记录): a decline, a fault or a reconciliation difference, followed
from the first report to its outcome, ready to back a complaint or appeal (申诉) to the bank.

    p = open_problem(db, "ops01", now_ms, rrn="261118000042", note="customer charged twice?")
    update_problem(db, p.id, "ops01", now_ms, check="host shows one capture, one reversal")
    update_problem(db, p.id, "sup01", now_ms, resolution="explained to the customer",
                   outcome="no money owed", close=True)

A problem keeps: ``kind`` (decline, fault, recon_difference), ``refs`` (host transaction
ids and RRN, difference id, guide code), ``error`` (what went wrong, in the guide's words
when there is a code), the ``checks`` made, ``resolution``, ``outcome`` and ``status``
(open, closed). Its history is append-only (``problem_events``); a closed problem takes
no more changes. Every change is audited when an `AuditLog` is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kassa import guide
from kassa.audit import AuditLog
from kassa.backoffice.recon_schema import dumps, load_difference
from kassa.errors import InputError
from kassa.host import repo
from kassa.store import Database, Row, Transaction

__all__ = ["Problem", "ProblemEvent", "list_problems", "load_problem", "open_problem",
           "update_problem"]  # fmt: skip

KINDS = ("decline", "fault", "recon_difference")
text_length_max = 2_000


@dataclass(frozen=True, slots=True)
class ProblemEvent:
    at_ms: int
    actor: str
    kind: str  # opened, check, resolution, outcome, closed
    detail: str


@dataclass(frozen=True, slots=True)
class Problem:
    id: int
    opened_ms: int
    updated_ms: int
    kind: str
    refs: dict[str, Any]
    error: str
    checks: tuple[str, ...]
    resolution: str | None
    outcome: str | None
    status: str
    opened_by: str
    history: tuple[ProblemEvent, ...]


_COLS = (
    "id, opened_ms, updated_ms, kind, refs, error, checks, resolution, outcome, status, opened_by"
)


def _problem(tx: Transaction, r: Row) -> Problem:
    events = tx.fetchall(
        "SELECT at_ms, actor, kind, detail FROM problem_events WHERE problem_id = ? ORDER BY id",
        (r[0],),
    )
    return Problem(int(r[0]), int(r[1]), int(r[2]), r[3], json.loads(r[4]), r[5],
                   tuple(json.loads(r[6])), r[7], r[8], r[9], r[10],
                   tuple(ProblemEvent(int(e[0]), e[1], e[2], e[3]) for e in events))  # fmt: skip


def load_problem(tx: Transaction, problem_id: int) -> Problem:
    """The problem with its history; InputError when there is none."""
    row = tx.fetchone(f"SELECT {_COLS} FROM problems WHERE id = ?", (problem_id,))
    if row is None:
        raise InputError(f"no problem {problem_id}: see `kassa problem list`")
    return _problem(tx, row)


def list_problems(
    tx: Transaction, status: str | None = None, from_ms: int | None = None,
    to_ms: int | None = None,
) -> list[Problem]:  # fmt: skip
    """Problems (of ``status``, opened in ``[from_ms, to_ms)``), oldest first."""
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    for clause, value in (("status = ?", status), ("opened_ms >= ?", from_ms),
                          ("opened_ms < ?", to_ms)):  # fmt: skip
        if value is not None:
            where.append(clause)
            params.append(value)
    rows = tx.fetchall(
        f"SELECT {_COLS} FROM problems WHERE {' AND '.join(where)} ORDER BY id", params
    )
    return [_problem(tx, r) for r in rows]


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > text_length_max or not value.isprintable():
        raise InputError(f"{what} must be 1 to {text_length_max} printable characters")
    return value


def _from_rrn(tx: Transaction, rrn: str, refs: dict[str, Any]) -> tuple[str, str]:
    rows = repo.txns_by_rrn(tx, rrn)
    if not rows:
        raise InputError(f"no host transaction with RRN {rrn}: check the receipt's 参考号")
    row = rows[0]
    related = tx.fetchall("SELECT id FROM txns WHERE orig_id = ? OR (tid = ? AND batch = ? AND"
                          " stan = ?) ORDER BY id", (row.id, row.tid, row.batch, row.stan))  # fmt: skip
    refs.update(rrn=rrn, tid=row.tid, txn_ids=sorted({row.id, *(int(r[0]) for r in related)}))
    code = row.response_code
    if code == "00":
        return "fault", f"{row.txn_type} {row.status} (response 00)"
    refs.setdefault("code", code)
    return (
        "decline",
        f"{row.txn_type} declined {code}: {guide.lookup(code).meaning_zh} / "
        f"{guide.lookup(code).meaning_en}",
    )


def _from_code(code: str, refs: dict[str, Any]) -> tuple[str, str]:
    entry = guide.find(code)
    if entry is None:
        raise InputError(f"{code!r} is not in the operator guide: see `kassa explain`")
    refs["code"] = entry.code
    kind = "decline" if entry.kind == "response" else "fault"
    return kind, f"{entry.code}: {entry.meaning_zh} / {entry.meaning_en}"


def open_problem(
    db: Database,
    actor: str,
    now_ms: int,
    *,
    rrn: str | None = None,
    diff_id: int | None = None,
    code: str | None = None,
    note: str = "",
    audit: AuditLog | None = None,
) -> Problem:
    """Open a problem about a host transaction (by RRN), a difference or a guide code."""
    if rrn is None and diff_id is None and code is None:
        raise InputError("a problem needs --txn RRN, --diff ID or --code CODE")
    refs: dict[str, Any] = {}
    with db.transaction() as tx:
        found: list[tuple[str, str]] = []
        if diff_id is not None:
            d = load_difference(tx, diff_id)
            if d is None:
                raise InputError(f"no difference {diff_id}: see `kassa recon list`")
            refs.update(diff_id=diff_id, tid=d.diff.tid, rrn=d.diff.rrn)
            txn_id = (d.diff.host_view or {}).get("txn_id")
            refs["txn_ids"] = [txn_id] if txn_id is not None else []
            found.append(("recon_difference", f"{d.diff.kind}: {d.diff.detail}"))
        if rrn is not None:
            found.append(_from_rrn(tx, rrn.strip(), refs))
        if code is not None:
            found.append(_from_code(code, refs))
        kind, error = found[0][0], "; ".join(e for _, e in found)
        row = tx.fetchone(
            "INSERT INTO problems (opened_ms, updated_ms, kind, refs, error, checks, status,"
            " opened_by) VALUES (?, ?, ?, ?, ?, '[]', 'open', ?) RETURNING id",
            (now_ms, now_ms, kind, dumps(refs), error, actor),
        )
        assert row is not None
        problem_id = int(row[0])
        _event(tx, problem_id, now_ms, actor, "opened", note.strip() or error, audit)
        return load_problem(tx, problem_id)


def _event(tx: Transaction, problem_id: int, now_ms: int, actor: str, kind: str, detail: str,
           audit: AuditLog | None) -> None:  # fmt: skip
    tx.execute(
        "INSERT INTO problem_events (problem_id, at_ms, actor, kind, detail)"
        " VALUES (?, ?, ?, ?, ?)",
        (problem_id, now_ms, actor, kind, detail),
    )
    if audit is not None:
        audit.record_in(tx, actor, "operator", f"problem.{kind}", f"problem {problem_id}",
                        {"detail": detail}, now_ms)  # fmt: skip


def update_problem(
    db: Database,
    problem_id: int,
    actor: str,
    now_ms: int,
    *,
    check: str | None = None,
    resolution: str | None = None,
    outcome: str | None = None,
    close: bool = False,
    audit: AuditLog | None = None,
) -> Problem:
    """Add a check made, set the resolution or outcome, or close; each one an event."""
    if check is None and resolution is None and outcome is None and not close:
        raise InputError("nothing to update: give --check, --resolution, --outcome or --close")
    with db.transaction() as tx:
        problem = load_problem(tx, problem_id)
        if problem.status == "closed":
            raise InputError(f"problem {problem_id} is closed: open a new one")
        sets: dict[str, Any] = {}
        if check is not None:
            sets["checks"] = dumps([*problem.checks, _text(check, "a check")])
            _event(tx, problem_id, now_ms, actor, "check", check.strip(), audit)
        for name, value in (("resolution", resolution), ("outcome", outcome)):
            if value is not None:
                sets[name] = _text(value, f"the {name}")
                _event(tx, problem_id, now_ms, actor, name, sets[name], audit)
        if close:
            if (outcome or problem.outcome) is None:
                raise InputError("say the outcome (--outcome) before closing the problem")
            sets["status"] = "closed"
            _event(tx, problem_id, now_ms, actor, "closed", "closed", audit)
        assignments = ", ".join(f"{name} = ?" for name in sets)
        tx.execute(f"UPDATE problems SET {assignments}, updated_ms = ? WHERE id = ?",
                   (*sets.values(), now_ms, problem_id))  # fmt: skip
        return load_problem(tx, problem_id)
