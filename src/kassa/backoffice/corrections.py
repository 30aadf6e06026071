"""Corrections (补登): each difference resolved by an appended entry, four eyes on each.

    c = propose(db, store, diff_id, "ops01", password, None, "lost upload", now_ms, audit,
                auto=True)
    approve(db, store, c.id, "sup01", password, totp_code, now_ms, audit)

One operator (role operator, supervisor or admin) makes a correction, manual (an amount
and a pair of accounts among `ALLOWED_PAIRS`) or by an automatic rule; another approves
it: a supervisor or admin, not the maker, confirming with password and one-time code
checked by the auth store (its lockout and replay rules apply). Only then is the ledger
entry appended (`kassa.ledger.correction`, entry id ``recon:<correction>``, txn key
``recon:<difference>:<TID>:<batch>:<STAN>``, the reason in its memo) and the difference
marked ``corrected``, in one transaction with the audit record. Nothing is ever edited:
a wrong correction is corrected by another one.

Automatic rules (`auto_plan`):
- ``post_capture``: missing_at_host for a sale-like (or refund-like) transaction the
  terminal holds as approved with a 12-digit RRN the host never issued to anything else:
  the card pays the merchant (the card found by its masked number, when exactly one card
  matches and its balance allows; the suspense account otherwise);
- ``reverse_at_host``: status_mismatch where the host holds the money and the terminal
  has it reversed or declined: the money goes back;
- ``mark_terminal_import``: missing_at_terminal: no money moves; the host's transaction
  is listed for the terminal to import and counts in the terminal's view from then on.

``delta_fen`` is what a correction adds to the host's view of the transaction, in the
transaction's own direction (a sale stands more when its merchant is credited more).
Every refusal is an InputError with one line saying why, and is audited too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kassa import ledger
from kassa.audit import AuditLog
from kassa.auth import Role
from kassa.auth.store import OperatorStore
from kassa.backoffice.recon_schema import DiffRecord, dumps, load_difference
from kassa.errors import InputError
from kassa.host import repo
from kassa.host.records import CAPTURE_TYPES
from kassa.money import Amount
from kassa.store import Database, Row, Transaction

__all__ = [
    "ALLOWED_PAIRS",
    "CHECKER_ROLES",
    "MAKER_ROLES",
    "Correction",
    "Plan",
    "accept",
    "approve",
    "authenticate",
    "auto_plan",
    "list_corrections",
    "manual_plan",
    "propose",
    "reject",
]

MAKER_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
CHECKER_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
ALLOWED_PAIRS = frozenset({
    ("card", "merchant"), ("merchant", "card"), ("suspense", "merchant"),
    ("merchant", "suspense"), ("card", "suspense"), ("suspense", "card"),
    ("merchant", "fee_income"), ("fee_income", "merchant"),
})  # fmt: skip
DEBIT_TYPES = frozenset(CAPTURE_TYPES)
CREDIT_TYPES = frozenset({"refund", "void", "completion_void"})
_RRN = re.compile(r"[0-9]{12}")


@dataclass(frozen=True, slots=True)
class Plan:
    """What a correction will do once approved."""

    mode: str  # "manual" | "auto"
    rule: str | None
    account_from: str | None  # None: no money moves (mark_terminal_import)
    account_to: str | None
    amount_fen: int
    delta_fen: int


@dataclass(frozen=True, slots=True)
class Correction:
    """A stored correction: ``status`` pending, approved or rejected."""

    id: int
    diff_id: int
    mode: str
    rule: str | None
    account_from: str | None
    account_to: str | None
    amount_fen: int
    delta_fen: int
    reason: str
    evidence: dict[str, Any]
    maker: str
    made_ms: int
    checker: str | None
    checked_ms: int | None
    status: str
    entry_id: str | None


_COLS = (
    "id, diff_id, mode, rule, account_from, account_to, amount_fen, delta_fen, reason,"
    " evidence, maker, made_ms, checker, checked_ms, status, entry_id"
)


def _correction(r: Row) -> Correction:
    return Correction(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7]), r[8],
                      json.loads(r[9]), r[10], r[11], r[12], r[13], r[14], r[15])  # fmt: skip


def list_corrections(
    tx: Transaction, diff_id: int | None = None, correction_id: int | None = None
) -> list[Correction]:
    """Corrections (of one difference, or one by id), oldest first."""
    where, params = "1 = 1", ()
    if diff_id is not None:
        where, params = "diff_id = ?", (diff_id,)  # type: ignore[assignment]
    if correction_id is not None:
        where, params = "id = ?", (correction_id,)  # type: ignore[assignment]
    rows = tx.fetchall(f"SELECT {_COLS} FROM recon_corrections WHERE {where} ORDER BY id", params)
    return [_correction(r) for r in rows]


# -- who ----------------------------------------------------------------------------------


def authenticate(
    store: OperatorStore,
    operator_id: str,
    password: str,
    code: str | None,
    now_ms: int,
    roles: frozenset[Role],
    *,
    need_code: bool = False,
) -> Role:
    """Check an operator's password (and one-time code) with the auth store; their role.

    InputError with the store's reason when refused, when the password must be changed
    first, when the role is not one of ``roles`` or when ``need_code`` and the operator
    has no one-time code.
    """
    result = store.login(operator_id, password, code, now_ms)
    if not result.ok:
        raise InputError(f"operator {operator_id}: {result.message_en} / {result.message_zh}")
    if not result.session_allowed:
        raise InputError(f"operator {operator_id} must change the password first")
    record = store.get(operator_id)
    role = result.role or (record.role if record else None)
    if role not in roles:
        allowed = " or ".join(sorted(r.value for r in roles))
        raise InputError(f"operator {operator_id} is a {role}: only {allowed} may do this")
    if need_code and (record is None or record.totp_secret_sealed is None):
        raise InputError(f"operator {operator_id} has no one-time code enrolled: renew it first")
    return role


# -- plans --------------------------------------------------------------------------------


def _direction(txn_type: str) -> int:
    return 1 if txn_type in DEBIT_TYPES else -1 if txn_type in CREDIT_TYPES else 0


def _txn(tx: Transaction, d: DiffRecord) -> tuple[str | None, str | None]:
    """(card_ref, mid) of the difference's transaction, from the host row or the terminal."""
    host = d.diff.host_view or {}
    txn_id = host.get("txn_id")
    row = repo.txn_by_id(tx, int(txn_id)) if txn_id is not None else None
    if row is not None:
        return row.card_ref, row.mid
    terminal = repo.terminal(tx, d.diff.tid)
    pan = (d.diff.terminal_view or {}).get("pan_masked")
    cards = tx.fetchall("SELECT card_ref FROM cards WHERE pan_masked = ?", (pan,)) if pan else []
    return (cards[0][0] if len(cards) == 1 else None), terminal.mid if terminal else None


