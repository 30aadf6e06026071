"""Every kind of difference, produced for real by a driven day, and classified right."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_recon_kit import (
    LOST_UPLOAD_RRN,
    TID,
    Rig,
    Staff,
    drive_day,
    reconcile,
    rigged,
    write_journal,
)

from kassa.backoffice.recon import ReconSources, run_recon
from kassa.backoffice.recon_schema import DiffRecord, list_differences, list_runs
from kassa.backoffice.recon_views import Window, day_start_ms

pytestmark = pytest.mark.anyio


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    with rigged(db_url, tmp_path, floor_limit_fen=20_000) as r:
        yield r


def by_stan(rig: Rig) -> dict[str, DiffRecord]:
    with rig.db.transaction(write=False) as tx:
        found = list_differences(tx, status="open")
    return {d.diff.stan: d for d in found}


async def test_each_disagreement_is_found_and_classified(rig: Rig) -> None:
    day = await drive_day(rig)
    staff = Staff(rig.db)
    summary = reconcile(rig, staff)
    stan = {letter: o.stan for letter, o in day.sales.items()}
    diffs = by_stan(rig)
    found = {letter: (diffs[s].diff.kind, diffs[s].diff.klass) for letter, s in stan.items()
             if s in diffs}  # fmt: skip
    assert found == {
        "B": ("missing_at_terminal", "mismatched"),
        "C": ("amount_mismatch", "mismatched"),
        "D": ("status_mismatch", "mismatched"),
        "E": ("status_mismatch", "mismatched"),
        "F": ("missing_at_host", "mismatched"),
        "H": ("status_mismatch", "expected"),
        "G": ("missing_at_host", "expected"),
    }
    assert summary.matched == 1  # A
    assert (summary.mismatched, summary.expected) == (5, 2)
    assert summary.by_kind == {"missing_at_terminal": 1, "amount_mismatch": 1,
                               "status_mismatch": 2, "missing_at_host": 1}  # fmt: skip
    c = diffs[stan["C"]].diff
    assert (c.terminal_fen, c.host_fen) == (12_000, 8_000)
    assert diffs[stan["F"]].diff.rrn == LOST_UPLOAD_RRN
    e = diffs[stan["E"]].diff
    assert e.host_view is not None and e.host_view["row_status"] == "reversed"
    assert all(d.diff.tid == TID for d in diffs.values())
    with rig.db.transaction(write=False) as tx:
        runs = list_runs(tx)
    assert [(r.status, r.mismatched, r.expected) for r in runs] == [("done", 5, 2)]


async def test_journal_file_gives_the_same_answer_and_a_second_import_is_a_duplicate(
    rig: Rig, tmp_path: Path
) -> None:
    day = await drive_day(rig)
    staff = Staff(rig.db)
    full = write_journal(rig, tmp_path / "journal.jsonl")
    again = write_journal(rig, tmp_path / "again.jsonl", only={day.txn_id("A")})
    sources = ReconSources(journals=((full, TID), (again, TID)))
    summary = run_recon(rig.db, sources, staff.tick(), "ops01", staff.audit)
    diffs = by_stan(rig)
    a = diffs[day.sales["A"].stan or ""]
    assert (a.diff.kind, a.diff.klass) == ("duplicate", "mismatched")
    assert "journal.jsonl:1" in a.diff.detail and "again.jsonl:1" in a.diff.detail
    assert summary.by_kind["duplicate"] == 1 and summary.mismatched == 6


async def test_a_rerun_finds_the_same_differences_without_adding_rows(rig: Rig) -> None:
    await drive_day(rig)
    staff = Staff(rig.db)
    first = reconcile(rig, staff)
    second = reconcile(rig, staff)
    assert (first.new, second.new, second.resolved) == (7, 0, 0)
    with rig.db.transaction(write=False) as tx:
        rows = list_differences(tx)
    assert len(rows) == 7 and {r.last_run_id for r in rows} == {second.run_id}


async def test_in_flight_items_resolve_themselves_once_the_link_is_back(rig: Rig) -> None:
    day = await drive_day(rig)
    staff = Staff(rig.db)
    reconcile(rig, staff)
    rig.restart()
    await rig.terminal.recover()
    await rig.terminal.pending.resolve()
    assert rig.terminal.journal.txn(day.txn_id("H")).state.value == "reversed"  # type: ignore[union-attr]
    assert rig.terminal.journal.txn(day.txn_id("G")).state.value == "uploaded"  # type: ignore[union-attr]
    later = reconcile(rig, staff)
    assert later.expected == 0 and later.resolved == 2
    with rig.db.transaction(write=False) as tx:
        resolved = list_differences(tx, status="resolved")
    assert {d.diff.stan for d in resolved} == {day.sales["G"].stan, day.sales["H"].stan}


async def test_a_window_keeps_to_its_days(rig: Rig) -> None:
    await drive_day(rig)
    staff = Staff(rig.db)
    later = Window(day_start_ms("2026-11-19"), day_start_ms("2026-11-20"))
    assert reconcile(rig, staff, window=later).new == 0
    that_day = Window(day_start_ms("2026-11-18"), day_start_ms("2026-11-19"))
    summary = reconcile(rig, staff, window=that_day)
    assert (summary.mismatched, summary.expected, summary.matched) == (5, 2, 1)
