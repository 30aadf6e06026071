"""LedgerEntry construction: every malformed entry is a ValueError (a bug, not input)."""

from __future__ import annotations

import dataclasses

import pytest

from kassa import limits
from kassa.ledger import (
    FEE_INCOME,
    FUNDING,
    EntryKind,
    LedgerEntry,
    Posting,
    card_account,
    hold_account,
    merchant_account,
)

CARD = card_account("tok-a")
OTHER_CARD = card_account("tok-b")
HOLD = hold_account("tok-a")
SHOP = merchant_account("898100012340001")


def entry(kind: EntryKind, /, *postings: tuple[str, int], **changes: object) -> LedgerEntry:
    fields: dict[str, object] = {
        "entry_id": "e1",
        "txn_key": "T1:000001:000001",
        "kind": kind,
        "postings": tuple(Posting(a, n) for a, n in postings),
        "at_ms": 1_700_000_000_000,
        "memo": "",
        "reverses": None,
    }
    fields.update(changes)
    return LedgerEntry(**fields)  # type: ignore[arg-type]


def test_a_well_formed_sale_is_accepted_and_immutable() -> None:
    sale = entry(EntryKind.sale, (CARD, -10000), (SHOP, 10000))
    assert sale.currency == "156"
    assert sale.amount_on(CARD) == -10000
    assert sale.amount_on(FUNDING) == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        sale.memo = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("postings", "match"),
    [
        (((CARD, -100),), "at least 2"),
        (((CARD, -100), (SHOP, 99)), "sum to -1"),
        (((CARD, 0), (SHOP, 0)), "zero"),
        (((CARD, -100), (CARD, 100)), "twice"),
        (((CARD, -100), ("cash:x", 100)), "unknown account"),
        (((CARD, -(limits.amount_max_fen + 1)), (SHOP, limits.amount_max_fen + 1)), "range"),
        (((CARD, 100), (SHOP, -100)), "cannot post"),  # a sale the wrong way round
        (((CARD, -100), (FEE_INCOME, 100)), "cannot post"),  # a sale to the wrong account
        (((CARD, -100), (SHOP, 60), (merchant_account("m2"), 40)), "cannot post"),
    ],
)
def test_malformed_sales_are_refused(postings: tuple[tuple[str, int], ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        entry(EntryKind.sale, *postings)


def test_amounts_must_be_ints_not_floats_or_bools() -> None:
    with pytest.raises(ValueError):
        entry(EntryKind.sale, (CARD, -100.0), (SHOP, 100.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        entry(EntryKind.fund, (FUNDING, -True), (CARD, True))


def test_a_hold_must_stay_on_one_card() -> None:
    with pytest.raises(ValueError, match="cannot post"):
        entry(EntryKind.preauth_hold, (OTHER_CARD, -100), (HOLD, 100))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"entry_id": ""}, "entry_id"),
        ({"txn_key": "T1\n"}, "txn_key"),
        ({"at_ms": -1}, "at_ms"),
        ({"at_ms": 1.5}, "at_ms"),
        ({"memo": "x" * 201}, "memo"),
        ({"currency": "CNY"}, "currency"),
        ({"currency": "15"}, "currency"),
        ({"reverses": "e0"}, "takes no `reverses`"),
        ({"kind": "sale"}, "EntryKind"),
    ],
)
def test_bad_header_fields_are_refused(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        entry(EntryKind.sale, (CARD, -100), (SHOP, 100), **changes)


def test_undoing_kinds_need_reverses() -> None:
    with pytest.raises(ValueError, match="needs `reverses`"):
        entry(EntryKind.void, (CARD, 100), (SHOP, -100))
    void = entry(EntryKind.void, (CARD, 100), (SHOP, -100), reverses="e0")
    assert void.reverses == "e0"


def test_completion_shapes_with_and_without_a_card_line() -> None:
    exact = entry(EntryKind.completion, (HOLD, -500), (SHOP, 500), reverses="h")
    under = entry(EntryKind.completion, (HOLD, -500), (SHOP, 480), (CARD, 20), reverses="h")
    over = entry(EntryKind.completion, (HOLD, -500), (SHOP, 520), (CARD, -20), reverses="h")
    assert [len(e.postings) for e in (exact, under, over)] == [2, 3, 3]
    with pytest.raises(ValueError, match="cannot post"):
        entry(EntryKind.completion, (HOLD, -500), (SHOP, 480), (OTHER_CARD, 20), reverses="h")


def test_corrections_and_reversals_may_touch_any_accounts() -> None:
    for kind, reverses in ((EntryKind.correction, None), (EntryKind.reversal, "e0")):
        made = entry(kind, (CARD, -5), (FEE_INCOME, 3), (SHOP, 2), reverses=reverses)
        assert sum(p.amount_fen for p in made.postings) == 0