def _account(kind: str, card_ref: str | None, mid: str | None) -> str:
    if kind == "card":
        if card_ref is None:
            raise InputError("the card of this transaction is not known: correct through suspense")
        return ledger.card_account(card_ref)
    if kind == "merchant":
        if mid is None:
            raise InputError("the merchant of this terminal is not known to the host")
        return ledger.merchant_account(mid)
    if kind in ("suspense", "fee_income"):
        return kind
    raise InputError(f"account {kind!r}: use card, merchant, suspense or fee_income")


def _delta(txn_type: str, account_from: str, account_to: str, amount: int) -> int:
    merchant = amount if account_to.startswith("merchant:") else (
        -amount if account_from.startswith("merchant:") else 0)  # fmt: skip
    return _direction(txn_type) * merchant


def manual_plan(
    tx: Transaction, d: DiffRecord, amount_fen: int, kind_from: str | None, kind_to: str | None
) -> Plan:
    """A manual correction of ``amount_fen`` between two accounts of an allowed pair; the
    pair defaults to the direction that brings the host to the terminal's view."""
    if amount_fen <= 0:
        raise InputError("a correction amount must be more than 0.00")
    if (kind_from is None) != (kind_to is None):
        raise InputError("give both --from and --to, or neither")
    if kind_from is None or kind_to is None:
        want = (d.diff.terminal_fen or 0) - (d.diff.host_fen or 0)
        more = want >= 0 if _direction(d.diff.txn_type) >= 0 else want < 0
        kind_from, kind_to = ("card", "merchant") if more else ("merchant", "card")
    if (kind_from, kind_to) not in ALLOWED_PAIRS:
        raise InputError(f"{kind_from} -> {kind_to} is not an allowed correction pair")
    card_ref, mid = _txn(tx, d)
    source, target = _account(kind_from, card_ref, mid), _account(kind_to, card_ref, mid)
    delta = _delta(d.diff.txn_type, source, target, amount_fen)
    return Plan("manual", None, source, target, amount_fen, delta)


