"""Corrections (补登): every path, four eyes on each, and afterwards everyone agrees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_recon_kit import (
    PASSWORD,
    Day,
    Rig,
    Staff,
    drive_day,
    host_ok,
    reconcile,
    rigged,
)

from kassa.backoffice import corrections as corr
from kassa.backoffice.recon_schema import DiffRecord, list_differences
from kassa.errors import InputError
from kassa.host import repo
from kassa.host.admin import card_ref_for
from kassa.ledger import card_account

pytestmark = pytest.mark.anyio
PAN = "6212264000001899463"


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    with rigged(db_url, tmp_path, floor_limit_fen=20_000) as r:
        yield r


async def _setup(rig: Rig) -> tuple[Day, Staff, dict[str, DiffRecord]]:
    day = await drive_day(rig)
    staff = Staff(rig.db)
    reconcile(rig, staff)
    with rig.db.transaction(write=False) as tx:
        found = {d.diff.stan: d for d in list_differences(tx, status="open")}
    return day, staff, {k: found[o.stan or ""] for k, o in day.sales.items() if o.stan in found}


def make(
    rig: Rig, staff: Staff, diff: DiffRecord, who: str = "ops01", **kw: object
) -> corr.Correction:
    code = staff.code(who) if who in staff.secrets else None
    return corr.propose(rig.db, staff.store, diff.id, who, PASSWORD, code, "night audit",
                        staff.tick(), staff.audit, **kw)  # type: ignore[arg-type]  # fmt: skip


def check(rig: Rig, staff: Staff, c: corr.Correction, who: str = "sup01") -> corr.Correction:
    staff.tick()
    return corr.approve(rig.db, staff.store, c.id, who, PASSWORD, staff.code(who), staff.now_ms,
                        staff.audit)  # fmt: skip


def card_balance(rig: Rig) -> int:
    with rig.db.transaction(write=False) as tx:
        return repo.balance(tx, card_account(card_ref_for(rig.core.secrets, PAN)))


async def test_every_path_leaves_terminal_host_and_report_agreeing(rig: Rig) -> None:
    _, staff, diffs = await _setup(rig)
    # At the host: 1000.00 funded; A, B, C, D and H approved (26000 + 1500), E reversed.
    assert card_balance(rig) == 100_000 - 27_500
    before = card_balance(rig)
    done = [
        check(rig, staff, make(rig, staff, diffs["B"], auto=True)),
        check(rig, staff, make(rig, staff, diffs["C"], amount_fen=4_000), "sup02"),
        check(rig, staff, make(rig, staff, diffs["D"], auto=True)),
        check(
            rig,
            staff,
            make(
                rig,
                staff,
                diffs["E"],
                "ops02",
                amount_fen=2_000,
                kind_from="card",
                kind_to="merchant",
            ),
            "sup02",
        ),
        check(rig, staff, make(rig, staff, diffs["F"], auto=True)),
    ]
    assert [(c.mode, c.rule, c.status) for c in done] == [
        ("auto", "mark_terminal_import", "approved"),
        ("manual", None, "approved"),
        ("auto", "reverse_at_host", "approved"),
        ("manual", None, "approved"),
        ("auto", "post_capture", "approved"),
    ]
    assert done[0].entry_id is None  # nothing moves: the terminal imports the host's sale
    assert [c.delta_fen for c in done] == [0, 4_000, -3_000, 2_000, 6_000]
    # The card paid C's 40.00 and E's 20.00 and F's 60.00, and got D's 30.00 back.
    assert card_balance(rig) == before - 4_000 - 2_000 - 6_000 + 3_000
    host_ok(rig.db)
    again = reconcile(rig, staff)
    assert again.mismatched == 0 and again.expected == 2  # only G and H, still in flight
    with rig.db.transaction(write=False) as tx:
        corrected = list_differences(tx, status="corrected")
        entries = list(repo.entries_where(tx, "e.kind = 'correction'"))
    assert len(corrected) == 5
    assert {e.txn_key.split(":")[1] for e in entries} == {str(diffs[k].id) for k in "CDEF"}
    assert all("maker ops0" in e.memo and "checker sup0" in e.memo for e in entries)
    actions = [r.action for r in staff.audit.iter_records()]
    assert actions.count("recon.correct") == 5 and actions.count("recon.approve") == 5
    assert actions.count("recon.run") == 2
    assert staff.audit.verify().ok


async def test_four_eyes_refusals(rig: Rig) -> None:
    _, staff, diffs = await _setup(rig)
    pending = make(rig, staff, diffs["C"], amount_fen=4_000)
    with pytest.raises(InputError, match="waiting for approval"):
        make(rig, staff, diffs["C"], amount_fen=4_000)
    mine = make(rig, staff, diffs["D"], "sup01", auto=True)
    with pytest.raises(InputError, match="another supervisor"):
        check(rig, staff, mine, "sup01")
    with pytest.raises(InputError, match="Invalid one-time code"):
        corr.approve(rig.db, staff.store, pending.id, "sup02", PASSWORD, "000000", staff.tick(),
                     staff.audit)  # fmt: skip
    with pytest.raises(InputError, match="only admin or supervisor"):
        corr.approve(rig.db, staff.store, pending.id, "ops02", PASSWORD, "123456", staff.tick(),
                     staff.audit)  # fmt: skip
    with pytest.raises(InputError, match="cashier"):
        corr.approve(rig.db, staff.store, pending.id, "cash01", "735194", "123456", staff.tick(),
                     staff.audit)  # fmt: skip
    with pytest.raises(InputError, match="cashier"):
        corr.propose(rig.db, staff.store, diffs["E"].id, "cash01", "735194", None, "x",
                     staff.tick(), staff.audit, amount_fen=100)  # fmt: skip
    with rig.db.transaction(write=False) as tx:
        assert not list(repo.entries_where(tx, "e.kind = 'correction'"))
        assert corr.list_corrections(tx, correction_id=pending.id)[0].status == "pending"
    refused = [r for r in staff.audit.iter_records() if r.action.endswith("_refused")]
    assert len(refused) >= 5
    approved = check(rig, staff, pending, "sup02")
    with pytest.raises(InputError, match="already approved"):
        check(rig, staff, approved, "sup01")


async def test_rules_that_do_not_apply_and_in_flight_items_are_refused(rig: Rig) -> None:
    _, staff, diffs = await _setup(rig)
    with pytest.raises(InputError, match="no automatic rule"):
        make(rig, staff, diffs["C"], auto=True)
    with pytest.raises(InputError, match="in flight"):
        make(rig, staff, diffs["G"], auto=True)
    with pytest.raises(InputError, match="not an allowed"):
        make(rig, staff, diffs["C"], amount_fen=100, kind_from="funding", kind_to="card")
    with pytest.raises(InputError, match="needs --amount"):
        make(rig, staff, diffs["C"])


async def test_a_card_is_never_corrected_below_its_floor(rig: Rig) -> None:
    _, staff, diffs = await _setup(rig)
    too_much = make(rig, staff, diffs["C"], amount_fen=card_balance(rig) + 1)
    with pytest.raises(InputError, match="cannot pay"):
        check(rig, staff, too_much)
    host_ok(rig.db)


async def test_reject_then_accept(rig: Rig) -> None:
    _, staff, diffs = await _setup(rig)
    wrong = make(rig, staff, diffs["E"], amount_fen=99)
    staff.tick()
    rejected = corr.reject(rig.db, staff.store, wrong.id, "sup01", PASSWORD, staff.code("sup01"),
                           "wrong amount", staff.now_ms, staff.audit)  # fmt: skip
    assert rejected.status == "rejected" and rejected.checker == "sup01"
    staff.tick()
    accepted = corr.accept(rig.db, staff.store, diffs["E"].id, "sup02", PASSWORD,
                           staff.code("sup02"), "customer confirmed the reversal", staff.now_ms,
                           staff.audit)  # fmt: skip
    assert accepted.status == "accepted"
    again = reconcile(rig, staff)
    assert again.new == 0  # found again, still accepted, not a new open row
    with rig.db.transaction(write=False) as tx:
        assert list_differences(tx, status="accepted")[0].last_run_id == again.run_id
