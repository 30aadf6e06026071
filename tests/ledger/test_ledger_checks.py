"""Each validation pass on hand-made ledgers: sound ones pass, each fault gets its code."""

from __future__ import annotations

import dataclasses

from kassa.ledger import (
    SUSPENSE,
    EntryKind,
    LedgerEntry,
    LedgerProblem,
    Posting,
    ProblemCode,
    card_account,
    check_all,
    check_balanced,
    check_captures,
    check_card_floors,
    check_holds,
    check_links,
    completion,
    correction,
    fund,
    hold_account,
    merchant_account,
    preauth_hold,
    preauth_release,
    refund,
    reversal_of,
    sale,
    void_of,
)

REF, MID = "tok-1", "898100012340001"
CARD, HOLD, SHOP = card_account(REF), hold_account(REF), merchant_account(MID)


def forge(entry: LedgerEntry, **changes: object) -> LedgerEntry:
    """A copy of ``entry`` with ``changes``, made around the constructor's checks, as a
    corrupted row or a lax loader would."""
    forged = object.__new__(LedgerEntry)
    for field in dataclasses.fields(LedgerEntry):
        value = changes.get(field.name, getattr(entry, field.name))
        object.__setattr__(forged, field.name, value)
    return forged


def codes(problems: list[LedgerProblem]) -> list[ProblemCode]:
    return [p.code for p in problems]


def funded_sale() -> tuple[LedgerEntry, LedgerEntry]:
    return (
        fund(REF, 10000, txn_key="F", at_ms=0, entry_id="f"),
        sale("S", REF, MID, 4000, at_ms=1, entry_id="s"),
    )


def test_changed_amount_is_unbalanced_and_breaks_the_grand_total() -> None:
    funded, bought = funded_sale()
    bad = forge(bought, postings=(Posting(CARD, -4000), Posting(SHOP, 4001)))
    problems = check_balanced([funded, bad])
    assert codes(problems) == [ProblemCode.entry_unbalanced, ProblemCode.total_nonzero]
    assert problems[0].entry_ids == ("s",)
    assert "1" in problems[1].message


def test_dropped_posting_and_unreadable_postings_are_malformed_not_crashes() -> None:
    funded, bought = funded_sale()
    one_line = forge(bought, postings=(Posting(CARD, -4000),))
    halves = (Posting(CARD, -40.0), Posting(SHOP, 40.0))  # type: ignore[arg-type]
    floats = forge(bought, entry_id="s2", postings=halves)
    listed = forge(bought, entry_id="s3", postings=[Posting(CARD, -1), Posting(SHOP, 1)])
    untyped = forge(bought, entry_id="s4", kind="sale")
    entries = [funded, one_line, floats, listed, untyped]
    problems = check_all(entries, {"S"}, lambda _ref: 0)
    malformed = [p for p in problems if p.code is ProblemCode.entry_malformed]
    assert [p.entry_ids for p in malformed] == [("s",), ("s2",), ("s3",), ("s4",)]
    assert ProblemCode.total_nonzero in codes(problems)  # the one readable posting counts


def test_a_sound_ledger_passes_every_check() -> None:
    funded, bought = funded_sale()
    held = preauth_hold("H", REF, 3000, at_ms=2, entry_id="h")
    done = completion(held, 2500, mid=MID, txn_key="C", at_ms=3, entry_id="c")
    entries = [funded, bought, held, done, refund("R", REF, MID, 100, at_ms=4, entry_id="r")]
    assert check_all(entries, {"S", "C"}, lambda _ref: 0) == []


def test_duplicate_entry_id() -> None:
    funded, bought = funded_sale()
    again = forge(bought, txn_key="S2")
    assert codes(check_links([funded, bought, again])) == [ProblemCode.entry_id_duplicate]


def test_reverses_must_name_an_earlier_entry_of_a_kind_it_may_undo() -> None:
    funded, bought = funded_sale()
    void = void_of(bought, txn_key="V", at_ms=2, entry_id="v")
    assert codes(check_links([funded, void, bought])) == [ProblemCode.reverses_unknown]
    assert codes(check_links([funded, forge(void, reverses="nope")])) == [
        ProblemCode.reverses_unknown
    ]
    refunded = refund("R", REF, MID, 4000, at_ms=2, entry_id="r")
    void_of_refund = forge(void, reverses="r")
    assert codes(check_links([refunded, void_of_refund])) == [ProblemCode.reverses_kind]


def test_undoing_entries_must_be_exact() -> None:
    funded, bought = funded_sale()
    half_void = LedgerEntry(
        "v", "V", EntryKind.void, (Posting(CARD, 2000), Posting(SHOP, -2000)), 2, reverses="s"
    )
    assert codes(check_links([funded, bought, half_void])) == [ProblemCode.reverse_mismatch]
    wrong_key = forge(reversal_of(bought, at_ms=2, entry_id="rv"), txn_key="OTHER")
    problems = check_links([funded, bought, wrong_key])
    assert codes(problems) == [ProblemCode.reverse_mismatch]
    assert "identity" in problems[0].message