def _funds_ok(tx: Transaction, account: str, amount: int) -> bool:
    if not account.startswith("card:"):
        return True
    card = repo.card_by_ref(tx, account.removeprefix("card:"))
    floor = -card.credit_limit_fen if card is not None and card.kind == "credit" else 0
    return repo.balance(tx, account) - amount >= floor


def auto_plan(tx: Transaction, d: DiffRecord) -> Plan:
    """The automatic rule for this difference (see the module docstring); InputError when
    none applies."""
    diff, term, host = d.diff, d.diff.terminal_view or {}, d.diff.host_view or {}
    sign = _direction(diff.txn_type)
    if diff.source == "terminal" and diff.kind == "missing_at_host" and sign:
        return _post_capture(tx, d, term, sign)
    held = host.get("status") == "approved"
    undone = term.get("state") in ("reversed", "declined")
    if diff.source == "terminal" and diff.kind == "status_mismatch" and sign and held and undone:
        card_ref, mid = _txn(tx, d)
        merchant, card = _account("merchant", card_ref, mid), _account("card", card_ref, mid)
        amount = int(host["amount_fen"])
        source, target = (merchant, card) if sign > 0 else (card, merchant)
        return Plan("auto", "reverse_at_host", source, target, amount, -amount)
    if diff.source == "terminal" and diff.kind == "missing_at_terminal" and held:
        return Plan("auto", "mark_terminal_import", None, None, int(host["amount_fen"]), 0)
    raise InputError(
        f"no automatic rule for difference {d.id} ({diff.kind}): make a manual correction"
        " (--amount) or accept it"
    )


def _post_capture(tx: Transaction, d: DiffRecord, term: dict[str, Any], sign: int) -> Plan:
    rrn = term.get("rrn") or ""
    if term.get("state") not in ("approved", "uploaded") or not _RRN.fullmatch(rrn):
        raise InputError(
            f"difference {d.id}: the terminal holds no approval with a valid RRN; correct it"
            " manually"
        )
    if repo.txns_by_rrn(tx, rrn):
        raise InputError(f"difference {d.id}: RRN {rrn} belongs to another host transaction")
    card_ref, mid = _txn(tx, d)
    amount = int(term["amount_fen"])
    merchant = _account("merchant", card_ref, mid)
    card = ledger.card_account(card_ref) if card_ref else ledger.SUSPENSE
    if sign > 0 and not _funds_ok(tx, card, amount):
        card = ledger.SUSPENSE  # the card cannot pay now: park it, someone collects later
    source, target = (card, merchant) if sign > 0 else (merchant, card)
    return Plan("auto", "post_capture", source, target, amount, amount)


# -- making, approving, rejecting, accepting -----------------------------------------------


def _open_difference(tx: Transaction, diff_id: int) -> DiffRecord:
    d = load_difference(tx, diff_id)
    if d is None:
        raise InputError(f"no difference {diff_id}: see `kassa recon list`")
    if d.status != "open":
        raise InputError(f"difference {diff_id} is {d.status}, not open")
    return d


def _refused(audit: AuditLog | None, actor: str, action: str, target: str,
             error: InputError, now_ms: int) -> None:  # fmt: skip
    if audit is not None:
        audit.record(actor, "-", action, target, {"refused": str(error)}, now_ms)


def propose(
    db: Database,
    store: OperatorStore,
    diff_id: int,
    maker: str,
    password: str,
    code: str | None,
    reason: str,
    now_ms: int,
    audit: AuditLog | None = None,
    *,
    auto: bool = False,
    amount_fen: int | None = None,
    kind_from: str | None = None,
    kind_to: str | None = None,
    note: str = "",
    attachments: Sequence[str] = (),
) -> Correction:
    """Make a correction of open, mismatched difference ``diff_id``, pending approval."""
    try:
        role = authenticate(store, maker, password, code, now_ms, MAKER_ROLES)
        if not reason.strip():
            raise InputError("a correction needs a reason: why the record is wrong")
        with db.transaction() as tx:
            return _propose_in(tx, diff_id, maker, role, reason.strip(), now_ms, audit, auto,
                               amount_fen, kind_from, kind_to, note, attachments)  # fmt: skip
    except InputError as exc:
        _refused(audit, maker, "recon.correct_refused", f"difference {diff_id}", exc, now_ms)
        raise


