"""balances and available."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kassa.ledger import (
    FUNDING,
    LedgerEntry,
    available,
    balances,
    card_account,
    fund,
    merchant_account,
    preauth_hold,
    sale,
)

MID = "898100012340001"


def test_balances_stream_a_generator_and_start_from_a_snapshot() -> None:
    consumed = []

    def entries() -> Iterator[LedgerEntry]:
        for i in range(1000):
            entry = sale(f"S{i}", f"tok{i % 7}", MID, i + 1, at_ms=i, entry_id=f"e{i}")
            consumed.append(i)
            yield entry

    result = balances(entries())
    assert len(consumed) == 1000
    assert result[merchant_account(MID)] == sum(range(1, 1001))
    assert sum(result.values()) == 0
    on_top = balances([fund("tok0", 5, txn_key="F", at_ms=0, entry_id="f")], start=result)
    assert on_top[card_account("tok0")] == result[card_account("tok0")] + 5
    assert FUNDING not in result


def test_balances_refuse_a_second_currency() -> None:
    usd = sale("S", "tok", MID, 100, at_ms=0, entry_id="e")
    object.__setattr__(usd, "currency", "840")  # a foreign ledger's entry slipped in
    with pytest.raises(ValueError, match="840"):
        balances([usd])
    assert balances([usd], currency="840")[card_account("tok")] == -100


def test_available_adds_the_credit_limit_and_already_excludes_holds() -> None:
    entries = [
        fund("debit", 10000, txn_key="F", at_ms=0, entry_id="f"),
        preauth_hold("H", "debit", 3000, at_ms=1, entry_id="h"),
        sale("S", "credit", MID, 4000, at_ms=2, entry_id="s"),
    ]
    totals = balances(entries)
    assert available("debit", totals) == 7000
    assert available("credit", totals, credit_limit_fen=5000) == 1000
    assert available("unknown", totals, credit_limit_fen=200) == 200
    with pytest.raises(ValueError):
        available("debit", totals, credit_limit_fen=-1)
