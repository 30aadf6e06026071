"""Daily merchant settlement (商户清算): what each merchant is owed for a day, booked once.

A settlement day ``D`` ends at the cut-off (``Cutoff``, 23:00 UTC+8 by default). The run
for ``D`` settles every transaction that moved merchant money, was created before that
cut-off and is not settled yet: normally those of the window [cut-off of D-1, cut-off of
D); a transaction that reached the host late (committed after the run of its own day) is
simply still unsettled, so the next day's run takes it. ``txn_settlement`` (primary key
``txn_id``) makes each transaction count exactly once.

What counts, read from the host's ``txns`` and the merchant line of each one's ledger
entry (so settlement and ledger cannot disagree on amounts or on the merchant):

- captures (sale, completion, completion advice, offline sale, offline upload) add their
  amount to ``gross_fen`` and are charged the merchant's fee (``fees.FeeSchedule``);
- approved refunds (退货) go to ``refunds_fen``; their fee follows ``RefundFees``;
- a void, completion void or reversal settled together with what it undoes cancels it:
  both are ``excluded`` (neither counted nor charged). One that undoes something settled
  on an earlier day is an ``adjust_fen`` of the opposite amount, and gives back the fee
  charged then (a reversal of such a void charges it again).

``net_fen = gross - refunds + adjust - fee``. A negative net (refunds above sales) is not
paid and not forgotten: it is carried as a payable from the merchant (``carry_in_fen`` of
its next settlement, <= 0) and deducted from later payouts; meanwhile the merchant's
ledger account stays below zero by that much. ``payout_fen = max(0, net + carry_in)``.

Booking, per merchant in one transaction with its ``merchant_settlements`` row: the fee
as entry ``fee:<day>:<mid>`` (merchant -> fee_income; a correction back when more fee was
returned than charged) and the payout ``payout:<day>:<mid>`` (merchant -> funding). That
row's key and those ids make a second booking impossible: a rerun of a finished day
returns what was stored; a run that died half-way resumes with the merchants left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from kassa.backoffice.fees import FeeSchedule, RefundFees, refund_fee_return
from kassa.backoffice.schema import Cutoff, DayResult, MerchantSettlement, load_day, owed_before
from kassa.errors import InputError, StoreError
from kassa.host import repo
from kassa.host.records import CAPTURE_TYPES, TxnRow
from kassa.ledger import FEE_INCOME, correction, fee, merchant_account, settlement_payout
from kassa.store import ConstraintError, Database, Transaction

__all__ = ["CAPTURE_TYPES", "UNDO_TYPES", "run_day"]

UNDO_TYPES = ("void", "completion_void", "reversal")
_MERCHANT_PREFIX = "merchant:"
# Rows that moved merchant money: approved once (voided/reversed ones were approved first).
# Read by the merchant's ledger postings (index ledger_postings(account, entry_id)) and
# their transactions (index txns(entry_id)): SEARCH, never a SCAN of txns.
_PENDING = (
    "SELECT t.id, t.txn_type, t.status, t.orig_id, p.amount_fen FROM ledger_postings p"
    " JOIN txns t ON t.entry_id = p.entry_id LEFT JOIN txn_settlement s ON s.txn_id = t.id"
    " WHERE p.account = ? AND s.txn_id IS NULL AND t.created_ms < ?"
    " AND t.status IN ('approved', 'voided', 'reversed') ORDER BY t.id"
)
# A transaction the risk rules held is not paid until a supervisor releases it in the
# console (with anything that undoes it): it waits for a later day, or for ever if declined.
# Few are held at a time: read once per merchant rather than looked up for every row.
_HELD = (
    "SELECT h.id FROM risk_alerts a JOIN txns h ON h.tid = a.tid AND h.batch = a.batch"
    " AND h.stan = a.stan AND h.mti <> '0400' WHERE a.action = 'hold' AND a.review <> 'released'"
)


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    txn_type: str
    status: str
    orig_id: int | None
    amount_fen: int  # the signed amount on the merchant's account


@dataclass(frozen=True, slots=True)
class _Settled:
    row: _Row
    role: str
    fee_fen: int


def run_day(
    db: Database,
    settle_day: date,
    now_ms: int,
    cutoff: Cutoff | None = None,
    *,
    refund_fees: RefundFees = RefundFees.kept,
    after_merchant: Callable[[MerchantSettlement], None] | None = None,
) -> DayResult:
    """Settle every merchant for ``settle_day``; idempotent and resumable (module docstring).

    ``after_merchant`` is called after each merchant's transaction commits (progress, and
    the tests' crash hook). InputError when the day has not closed at ``now_ms``, when a
    later day was already run, when an earlier run did not finish, or when the day was
    started with another cut-off or refund-fee policy.
    """
    cutoff = cutoff or Cutoff()
    start_ms, end_ms = cutoff.window_ms(settle_day)
    if now_ms < end_ms:
        raise InputError(
            f"settlement day {settle_day} closes at {cutoff.describe_end(settle_day)};"
            " run it after the cut-off"
        )
    day = settle_day.isoformat()
    with db.transaction() as tx:
        done = _start_run(tx, day, start_ms, end_ms, refund_fees, now_ms)
        mids = [] if done else _merchants_left(tx, day)
    for mid in mids:
        try:
            with db.transaction() as tx:
                settled = _settle_merchant(tx, day, mid, end_ms, refund_fees, now_ms)
        except ConstraintError:
            settled = None  # another runner settled this merchant at the same moment
        if settled is not None and after_merchant is not None:
            after_merchant(settled)
    with db.transaction() as tx:
        if not done:
            tx.execute(
                "UPDATE settlement_runs SET status = 'done', finished_ms = ?"
                " WHERE settle_day = ? AND status = 'running'",
                (now_ms, day),
            )
        result = load_day(tx, day)
    assert result is not None
    return result


def _start_run(
    tx: Transaction, day: str, start_ms: int, end_ms: int, policy: RefundFees, now_ms: int
) -> bool:
    """Record the run (or find it); True when the day is already done."""
    row = tx.fetchone(
        "SELECT status, window_start_ms, window_end_ms, refund_fees FROM settlement_runs"
        " WHERE settle_day = ?",
        (day,),
    )
    if row is not None:
        if (int(row[1]), int(row[2]), row[3]) != (start_ms, end_ms, policy.value):
            raise InputError(
                f"settlement day {day} was started with another cut-off or refund-fee policy"
                f" ({row[3]}); run it again with the same options"
            )
        return bool(row[0] == "done")
    later = tx.fetchone("SELECT MIN(settle_day) FROM settlement_runs WHERE settle_day > ?", (day,))
    if later is not None and later[0] is not None:
        raise InputError(f"day {later[0]} is already settled; settle days in order, not {day}")
    stuck = tx.fetchone("SELECT MIN(settle_day) FROM settlement_runs WHERE status = 'running'")
    if stuck is not None and stuck[0] is not None:
        raise InputError(f"the settlement of {stuck[0]} did not finish; run that day again first")
    tx.execute(  # a runner starting the same day at the same moment loses quietly
        "INSERT INTO settlement_runs (settle_day, status, window_start_ms, window_end_ms,"
        " refund_fees, started_ms) VALUES (?, 'running', ?, ?, ?, ?)"
        " ON CONFLICT (settle_day) DO NOTHING",
        (day, start_ms, end_ms, policy.value, now_ms),
    )
    return False


def _merchants_left(tx: Transaction, day: str) -> list[str]:
    """Every merchant with a ledger account and no settlement of ``day`` yet (those with
    nothing pending are skipped by `_settle_merchant`): one pass over an index, where
    looking for pending rows here would read every transaction twice."""
    rows = tx.fetchall(
        "SELECT DISTINCT account FROM ledger_postings WHERE account LIKE ?",
        (_MERCHANT_PREFIX + "%",),
    )
    done = {r[0] for r in tx.fetchall("SELECT mid FROM merchant_settlements WHERE settle_day = ?",
                                      (day,))}  # fmt: skip
    mids = {str(r[0]).removeprefix(_MERCHANT_PREFIX) for r in rows}
    return sorted(mids - done)


def _pending_rows(tx: Transaction, mid: str, end_ms: int) -> list[_Row]:
    held = {int(r[0]) for r in tx.fetchall(_HELD)}
    rows = tx.fetchall(_PENDING, (merchant_account(mid), end_ms))
    return [
        _Row(int(r[0]), r[1], r[2], None if r[3] is None else int(r[3]), int(r[4]))
        for r in rows
        if int(r[0]) not in held and (r[3] is None or int(r[3]) not in held)
    ]


def _settle_merchant(
    tx: Transaction, day: str, mid: str, end_ms: int, policy: RefundFees, now_ms: int
) -> MerchantSettlement | None:
    if tx.fetchone(
        "SELECT 1 FROM merchant_settlements WHERE settle_day = ? AND mid = ?", (day, mid)
    ):
        return None
    pending = _pending_rows(tx, mid, end_ms)
    if not pending:
        return None  # nothing to settle: no settlement row, as if never listed
    merchant = repo.merchant(tx, mid)
    if merchant is None:
        raise StoreError(f"merchant {mid} has ledger postings but no merchants row")
    schedule = FeeSchedule(
        merchant.fee_rate_ppm, merchant.fee_fixed_fen, merchant.fee_min_fen, merchant.fee_max_fen
    )
    settled = _FeeBook(tx, schedule, policy).settle(pending)
    tx.executemany(
        "INSERT INTO txn_settlement (txn_id, settle_day, mid, role, amount_fen, fee_fen)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(s.row.id, day, mid, s.role, s.row.amount_fen, s.fee_fen) for s in settled],
    )
    counted = [s for s in settled if s.role != "excluded"]

    def total(role: str) -> int:
        return sum(s.row.amount_fen for s in counted if s.role == role)

    gross, refunds, adjust = total("capture"), -total("refund"), total("adjust")
    fee_total = sum(s.fee_fen for s in counted)
    net = gross - refunds + adjust - fee_total
    carry_in = owed_before(tx, day, mid)
    payout = max(0, net + carry_in)
    fee_id, payout_id = _book(tx, day, mid, fee_total, payout, now_ms)
    result = MerchantSettlement(
        day, mid, merchant.name, gross, refunds, adjust, fee_total, net, carry_in, payout,
        len(counted), fee_id, payout_id,
    )  # fmt: skip
    tx.execute(
        "INSERT INTO merchant_settlements (settle_day, mid, name, gross_fen, refunds_fen,"
        " adjust_fen, fee_fen, net_fen, carry_in_fen, payout_fen, count, fee_entry_id,"
        " payout_entry_id, settled_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*result.row(), now_ms),
    )
    return result


def _book(
    tx: Transaction, day: str, mid: str, fee_total: int, payout: int, now_ms: int
) -> tuple[str | None, str | None]:
    key = f"settle:{day}:{mid}"
    fee_id = payout_id = None
    if fee_total:
        fee_id = f"fee:{day}:{mid}"
        if fee_total > 0:
            entry = fee(mid, fee_total, txn_key=key, at_ms=now_ms, entry_id=fee_id,
                        memo=f"fees of settlement {day}")  # fmt: skip
        else:
            entry = correction(FEE_INCOME, merchant_account(mid), -fee_total,
                               f"fees returned by settlement {day}", txn_key=key,
                               at_ms=now_ms, entry_id=fee_id)  # fmt: skip
        repo.append_entry(tx, entry)
    if payout:
        payout_id = f"payout:{day}:{mid}"
        repo.append_entry(tx, settlement_payout(mid, payout, txn_key=key, at_ms=now_ms,
                                                entry_id=payout_id,
                                                memo=f"payout of settlement {day}"))  # fmt: skip
    return fee_id, payout_id


class _FeeBook:
    """Roles and fees of one merchant's pending rows; looks up originals when it must."""

    def __init__(self, tx: Transaction, schedule: FeeSchedule, policy: RefundFees) -> None:
        self.tx, self.schedule, self.policy = tx, schedule, policy
        self.fees: dict[int, int] = {}

    def settle(self, rows: list[_Row]) -> list[_Settled]:
        """``rows`` in id order, so an original settled now is priced before its undo."""
        ids = {r.id for r in rows}
        excluded: set[int] = set()
        for r in rows:
            # A standing undo (not itself undone) of a row settled now: the pair cancels.
            if r.txn_type in UNDO_TYPES and r.status == "approved" and r.orig_id in ids:
                excluded |= {r.id, r.orig_id}
            self.fees[r.id] = self._fee(r.id, r.txn_type, r.orig_id, abs(r.amount_fen))
        return [_Settled(r, self._role(r, excluded), self.fees[r.id]) for r in rows]

    @staticmethod
    def _role(row: _Row, excluded: set[int]) -> str:
        if row.id in excluded:
            return "excluded"
        if row.txn_type in CAPTURE_TYPES:
            return "capture"
        return "refund" if row.txn_type == "refund" else "adjust"

    def _fee_of(self, txn_id: int) -> int:
        """The signed fee of an earlier transaction: as settled if it was, else as it
        would be."""
        if txn_id not in self.fees:
            stored = self.tx.fetchone("SELECT fee_fen FROM txn_settlement WHERE txn_id = ?",
                                      (txn_id,))  # fmt: skip
            if stored is not None:
                self.fees[txn_id] = int(stored[0])
            else:
                row = self._txn(txn_id)
                self.fees[txn_id] = self._fee(row.id, row.txn_type, row.orig_id, row.amount_fen)
        return self.fees[txn_id]

    def _txn(self, txn_id: int) -> TxnRow:
        row = repo.txn_by_id(self.tx, txn_id)
        if row is None:
            raise StoreError(f"transaction {txn_id} is referred to but missing from txns")
        return row

    def _fee(self, txn_id: int, txn_type: str, orig_id: int | None, amount_fen: int) -> int:
        if txn_type in CAPTURE_TYPES:
            return self.schedule.fee(amount_fen)
        if orig_id is None:
            return 0
        if txn_type in UNDO_TYPES:
            return -self._fee_of(orig_id)
        if txn_type != "refund" or self.policy is RefundFees.kept:
            return 0
        original = self._txn(orig_id)
        before = self.tx.fetchone(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM txns WHERE orig_id = ? AND id < ?"
            " AND txn_type = 'refund' AND status = 'approved'",
            (orig_id, txn_id),
        )
        refunded = int(before[0]) if before else 0
        charged = max(0, self._fee_of(orig_id))
        return -refund_fee_return(original.amount_fen, charged, refunded, amount_fen)