def _propose_in(tx: Transaction, diff_id: int, maker: str, role: Role, reason: str, now_ms: int,
                audit: AuditLog | None, auto: bool, amount_fen: int | None,
                kind_from: str | None, kind_to: str | None, note: str,
                attachments: Sequence[str]) -> Correction:  # fmt: skip
    d = _open_difference(tx, diff_id)
    if d.diff.klass != "mismatched":
        raise InputError(f"difference {diff_id} is still in flight: wait, run again, then correct")
    if any(c.status == "pending" for c in list_corrections(tx, diff_id)):
        raise InputError(f"difference {diff_id} already has a correction waiting for approval")
    if auto:
        plan = auto_plan(tx, d)
    elif amount_fen is None:
        raise InputError("a manual correction needs --amount (or use --auto)")
    else:
        plan = manual_plan(tx, d, amount_fen, kind_from, kind_to)
    evidence = {"note": note, "attachments": list(attachments)}
    diff = d.diff
    row = tx.fetchone(
        "INSERT INTO recon_corrections (diff_id, mode, rule, account_from, account_to,"
        " amount_fen, delta_fen, reason, evidence, maker, made_ms, status, tid, batch, stan,"
        " rrn, txn_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
        " RETURNING id",
        (diff_id, plan.mode, plan.rule, plan.account_from, plan.account_to, plan.amount_fen,
         plan.delta_fen, reason, dumps(evidence), maker, now_ms, diff.tid, diff.batch,
         diff.stan, diff.rrn, diff.txn_type),
    )  # fmt: skip
    assert row is not None
    if audit is not None:
        detail = {"difference": diff_id, "kind": diff.kind, "mode": plan.mode, "rule": plan.rule,
                  "from": plan.account_from, "to": plan.account_to,
                  "amount": Amount(plan.amount_fen).yuan(), "reason": reason, **evidence}  # fmt: skip
        audit.record_in(tx, maker, role.value, "recon.correct", f"correction {row[0]}", detail,
                        now_ms)  # fmt: skip
    return list_corrections(tx, correction_id=int(row[0]))[0]


def _pending(tx: Transaction, correction_id: int) -> Correction:
    found = list_corrections(tx, correction_id=correction_id)
    if not found:
        raise InputError(f"no correction {correction_id}: see `kassa recon list`")
    if found[0].status != "pending":
        raise InputError(f"correction {correction_id} is already {found[0].status}")
    return found[0]


def approve(
    db: Database,
    store: OperatorStore,
    correction_id: int,
    checker: str,
    password: str,
    code: str,
    now_ms: int,
    audit: AuditLog | None = None,
) -> Correction:
    """Approve a pending correction (four eyes): append its entry, mark it corrected."""
    target = f"correction {correction_id}"
    try:
        with db.transaction(write=False) as tx:
            maker = _pending(tx, correction_id).maker
        if maker == checker:
            raise InputError(f"{checker} made {target}: another supervisor must approve it")
        role = authenticate(store, checker, password, code, now_ms, CHECKER_ROLES, need_code=True)
        with db.transaction() as tx:
            return _approve_in(tx, correction_id, checker, role, now_ms, audit)
    except InputError as exc:
        _refused(audit, checker, "recon.approve_refused", target, exc, now_ms)
        raise