def test_completion_must_release_the_whole_hold_within_tolerance() -> None:
    held = preauth_hold("H", REF, 10000, at_ms=1, entry_id="h")
    partial = LedgerEntry(
        "c", "C", EntryKind.completion, (Posting(HOLD, -9000), Posting(SHOP, 9000)), 2, reverses="h"
    )
    assert codes(check_links([held, partial])) == [ProblemCode.reverse_mismatch]
    greedy = LedgerEntry(
        "c",
        "C",
        EntryKind.completion,
        (Posting(HOLD, -10000), Posting(SHOP, 11501), Posting(CARD, -1501)),
        2,
        reverses="h",
    )
    assert codes(check_links([held, greedy])) == [ProblemCode.completion_over_limit]
    assert check_links([held, greedy], over_capture_max_percent=20) == []


def test_reversed_twice_counts_only_live_undoers() -> None:
    funded, bought = funded_sale()
    void = void_of(bought, txn_key="V", at_ms=2, entry_id="v")
    void_reversed = reversal_of(void, at_ms=3, entry_id="vr")
    void_again = void_of(bought, txn_key="V2", at_ms=4, entry_id="v2")
    assert check_links([funded, bought, void, void_reversed, void_again]) == []
    also_reversed = reversal_of(bought, at_ms=5, entry_id="rv")
    problems = check_links([funded, bought, void, void_reversed, void_again, also_reversed])
    assert codes(problems) == [ProblemCode.reversed_twice]
    assert problems[0].entry_ids == ("s", "v2", "rv")


def test_a_hold_is_consumed_once() -> None:
    held = preauth_hold("H", REF, 500, at_ms=1, entry_id="h")
    released = preauth_release(held, txn_key="R", at_ms=2, entry_id="r")
    done = completion(held, 500, mid=MID, txn_key="C", at_ms=3, entry_id="c")
    assert codes(check_links([held, released, done])) == [ProblemCode.reversed_twice]
    release_reversed = reversal_of(released, at_ms=3, entry_id="rr")
    assert check_links([held, released, release_reversed, done]) == []


def test_captures_per_approved_transaction() -> None:
    funded, bought = funded_sale()
    twice = sale("S", REF, MID, 4000, at_ms=2, entry_id="s-dup")
    stray = sale("X", REF, MID, 10, at_ms=3, entry_id="x")
    problems = check_captures([funded, bought, twice, stray], {"S", "MISSING"})
    by_code = {p.code: p for p in problems}
    assert set(by_code) == {
        ProblemCode.capture_duplicate,
        ProblemCode.capture_unapproved,
        ProblemCode.capture_missing,
    }
    assert by_code[ProblemCode.capture_duplicate].entry_ids == ("s", "s-dup")
    assert by_code[ProblemCode.capture_unapproved].entry_ids == ("x",)
    assert "MISSING" in by_code[ProblemCode.capture_missing].message
    # A reversed duplicate is a reversal pair and does not count; a reversed stray is fine.
    pairs = [
        funded,
        bought,
        twice,
        reversal_of(twice, at_ms=4, entry_id="r1"),
        stray,
        reversal_of(stray, at_ms=5, entry_id="r2"),
    ]
    assert check_captures(pairs, ["S"]) == []


def test_card_floors_debit_and_credit() -> None:
    funded, bought = funded_sale()
    over = sale("S2", REF, MID, 6001, at_ms=2, entry_id="s2")
    problems = check_card_floors([funded, bought, over], lambda _ref: 0)
    assert codes(problems) == [ProblemCode.card_below_floor]
    assert problems[0].entry_ids == ("s2",)
    asked: list[str] = []

    def credit_floor(ref: str) -> int:
        asked.append(ref)
        return -1

    assert check_card_floors([funded, bought, over], credit_floor) == []
    assert asked == [REF]  # asked once per card, not per posting


def test_holds_never_negative() -> None:
    held = preauth_hold("H", REF, 500, at_ms=1, entry_id="h")
    drained = correction(HOLD, SUSPENSE, 600, "bad ops", txn_key="K", at_ms=2, entry_id="k")
    problems = check_holds([held, drained])
    assert codes(problems) == [ProblemCode.hold_negative]
    assert problems[0].entry_ids == ("k",)


def test_problems_are_bounded() -> None:
    _, bought = funded_sale()
    bad = [
        forge(bought, entry_id=f"s{i}", postings=(Posting(CARD, -1), Posting(SHOP, 2)))
        for i in range(5)
    ]
    problems = check_balanced(bad, problems_max=3)
    assert codes(problems) == [ProblemCode.entry_unbalanced] * 3 + [ProblemCode.problems_truncated]
    assert problems[-1].message.startswith("3 more")
