"""Property tests: random histories built through the builders, and mutations of them.

A small model of the host's rules (what may follow what, and whether the card can pay)
drives the builders; the ledger must then balance, pass every check and agree with a
naive recomputation. Each mutation of a sound history must be caught by the right pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sized
from dataclasses import dataclass, field

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kassa import ledger
from kassa.ledger import (
    SUSPENSE,
    EntryKind,
    LedgerEntry,
    Posting,
    ProblemCode,
    card_account,
    merchant_account,
)

CREDIT_LIMIT_FEN = 200_000
CARDS = {"debit-a": 0, "debit-b": 0, "credit-a": CREDIT_LIMIT_FEN}
MIDS = ["898100012340001", "898100012340002"]
UNDOING = {
    EntryKind.void,
    EntryKind.reversal,
    EntryKind.preauth_release,
    EntryKind.completion,
    EntryKind.completion_void,
}


def floor_fen(card_ref: str) -> int:
    return -CARDS[card_ref]


@dataclass
class Model:
    """What the host knows: entries so far, what may still be undone, what is approved."""

    entries: list[LedgerEntry] = field(default_factory=list)
    cards: dict[str, int] = field(default_factory=dict)  # running card balances
    sales: list[LedgerEntry] = field(default_factory=list)  # standing, not voided
    voids: list[tuple[LedgerEntry, LedgerEntry]] = field(default_factory=list)
    holds: list[LedgerEntry] = field(default_factory=list)  # open
    releases: list[tuple[LedgerEntry, LedgerEntry]] = field(default_factory=list)
    completions: list[tuple[LedgerEntry, LedgerEntry]] = field(default_factory=list)
    completion_voids: list[tuple[LedgerEntry, LedgerEntry, LedgerEntry]] = field(
        default_factory=list
    )
    approved: set[str] = field(default_factory=set)

    @property
    def at_ms(self) -> int:
        return 1_000 * len(self.entries)

    @property
    def entry_id(self) -> str:
        return f"E{len(self.entries):05d}"

    def key(self) -> str:
        return f"T1:000001:{len(self.entries):06d}"

    def can_pay(self, card_ref: str, amount_fen: int) -> bool:
        return self.cards.get(card_ref, 0) - amount_fen >= -CARDS[card_ref]

    def book(self, entry: LedgerEntry) -> LedgerEntry:
        for posting in entry.postings:
            if posting.account.startswith("card:"):
                ref = posting.account[5:]
                self.cards[ref] = self.cards.get(ref, 0) + posting.amount_fen
        self.entries.append(entry)
        return entry


def card_of(entry: LedgerEntry) -> str:
    return next(p.account[5:] for p in entry.postings if p.account[:5] in ("card:", "hold:"))


def held_of(hold: LedgerEntry) -> int:
    return next(p.amount_fen for p in hold.postings if p.amount_fen > 0)


def step(model: Model, data: st.DataObject) -> None:
    op = data.draw(st.sampled_from(sorted(OPERATIONS)))
    OPERATIONS[op](model, data)


def _pick(data: st.DataObject, items: Sized) -> int:
    return data.draw(st.integers(0, len(items) - 1))


def op_fund(m: Model, d: st.DataObject) -> None:
    ref = d.draw(st.sampled_from(sorted(CARDS)))
    m.book(
        ledger.fund(
            ref,
            d.draw(st.integers(1, 100_000)),
            txn_key=m.key(),
            at_ms=m.at_ms,
            entry_id=m.entry_id,
        )
    )


def op_sale(m: Model, d: st.DataObject) -> None:
    ref, mid = d.draw(st.sampled_from(sorted(CARDS))), d.draw(st.sampled_from(MIDS))
    amount = d.draw(st.integers(1, 50_000))
    if m.can_pay(ref, amount):
        entry = m.book(ledger.sale(m.key(), ref, mid, amount, at_ms=m.at_ms, entry_id=m.entry_id))
        m.sales.append(entry)
        m.approved.add(entry.txn_key)


def op_void(m: Model, d: st.DataObject) -> None:
    if m.sales:
        sale = m.sales.pop(_pick(d, m.sales))
        m.voids.append(
            (
                m.book(ledger.void_of(sale, txn_key=m.key(), at_ms=m.at_ms, entry_id=m.entry_id)),
                sale,
            )
        )


def op_reverse_sale(m: Model, d: st.DataObject) -> None:
    if m.sales:
        sale = m.sales.pop(_pick(d, m.sales))
        m.book(ledger.reversal_of(sale, at_ms=m.at_ms, entry_id=m.entry_id))
        m.approved.discard(sale.txn_key)


def op_reverse_void(m: Model, d: st.DataObject) -> None:
    if m.voids:
        i = _pick(d, m.voids)
        void, sale = m.voids[i]
        if m.can_pay(card_of(sale), -sale.amount_on(card_account(card_of(sale)))):
            del m.voids[i]
            m.book(ledger.reversal_of(void, at_ms=m.at_ms, entry_id=m.entry_id))
            m.sales.append(sale)


def op_refund(m: Model, d: st.DataObject) -> None:
    ref, mid = d.draw(st.sampled_from(sorted(CARDS))), d.draw(st.sampled_from(MIDS))
    m.book(
        ledger.refund(
            m.key(), ref, mid, d.draw(st.integers(1, 20_000)), at_ms=m.at_ms, entry_id=m.entry_id
        )
    )


def op_hold(m: Model, d: st.DataObject) -> None:
    ref, amount = d.draw(st.sampled_from(sorted(CARDS))), d.draw(st.integers(1, 50_000))
    if m.can_pay(ref, amount):
        m.holds.append(
            m.book(ledger.preauth_hold(m.key(), ref, amount, at_ms=m.at_ms, entry_id=m.entry_id))
        )


def op_reverse_hold(m: Model, d: st.DataObject) -> None:
    if m.holds:
        m.book(
            ledger.reversal_of(m.holds.pop(_pick(d, m.holds)), at_ms=m.at_ms, entry_id=m.entry_id)
        )


def op_release(m: Model, d: st.DataObject) -> None:
    if m.holds:
        hold = m.holds.pop(_pick(d, m.holds))
        m.releases.append(
            (
                m.book(
                    ledger.preauth_release(
                        hold, txn_key=m.key(), at_ms=m.at_ms, entry_id=m.entry_id
                    )
                ),
                hold,
            )
        )


def op_reverse_release(m: Model, d: st.DataObject) -> None:
    if m.releases:
        i = _pick(d, m.releases)
        release, hold = m.releases[i]
        if m.can_pay(card_of(hold), held_of(hold)):
            del m.releases[i]
            m.book(ledger.reversal_of(release, at_ms=m.at_ms, entry_id=m.entry_id))
            m.holds.append(hold)


def op_complete(m: Model, d: st.DataObject) -> None:
    if m.holds:
        i = _pick(d, m.holds)
        hold = m.holds[i]
        held = held_of(hold)
        amount = d.draw(st.integers(1, ledger.completion_max_fen(held)))
        if m.can_pay(card_of(hold), amount - held):
            del m.holds[i]
            mid = d.draw(st.sampled_from(MIDS))
            done = m.book(
                ledger.completion(
                    hold, amount, mid=mid, txn_key=m.key(), at_ms=m.at_ms, entry_id=m.entry_id
                )
            )
            m.completions.append((done, hold))
            m.approved.add(done.txn_key)


def op_void_completion(m: Model, d: st.DataObject) -> None:
    if m.completions:
        done, hold = m.completions.pop(_pick(d, m.completions))
        undone = m.book(
            ledger.completion_void_of(done, txn_key=m.key(), at_ms=m.at_ms, entry_id=m.entry_id)
        )
        m.completion_voids.append((undone, done, hold))
        m.holds.append(hold)


def op_reverse_completion(m: Model, d: st.DataObject) -> None:
    if m.completions:
        i = _pick(d, m.completions)
        done, hold = m.completions[i]
        # A completion below its hold gave the rest back to the card; undoing it takes
        # that back (as for the other reversals that debit a card: only if it can pay).
        if m.can_pay(card_of(hold), done.amount_on(card_account(card_of(hold)))):
            del m.completions[i]
            m.book(ledger.reversal_of(done, at_ms=m.at_ms, entry_id=m.entry_id))
            m.approved.discard(done.txn_key)
            m.holds.append(hold)


def op_reverse_completion_void(m: Model, d: st.DataObject) -> None:
    if m.completion_voids:
        i = _pick(d, m.completion_voids)
        undone, done, hold = m.completion_voids[i]
        extra = -done.amount_on(card_account(card_of(hold)))
        if hold in m.holds and m.can_pay(card_of(hold), extra):
            del m.completion_voids[i]
            m.holds.remove(hold)
            m.book(ledger.reversal_of(undone, at_ms=m.at_ms, entry_id=m.entry_id))
            m.completions.append((done, hold))


def op_fee(m: Model, d: st.DataObject) -> None:
    mid = d.draw(st.sampled_from(MIDS))
    m.book(
        ledger.fee(
            mid, d.draw(st.integers(1, 500)), txn_key=m.key(), at_ms=m.at_ms, entry_id=m.entry_id
        )
    )


def op_correction(m: Model, d: st.DataObject) -> None:
    ref, amount = d.draw(st.sampled_from(sorted(CARDS))), d.draw(st.integers(1, 10_000))
    pairs = [(SUSPENSE, card_account(ref)), (merchant_account(MIDS[0]), SUSPENSE)]
    if m.can_pay(ref, amount):
        pairs.append((card_account(ref), SUSPENSE))
    source, target = d.draw(st.sampled_from(pairs))
    entry = ledger.correction(
        source,
        target,
        amount,
        "supervisor 07: 补登 after journal diff",
        txn_key=m.key(),
        at_ms=m.at_ms,
        entry_id=m.entry_id,
    )
    m.book(entry)


OPERATIONS: dict[str, Callable[[Model, st.DataObject], None]] = {
    name[3:]: fn for name, fn in globals().items() if name.startswith("op_") and callable(fn)
}


def build(data: st.DataObject, steps_max: int = 60) -> Model:
    model = Model()
    for _ in range(data.draw(st.integers(1, steps_max))):
        step(model, data)
    return model


def naive_balances(entries: list[LedgerEntry]) -> dict[str, int]:
    accounts = {p.account for e in entries for p in e.postings}
    return {
        account: sum(p.amount_fen for e in entries for p in e.postings if p.account == account)
        for account in accounts
    }


def forge(entry: LedgerEntry, **changes: object) -> LedgerEntry:
    """A copy of ``entry`` with ``changes``, made around the constructor's checks."""
    forged = object.__new__(LedgerEntry)
    for f in dataclasses.fields(LedgerEntry):
        object.__setattr__(forged, f.name, changes.get(f.name, getattr(entry, f.name)))
    return forged