def _approve_in(tx: Transaction, correction_id: int, checker: str, role: Role, now_ms: int,
                audit: AuditLog | None) -> Correction:  # fmt: skip
    c = _pending(tx, correction_id)
    d = _open_difference(tx, c.diff_id)
    diff = d.diff
    entry_id = None
    if c.account_from is not None and c.account_to is not None:
        if not _funds_ok(tx, c.account_from, c.amount_fen):
            raise InputError(
                f"{c.account_from} cannot pay {Amount(c.amount_fen).yuan()} now: reject this"
                " correction and correct through suspense"
            )
        entry_id = f"recon:{c.id}"
        memo = (
            f"diff {c.diff_id} {c.rule or 'manual'}; maker {c.maker}, checker {checker}: {c.reason}"
        )
        entry = ledger.correction(
            c.account_from, c.account_to, c.amount_fen, memo[: ledger_memo_max],
            txn_key=f"recon:{c.diff_id}:{diff.tid}:{diff.batch}:{diff.stan}", at_ms=now_ms,
            entry_id=entry_id,
        )  # fmt: skip
        repo.append_entry(tx, entry)
    elif c.rule == "mark_terminal_import":
        _mark_import(tx, d, c, now_ms)
    tx.execute(
        "UPDATE recon_corrections SET status = 'approved', checker = ?, checked_ms = ?,"
        " entry_id = ? WHERE id = ? AND status = 'pending'",
        (checker, now_ms, entry_id, c.id),
    )
    _set_difference(tx, c.diff_id, "corrected", now_ms)
    if audit is not None:
        detail = {"difference": c.diff_id, "maker": c.maker, "entry": entry_id,
                  "amount": Amount(c.amount_fen).yuan(), "from": c.account_from,
                  "to": c.account_to, "reason": c.reason}  # fmt: skip
        audit.record_in(tx, checker, role.value, "recon.approve", f"correction {c.id}", detail,
                        now_ms)  # fmt: skip
    return list_corrections(tx, correction_id=c.id)[0]


ledger_memo_max = 200


def _mark_import(tx: Transaction, d: DiffRecord, c: Correction, now_ms: int) -> None:
    host = d.diff.host_view or {}
    tx.execute(
        "INSERT INTO recon_terminal_imports (diff_id, correction_id, tid, batch, stan, rrn,"
        " txn_type, amount_fen, state, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'approved', ?)",
        (d.id, c.id, d.diff.tid, d.diff.batch, d.diff.stan, d.diff.rrn, d.diff.txn_type,
         int(host.get("amount_fen") or c.amount_fen), int(host.get("created_ms") or now_ms)),
    )  # fmt: skip


def _set_difference(tx: Transaction, diff_id: int, status: str, now_ms: int) -> None:
    tx.execute(
        "UPDATE recon_differences SET status = ?, updated_ms = ? WHERE id = ? AND status = 'open'",
        (status, now_ms, diff_id),
    )


def reject(
    db: Database,
    store: OperatorStore,
    correction_id: int,
    checker: str,
    password: str,
    code: str,
    reason: str,
    now_ms: int,
    audit: AuditLog | None = None,
) -> Correction:
    """Refuse a pending correction (a supervisor or admin); the difference stays open."""
    try:
        role = authenticate(store, checker, password, code, now_ms, CHECKER_ROLES, need_code=True)
        with db.transaction() as tx:
            c = _pending(tx, correction_id)
            tx.execute(
                "UPDATE recon_corrections SET status = 'rejected', checker = ?, checked_ms = ?"
                " WHERE id = ?",
                (checker, now_ms, c.id),
            )
            if audit is not None:
                audit.record_in(tx, checker, role.value, "recon.reject", f"correction {c.id}",
                                {"difference": c.diff_id, "reason": reason}, now_ms)  # fmt: skip
            return list_corrections(tx, correction_id=c.id)[0]
    except InputError as exc:
        _refused(audit, checker, "recon.reject_refused", f"correction {correction_id}", exc, now_ms)
        raise


def accept(
    db: Database,
    store: OperatorStore,
    diff_id: int,
    actor: str,
    password: str,
    code: str,
    reason: str,
    now_ms: int,
    audit: AuditLog | None = None,
) -> DiffRecord:
    """Accept a difference as it is (explained, nothing to move): a supervisor or admin
    with a one-time code; it stays accepted when later runs find it again."""
    try:
        role = authenticate(store, actor, password, code, now_ms, CHECKER_ROLES, need_code=True)
        if not reason.strip():
            raise InputError("accepting a difference needs a reason")
        with db.transaction() as tx:
            d = _open_difference(tx, diff_id)
            _set_difference(tx, diff_id, "accepted", now_ms)
            if audit is not None:
                audit.record_in(tx, actor, role.value, "recon.accept", f"difference {diff_id}",
                                {"kind": d.diff.kind, "reason": reason}, now_ms)  # fmt: skip
            found = load_difference(tx, diff_id)
    except InputError as exc:
        _refused(audit, actor, "recon.accept_refused", f"difference {diff_id}", exc, now_ms)
        raise
    assert found is not None
    return found
