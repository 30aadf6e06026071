"""The invariants: what must hold after every step, and after the day's settlement.

After every step:
- money is conserved: the postings of the host ledger sum to zero, and so do the accounts;
- no transaction identity (TID:batch:STAN) is authorised twice at the host;
- nothing the cashier was told is approved (online or offline) has become undone.

After settlement (`final`): every journal row agrees with the host (approved at the
terminal ⇔ captured at the host, reversed or declined ⇔ not captured), nothing is left
unresolved, every settled batch agrees to the fen with the host's totals and 0510 answer,
every card and the merchant hold what the journals say, `check_host` passes and every
approval has its receipt queued or printed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from kassa.host.admin import card_ref_for
from kassa.host.check import check_host
from kassa.iso8583.fields import Field48Settlement, SettlementTotals
from kassa.ledger import card_account, hold_account, merchant_account
from kassa.sim.model import Violation
from kassa.sim.reference import CARDS, MID
from kassa.sim.world import Till, World
from kassa.terminal.journal import TxnRecord
from kassa.terminal.states import State
from kassa.terminal.totals import CREDIT_TYPES, DEBIT_TYPES, settlement_totals

_S = State
# What the host may say about a transaction the terminal holds in each final state.
_NOT_CHARGED = frozenset({None, "declined", "reversed"})
_ALLOWED: dict[State, frozenset[str | None]] = {
    _S.APPROVED: frozenset({"approved"}),
    _S.UPLOADED: frozenset({"approved"}),
    _S.VOIDED: frozenset({"voided"}),
    _S.DECLINED: _NOT_CHARGED,
    _S.REVERSED: _NOT_CHARGED,
    _S.OFFLINE_DECLINED: _NOT_CHARGED,
    _S.NOT_SENT: frozenset({None}),
}
_UNRESOLVED = frozenset({_S.PENDING, _S.IN_DOUBT, _S.RESEND, _S.OFFLINE})
# A cashier told "approved" (or "approved offline") may later see only these states.
_TOLD_OK = frozenset({_S.APPROVED, _S.VOIDED, _S.OFFLINE, _S.UPLOADED, _S.OFFLINE_DECLINED})
_RECEIPTED = frozenset({_S.APPROVED, _S.VOIDED, _S.OFFLINE, _S.UPLOADED, _S.OFFLINE_DECLINED})


class Checker:
    """Collects violations; `told` remembers what each cashier was told."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.violations: list[Violation] = []
        self.told: dict[tuple[int, int], State] = {}
        self._seen: set[tuple[str, str]] = set()

    def fail(self, invariant: str, detail: str, step: int) -> None:
        if (invariant, detail) not in self._seen:  # one report per distinct problem
            self._seen.add((invariant, detail))
            self.violations.append(Violation(invariant, detail, step))

    # -- after every step ---------------------------------------------------------------

    def step(self, step: int) -> None:
        with self.world.host_db.transaction(write=False) as tx:
            postings = tx.fetchone("SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_postings")
            accounts = tx.fetchone("SELECT COALESCE(SUM(balance_fen), 0) FROM accounts")
            twice = tx.fetchall(
                "SELECT tid, batch, stan, COUNT(*) FROM txns WHERE mti IN ('0100', '0200',"
                " '0220') AND status IN ('approved', 'completed', 'voided')"
                " GROUP BY tid, batch, stan HAVING COUNT(*) > 1"
            )
        if postings is None or int(postings[0]) != 0 or accounts is None or int(accounts[0]) != 0:
            self.fail("money-conserved", f"postings sum {postings}, accounts sum {accounts}", step)
        for tid, batch, stan, n in twice:
            self.fail("authorised-once", f"{tid}:{batch}:{stan} authorised {n} times", step)
        for till in self.world.tills:
            self._told_stays(till, step)

    def _told_stays(self, till: Till, step: int) -> None:
        told = {txn_id: s for (index, txn_id), s in self.told.items() if index == till.index}
        if not told or till.terminal is None:
            return
        marks = ", ".join("?" for _ in told)
        rows = {r.id: r for r in till.pos.journal.txns(f"id IN ({marks})", tuple(told))}
        for txn_id, said in sorted(told.items()):
            row = rows.get(txn_id)
            if row is None or row.state not in _TOLD_OK:
                state = row.state.value if row else "missing"
                self.fail("told-approved-stays", f"{till.name} txn {txn_id}: cashier was told"
                          f" {said.value}, journal now says {state}", step)  # fmt: skip

    # -- after the day --------------------------------------------------------------------

    def final(self, step: int) -> None:
        expected_cards: dict[str, int] = {
            card_ref_for(self.world.secrets, c.pan): c.balance_fen for c in CARDS
        }
        merchant = 0
        for till in self.world.tills:
            rows = till.pos.journal.txns()
            self._rows_agree(till, rows, step)
            self._settled(till, rows, step)
            self._receipts(till, rows, step)
            merchant += self._money(till, rows, expected_cards)
        self._balances(expected_cards, merchant, step)
        with self.world.host_db.transaction(write=False) as tx:
            report = check_host(tx)
        for problem in report.problems:
            self.fail("check-host", problem, step)

    def _host_rows(self, tid: str) -> dict[tuple[str, str], tuple[str, str]]:
        with self.world.host_db.transaction(write=False) as tx:
            rows = tx.fetchall(
                "SELECT batch, stan, status, txn_type FROM txns WHERE tid = ?"
                " AND mti IN ('0100', '0200', '0220')",
                (tid,),
            )
        return {(r[0], r[1]): (str(r[2]), str(r[3])) for r in rows}

    def _rows_agree(self, till: Till, rows: list[TxnRecord], step: int) -> None:
        host = self._host_rows(till.name)
        for row in rows:
            status = host.get((row.batch, row.stan), (None, None))[0]
            where = f"{till.name}:{row.batch}:{row.stan} {row.txn_type} {row.amount_fen} fen"
            if row.state in _UNRESOLVED:
                self.fail("resolved-after-settlement",
                          f"{where} still {row.state.value} (host: {status})", step)  # fmt: skip
                continue
            allowed = _ALLOWED.get(row.state)
            if row.state is _S.APPROVED and row.txn_type == "preauth":
                allowed = frozenset({"approved", "completed"})
            if allowed is not None and status not in allowed:
                self.fail("terminal-agrees-with-host",
                          f"{where}: terminal {row.state.value}, host {status}", step)  # fmt: skip

    def _settled(self, till: Till, rows: list[TxnRecord], step: int) -> None:
        journal = till.pos.journal
        with journal.db.transaction(write=False) as tx:
            runs = {str(r[0]): str(r[1]) for r in tx.fetchall(
                "SELECT batch, step FROM settlement_runs")}  # fmt: skip
        batches = {r.batch for r in rows if r.state in (_S.APPROVED, _S.UPLOADED)}
        for batch in sorted(batches | set(runs)):
            if runs.get(batch) != "done":
                self.fail("batch-settled", f"{till.name} batch {batch}: settlement"
                          f" {runs.get(batch, 'never started')}", step)  # fmt: skip
                continue
            ours = settlement_totals(r for r in rows if r.batch == batch).domestic
            self._batch_agrees(till.name, batch, ours, step)

    def _batch_agrees(self, tid: str, batch: str, ours: SettlementTotals, step: int) -> None:
        with self.world.host_db.transaction(write=False) as tx:
            row = tx.fetchone(
                "SELECT status, host_totals, result FROM settlements WHERE tid = ? AND batch = ?",
                (tid, batch),
            )
            now = tx.fetchall(
                "SELECT txn_type, amount_fen FROM txns WHERE tid = ? AND batch = ?"
                " AND status = 'approved'",
                (tid, batch),
            )
        where = f"{tid} batch {batch}"
        if row is None or row[0] != "closed":
            self.fail("batch-settled", f"{where}: host settlement {row}", step)
            return
        answered = Field48Settlement.parse(str(row[1])).domestic
        if not answered.same_totals(ours) or not str(row[2]).startswith("1"):
            self.fail("settlement-agrees", f"{where}: journal {_fmt(ours)}, host answered"
                      f" {_fmt(answered)} result {row[2]}", step)  # fmt: skip
        host_now = _totals((str(t), int(a)) for t, a in now)
        if not host_now.same_totals(ours):
            self.fail("settlement-agrees", f"{where}: journal {_fmt(ours)}, host ledger now"
                      f" {_fmt(host_now)}", step)  # fmt: skip

    def _receipts(self, till: Till, rows: list[TxnRecord], step: int) -> None:
        with till.pos.journal.db.transaction(write=False) as tx:
            jobs = {int(r[0]) for r in tx.fetchall("SELECT DISTINCT txn_id FROM print_jobs")}
        for row in rows:
            if row.state in _RECEIPTED and row.txn_type != "balance" and row.id not in jobs:
                self.fail("receipt-kept", f"{till.name}:{row.batch}:{row.stan} {row.txn_type}"
                          f" {row.state.value} has no receipt job", step)  # fmt: skip

    def _money(self, till: Till, rows: list[TxnRecord], cards: dict[str, int]) -> int:
        """Apply the journal's captures and refunds to `cards`; the merchant's net."""
        net = 0
        for row in rows:
            if row.state not in (_S.APPROVED, _S.UPLOADED):
                continue
            sign = -1 if row.txn_type in DEBIT_TYPES else 1 if row.txn_type in CREDIT_TYPES else 0
            if sign == 0:
                continue
            pan = (till.pos.journal.sealed(row.id, "pan_sealed") or b"").decode()
            ref = card_ref_for(self.world.secrets, pan)
            cards[ref] = cards.get(ref, 0) + sign * (row.amount_fen or 0)
            net -= sign * (row.amount_fen or 0)
        return net

    def _balances(self, cards: dict[str, int], merchant: int, step: int) -> None:
        with self.world.host_db.transaction(write=False) as tx:
            held = {str(r[0]): int(r[1]) for r in tx.fetchall(
                "SELECT account, balance_fen FROM accounts")}  # fmt: skip
        for ref, expected in sorted(cards.items()):
            got = held.get(card_account(ref), 0) + held.get(hold_account(ref), 0)
            if got != expected:
                self.fail("card-balance", f"card {ref}: host holds {got} fen, the"
                          f" journals say {expected} fen", step)  # fmt: skip
        got = held.get(merchant_account(MID), 0)
        if got != merchant:
            self.fail("merchant-balance", f"merchant {MID}: host owes {got} fen, the journals"
                      f" say {merchant} fen", step)  # fmt: skip


def _totals(rows: Iterable[tuple[str, int]]) -> SettlementTotals:
    by: dict[str, list[int]] = defaultdict(list)
    for kind, amount in rows:
        if kind in DEBIT_TYPES or kind == "offline_upload":
            by["debit"].append(amount)
        elif kind in CREDIT_TYPES:
            by["credit"].append(amount)
    debit, credit = by["debit"], by["credit"]
    return SettlementTotals(sum(debit), len(debit), sum(credit), len(credit))


def _fmt(t: SettlementTotals) -> str:
    return f"debits {t.debit_count}/{t.debit_amount_fen} credits {t.credit_count}/{t.credit_amount_fen}"
