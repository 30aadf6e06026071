"""The inputs of reconciliation: journal lines and the sort that spills to disk."""

from __future__ import annotations

import json
from operator import itemgetter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kassa.backoffice import _recon_sort
from kassa.backoffice._recon_sort import SortedInput
from kassa.backoffice.recon_views import TermRow, journal_row
from kassa.errors import InputError

_KEY = itemgetter(0, 1, 2)
fan_in_default = _recon_sort.merge_fan_in
rows = st.lists(
    st.tuples(st.sampled_from(["12345678", "87654321", "0000000A"]),
              st.sampled_from(["000001", "000002"]), st.integers(1, 6).map(lambda n: f"{n:06d}"),
              st.integers(0, 10**6)),
    max_size=200,
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(rows, st.integers(1, 17), st.integers(1, 5), st.integers(2, 6))
def test_spilled_sort_equals_a_stable_sort_in_memory(
    items: list[tuple[str, str, str, int]], chunk: int, block: int, fan_in: int
) -> None:
    _recon_sort.merge_fan_in = fan_in  # runs merged ahead of the end when more are spilled
    sorter = SortedInput(_KEY, chunk_rows=chunk, block_rows=block)
    try:
        sorter.add(items)
        sorter.add(["bad.jsonl:3: nope"])
        with pytest.raises(InputError, match=r"1 bad input row\(s\).*bad.jsonl:3: nope"):
            sorter.check()
        blocks = list(sorter.blocks())
        assert all(blocks)  # no empty block
        assert [r for b in blocks for r in b] == sorted(items, key=_KEY)  # stable: ties kept
        assert sorter.count == len(items) and sorter.tids == {i[0] for i in items}
    finally:
        sorter.close()
        _recon_sort.merge_fan_in = fan_in_default


def test_journal_lines() -> None:
    doc = {"batch": "000001", "stan": "000042", "txn_type": "sale", "amount_fen": 1200,
           "state": "approved", "rrn": "261118000042", "created_ms": 5, "pan_masked": "6212*"}  # fmt: skip
    row = journal_row(json.dumps(doc), "12345678", "j.jsonl:1")
    assert row is not None
    assert TermRow._make(row) == TermRow("12345678", "000001", "000042", "261118000042", "sale",
                                          1200, "approved", 5, "6212*", "j.jsonl:1")  # fmt: skip
    assert journal_row(json.dumps({**doc, "txn_type": "balance"}), "12345678", "x") is None
    for bad, message in (({**doc, "stan": "42"}, "6 digits"), ({**doc, "state": "odd"}, "unknown"),
                         ({**doc, "amount_fen": "12"}, "integers"), (doc, "terminal id")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            journal_row(json.dumps(bad), None if bad is doc else "12345678", "x")
    with pytest.raises(ValueError, match="not JSON"):
        journal_row("{", "12345678", "x")
