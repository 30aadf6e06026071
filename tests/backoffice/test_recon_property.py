"""Whatever corrections are made and approved, in whatever order, the ledger stays sound:
every account together sums to zero and `check_host` finds nothing wrong."""

from __future__ import annotations

from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st
from test_recon_kit import CREDIT_PAN, PAN, PASSWORD, REFERENCE, Staff, Term, host_ok, open_host

from kassa.backoffice import corrections as corr
from kassa.backoffice.recon import ensure_schema
from kassa.backoffice.recon_schema import Difference, record_run, store_differences
from kassa.errors import InputError
from kassa.iso8583.transactions import TxnType
from kassa.store import Database

PAIRS = sorted(corr.ALLOWED_PAIRS)


def _sales(db: Database, term: Term) -> list[tuple[int, str]]:
    term.sign_on()
    out = []
    for pan, pin, amount in ((PAN, "1234", 30_000), (CREDIT_PAN, "4321", 50_000)):
        reply = term.send(term.request(TxnType.SALE, amount, pin=pin, pan=pan))
        assert reply[39] == "00"
        with db.transaction(write=False) as tx:
            row = tx.fetchone("SELECT id, txn_type FROM txns WHERE rrn = ?", (reply[37],))
        assert row is not None
        out.append((int(row[0]), str(row[1])))
    return out


def _difference(db: Database, run_id: int, stan: int, txn_id: int, now_ms: int) -> int:
    diff = Difference(
        "amount_mismatch", "mismatched", "terminal", "12345678", "000001", f"{stan:06d}", None,
        "sale", now_ms, 10_000, 9_000, {"state": "approved"},
        {"txn_id": txn_id, "status": "approved", "amount_fen": 9_000}, "synthetic",
    )  # fmt: skip
    with db.transaction() as tx:
        store_differences(tx, run_id, [diff], lambda r: False, now_ms)
        row = tx.fetchone("SELECT MAX(id) FROM recon_differences")
    assert row is not None
    return int(row[0])


def test_any_sequence_of_corrections_keeps_the_ledger_balanced(db_url: str) -> None:
    db, core = open_host(
        db_url, REFERENCE.replace("credit_allowed = false", "credit_allowed = true")
    )
    try:
        ensure_schema(db)
        sales = _sales(db, Term(db, core))
        staff = Staff(db)
        run_id = record_run(db, {}, None, None, staff.now_ms, "ops01")
        stans = count(100)

        @settings(max_examples=25, deadline=None)
        @given(st.lists(st.tuples(st.sampled_from(PAIRS), st.integers(1, 150_000),
                                  st.sampled_from(sales), st.booleans()),
                        min_size=1, max_size=4))  # fmt: skip
        def corrections(steps: list[tuple[tuple[str, str], int, tuple[int, str], bool]]) -> None:
            for (kind_from, kind_to), amount, (txn_id, _), approve in steps:
                diff_id = _difference(db, run_id, next(stans), txn_id, staff.tick())
                made = corr.propose(db, staff.store, diff_id, "ops01", PASSWORD, None, "p",
                                    staff.tick(), staff.audit, amount_fen=amount,
                                    kind_from=kind_from, kind_to=kind_to)  # fmt: skip
                if not approve:
                    continue
                staff.tick()
                try:
                    corr.approve(db, staff.store, made.id, "sup01", PASSWORD,
                                 staff.code("sup01"), staff.now_ms, staff.audit)  # fmt: skip
                except InputError as exc:
                    assert "cannot pay" in str(exc)  # a card kept above its floor
            with db.transaction(write=False) as tx:
                total = tx.fetchone("SELECT COALESCE(SUM(balance_fen), 0) FROM accounts")
            assert total is not None and int(total[0]) == 0
            host_ok(db)

        corrections()
    finally:
        db.close()
