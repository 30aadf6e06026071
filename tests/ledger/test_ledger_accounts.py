"""Account ids: constructors, kinds, refs, and refusals."""

from __future__ import annotations

import pytest

from kassa.ledger import (
    FEE_INCOME,
    FUNDING,
    SUSPENSE,
    AccountKind,
    account_kind,
    account_ref,
    card_account,
    hold_account,
    merchant_account,
)


def test_constructors_name_their_kind_and_ref() -> None:
    cases = [
        (card_account("tok-1"), AccountKind.card, "tok-1"),
        (hold_account("tok-1"), AccountKind.hold, "tok-1"),
        (merchant_account("898100012340001"), AccountKind.merchant, "898100012340001"),
        (FEE_INCOME, AccountKind.fee_income, ""),
        (FUNDING, AccountKind.funding, ""),
        (SUSPENSE, AccountKind.suspense, ""),
    ]
    for account, kind, ref in cases:
        assert account_kind(account) is kind
        assert account_ref(account) == ref
    assert card_account("tok-1") == "card:tok-1"
    assert card_account("tok-1") != hold_account("tok-1")


@pytest.mark.parametrize(
    "account",
    ["", "card", "card:", "cash:tok", "fee_income:x", "funding:x", "card:a b", "card:\x00", 7],
)
def test_malformed_account_ids_are_refused(account: object) -> None:
    with pytest.raises(ValueError):
        account_kind(account)  # type: ignore[arg-type]


@pytest.mark.parametrize("ref", ["", "a b", "x" * 65, "tab\t", "卡"])
def test_bad_refs_are_refused(ref: str) -> None:
    with pytest.raises(ValueError):
        card_account(ref)
    with pytest.raises(ValueError):
        merchant_account(ref)


@pytest.mark.parametrize("pan", ["6222021234567890123", "622202123456", "4111111111111111"])
def test_a_pan_is_never_an_account_id(pan: str) -> None:
    with pytest.raises(ValueError, match="PAN"):
        card_account(pan)
    with pytest.raises(ValueError, match="PAN"):
        account_kind("hold:" + pan)


def test_a_short_numeric_ref_and_a_numeric_mid_are_fine() -> None:
    # 11 digits cannot be a PAN; a MID is 15 digits and is not card data.
    assert account_kind(card_account("12345678901")) is AccountKind.card
    assert account_kind(merchant_account("898100012340001")) is AccountKind.merchant
