"""The evidence pack (证据包) of a problem: what a complaint or appeal to the bank needs.

    names = export_pack(db, problem_id, Path("p7.zip"), now_ms, audit_log, journal=None)

A zip with, as JSON and as a bilingual README.txt (中文 / English):

- ``problem.json``: the problem record and its history;
- ``transactions.json``: the host's rows of the transactions concerned (masked PANs);
- ``messages.json``: each request as the host keeps it (already scrubbed: no track, PIN
  block or ICC data, PAN masked) and the decoded fields of the host's response;
- ``receipts.txt``: the slip re-rendered from the terminal's journal row when a journal
  database is given, else a host-side summary of the same facts;
- ``guide.json``: the operator-guide entries of the codes involved, in Chinese and English;
- ``timeline.json``: host events of the terminal around the transactions, the audit
  records about the problem, its difference and corrections, and the problem's history.

Card numbers never leave: every text is passed through `kassa.card.mask_in_text` before
it is written, and the pack is scanned with `find_pans` afterwards (AssertionError if a
PAN-like number survived, a bug).
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kassa import guide
from kassa.audit import AuditLog
from kassa.backoffice.corrections import list_corrections
from kassa.backoffice.problems import Problem, load_problem
from kassa.backoffice.recon_schema import load_difference
from kassa.card import find_pans, mask_in_text
from kassa.errors import DecodeError, InputError
from kassa.host import repo
from kassa.host.records import TxnRow
from kassa.iso8583 import decode
from kassa.money import Amount
from kassa.store import Database, Transaction, connect
from kassa.terminal.journal import Journal
from kassa.terminal.printing import sale_slip
from kassa.terminal.receipt import render_text

__all__ = ["export_pack"]

_CHINA = timezone(timedelta(hours=8))
_EVENTS_AROUND_MS = 3_600_000
_WIDTH = 40


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _txns(tx: Transaction, problem: Problem) -> list[TxnRow]:
    ids = [int(i) for i in problem.refs.get("txn_ids", [])]
    found = [repo.txn_by_id(tx, i) for i in ids]
    return [t for t in found if t is not None]


def _txn_doc(t: TxnRow) -> dict[str, Any]:
    return {"id": t.id, "tid": t.tid, "mid": t.mid, "batch": t.batch, "stan": t.stan,
            "mti": t.mti, "txn_type": t.txn_type, "amount": Amount(t.amount_fen).yuan(),
            "pan_masked": t.pan_masked, "rrn": t.rrn, "auth_code": t.auth_code,
            "response_code": t.response_code, "status": t.status.value,
            "settle_date": t.settle_date, "created": _when(t.created_ms)}  # fmt: skip


def _message_doc(tx: Transaction, t: TxnRow) -> dict[str, Any]:
    row = tx.fetchone("SELECT request FROM txns WHERE id = ?", (t.id,))
    request = json.loads(bytes(row[0])) if row else None
    try:
        response: Any = {"mti": (m := decode(t.response)).mti,
                         "fields": {str(k): v for k, v in m.fields.items()}}  # fmt: skip
    except DecodeError as exc:
        response = {"undecodable": str(exc)}
    return {"txn_id": t.id, "request": request, "response": response}


def _receipts(txns: list[TxnRow], journal: Path | None) -> str:
    if journal is not None:
        if not journal.is_file():
            raise InputError(f"no terminal journal database at {journal}")
        db = connect(f"sqlite:///{journal}", durable=False)
        try:
            slips = [_slip(db, t) for t in txns]
        finally:
            db.close()
        return "\n".join(s for s in slips if s) or "(no journal row for these transactions)\n"
    lines = ["主机摘要 HOST-SIDE SUMMARY (no terminal journal given)"]
    for t in txns:
        lines += [f"终端 TID {t.tid}  商户 MID {t.mid}", f"卡号 CARD {t.pan_masked or '-'}",
                  f"类型 TYPE {t.txn_type}  金额 AMOUNT {Amount(t.amount_fen).yuan()}",
                  f"批次 BATCH {t.batch}  凭证 TRACE {t.stan}  参考号 REF {t.rrn or '-'}",
                  f"授权码 AUTH {t.auth_code or '-'}  应答 RESP {t.response_code}",
                  f"时间 TIME {_when(t.created_ms)}  状态 STATUS {t.status.value}", ""]  # fmt: skip
    return "\n".join(lines)


def _slip(db: Database, t: TxnRow) -> str | None:
    journal = Journal(db, bytes(32))  # only masked columns are read: the key opens nothing
    with db.transaction(write=False) as tx:
        row = tx.fetchone("SELECT id FROM txns WHERE batch = ? AND stan = ?", (t.batch, t.stan))
        slip = sale_slip(journal, tx, int(row[0])) if row else None
    return render_text(slip, _WIDTH, "both") if slip is not None else None


def _guide(problem: Problem, txns: list[TxnRow]) -> list[dict[str, Any]]:
    codes = {t.response_code for t in txns} | (
        {problem.refs["code"]} if problem.refs.get("code") else set())  # fmt: skip
    return [guide.as_dict(guide.lookup(c)) for c in sorted(codes)]


def _timeline(tx: Transaction, problem: Problem, txns: list[TxnRow]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"at": _when(e.at_ms), "at_ms": e.at_ms, "source": "problem", "actor": e.actor,
         "what": e.kind, "detail": e.detail} for e in problem.history
    ]  # fmt: skip
    for tid in {t.tid for t in txns}:
        times = [t.created_ms for t in txns if t.tid == tid]
        rows = tx.fetchall(
            "SELECT at_ms, kind, code, detail FROM events WHERE tid = ? AND at_ms >= ?"
            " AND at_ms <= ? ORDER BY id",
            (tid, min(times) - _EVENTS_AROUND_MS, max(times) + _EVENTS_AROUND_MS),
        )
        out += [{"at": _when(int(r[0])), "at_ms": int(r[0]), "source": "host", "what": r[1],
                 "code": r[2], "detail": r[3]} for r in rows]  # fmt: skip
    return out


def _targets(tx: Transaction, problem: Problem) -> set[str]:
    """The audit targets that concern the problem: itself, its difference, corrections."""
    targets = {f"problem {problem.id}"}
    diff_id = problem.refs.get("diff_id")
    if diff_id is not None:
        targets.add(f"difference {diff_id}")
        targets |= {f"correction {c.id}" for c in list_corrections(tx, int(diff_id))}
    return targets


def _audit_entries(targets: set[str], audit: AuditLog | None) -> list[dict[str, Any]]:
    if audit is None:
        return []
    return [{"at": _when(r.at_ms), "at_ms": r.at_ms, "source": "audit", "actor": r.actor,
             "what": r.action, "target": r.target, "detail": dict(r.detail), "seq": r.seq}
            for r in audit.iter_records() if r.target in targets]  # fmt: skip


def _readme(problem: Problem, txns: list[TxnRow], entries: list[dict[str, Any]]) -> str:
    lines = [
        f"问题记录 {problem.id} 证据包 / Evidence pack of problem {problem.id}",
        "=" * 48,
        f"类别 Kind: {problem.kind}    状态 Status: {problem.status}",
        f"开立 Opened: {_when(problem.opened_ms)} by {problem.opened_by}",
        f"错误 Error: {problem.error}",
        "已做检查 Checks made:", *[f"  - {c}" for c in problem.checks or ("(none)",)],
        f"处理 Resolution: {problem.resolution or '-'}",
        f"结果 Outcome: {problem.outcome or '-'}", "",
        "交易 Transactions (卡号已掩码 card numbers masked):",
        *[f"  {t.tid} {t.batch}/{t.stan} {t.txn_type} {Amount(t.amount_fen).yuan()} RRN "
          f"{t.rrn or '-'} {t.pan_masked or '-'} {t.response_code} {t.status.value}" for t in txns],
        "", "应答码说明 What the codes mean:",
        *[f"  {e['code']}: {e['meaning_zh']} / {e['meaning_en']} -> {e['action_zh']} / "
          f"{e['action_en']}" for e in entries],
        "", "文件 Files: problem.json, transactions.json, messages.json, receipts.txt,",
        "  guide.json, timeline.json (时间均为北京时间 times are China Standard Time)",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def export_pack(db: Database, problem_id: int, out: Path, now_ms: int,
                audit: AuditLog | None = None, journal: Path | None = None) -> list[str]:  # fmt: skip
    """Write the evidence pack of ``problem_id`` to ``out`` (a zip); the names written."""
    with db.transaction(write=False) as tx:
        problem = load_problem(tx, problem_id)
        txns = _txns(tx, problem)
        if problem.refs.get("diff_id") is not None and load_difference(
            tx, int(problem.refs["diff_id"])) is None:  # fmt: skip
            raise InputError(f"problem {problem_id} names a difference that no longer exists")
        messages = [_message_doc(tx, t) for t in txns]
        entries = _guide(problem, txns)
        timeline = _timeline(tx, problem, txns)
        targets = _targets(tx, problem)
    timeline += _audit_entries(targets, audit)  # the audit log reads in its own transactions
    timeline.sort(key=lambda e: int(e["at_ms"]))
    for event in timeline:
        del event["at_ms"]  # times as text only (see _problem_doc)
    files = {
        "problem.json": _json(_problem_doc(problem, now_ms)),
        "transactions.json": _json([_txn_doc(t) for t in txns]),
        "messages.json": _json(messages),
        "receipts.txt": _receipts(txns, journal),
        "guide.json": _json(entries),
        "timeline.json": _json(timeline),
        "README.txt": _readme(problem, txns, entries),
    }  # fmt: skip
    return _write(out, files)


def _json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2)


def _problem_doc(p: Problem, now_ms: int) -> dict[str, Any]:
    # Times as text only: a 13-digit millisecond count can pass the Luhn test of a PAN.
    return {"id": p.id, "kind": p.kind, "refs": p.refs, "error": p.error,
            "checks": list(p.checks), "resolution": p.resolution, "outcome": p.outcome,
            "status": p.status, "opened_by": p.opened_by, "opened": _when(p.opened_ms),
            "updated": _when(p.updated_ms), "exported": _when(now_ms),
            "history": [{"at": _when(e.at_ms), "actor": e.actor, "what": e.kind,
                         "detail": e.detail} for e in p.history]}  # fmt: skip


def _write(out: Path, files: dict[str, str]) -> list[str]:
    masked = {name: mask_in_text(text) for name, text in files.items()}
    leaked = [name for name, text in masked.items() if find_pans(text)]
    assert not leaked, f"PAN-like numbers survived masking in {leaked}"
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as pack:
            for name, text in masked.items():
                pack.writestr(name, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    return list(masked)