def live_undoers(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Undoing entries that nothing live undoes in turn (naive, independent of the code)."""
    by_target: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        if entry.reverses is not None:
            by_target.setdefault(entry.reverses, []).append(entry)

    def live(entry: LedgerEntry) -> bool:
        return not any(live(u) for u in by_target.get(entry.entry_id, []))

    return [e for e in entries if e.kind in UNDOING and live(e)]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_histories_balance_and_pass_every_check(data: st.DataObject) -> None:
    model = build(data)
    entries = model.entries
    totals = ledger.balances(iter(entries))
    assert sum(totals.values()) == 0
    assert totals == naive_balances(entries)
    assert all(totals.get(card_account(ref), 0) >= -limit for ref, limit in CARDS.items())
    assert ledger.check_all(iter(entries), model.approved, floor_fen) == []
    assert ledger.check_balanced(entries) == []
    assert ledger.check_links(entries) == []
    assert ledger.check_captures(entries, model.approved) == []
    assert ledger.check_card_floors(entries, floor_fen) == []
    assert ledger.check_holds(entries) == []


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_changed_amount_or_a_dropped_posting_is_caught_by_pass_a(data: st.DataObject) -> None:
    entries = build(data).entries
    assume(entries)
    i = data.draw(st.integers(0, len(entries) - 1))
    victim = entries[i]
    j = data.draw(st.integers(0, len(victim.postings) - 1))
    lines = list(victim.postings)
    if data.draw(st.booleans()):
        delta = data.draw(st.integers(-1000, 1000).filter(bool))
        assume(lines[j].amount_fen + delta != 0)
        lines[j] = Posting(lines[j].account, lines[j].amount_fen + delta)
    else:
        del lines[j]
    mutated = [*entries[:i], forge(victim, postings=tuple(lines)), *entries[i + 1 :]]
    found = {(p.code, p.entry_ids) for p in ledger.check_balanced(mutated)}
    caught = {ProblemCode.entry_unbalanced, ProblemCode.entry_malformed}
    assert any(code in caught and ids == (victim.entry_id,) for code, ids in found)
    assert any(p.code is ProblemCode.total_nonzero for p in ledger.check_balanced(mutated))
    assert ledger.check_all(mutated, set(), floor_fen) != []


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_booked_twice_undo_is_caught_by_pass_b(data: st.DataObject) -> None:
    entries = build(data).entries
    candidates = live_undoers(entries)
    assume(candidates)
    original = data.draw(st.sampled_from(candidates))
    copy = forge(original, entry_id=original.entry_id + "-again")
    position = data.draw(st.integers(entries.index(original) + 1, len(entries)))
    mutated = [*entries[:position], copy, *entries[position:]]
    problems = ledger.check_links(mutated)
    assert [p.code for p in problems] == [ProblemCode.reversed_twice]
    assert problems[0].entry_ids[0] == original.reverses
    assert {original.entry_id, copy.entry_id} <= set(problems[0].entry_ids)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_capture_booked_twice_or_lost_is_caught_by_pass_c(data: st.DataObject) -> None:
    model = build(data)
    entries = model.entries
    captures = [e for e in entries if e.kind in (EntryKind.sale, EntryKind.completion)]
    assume(captures)
    capture = data.draw(st.sampled_from(captures))
    if data.draw(st.booleans()):
        mutated = [*entries, forge(capture, entry_id=capture.entry_id + "-again")]
        expected = {ProblemCode.capture_duplicate, ProblemCode.capture_unapproved}
    else:
        assume(capture.txn_key in model.approved)
        mutated = [e for e in entries if e is not capture]
        expected = {ProblemCode.capture_missing}
    codes = {p.code for p in ledger.check_captures(mutated, model.approved)}
    assert codes and codes <= expected
