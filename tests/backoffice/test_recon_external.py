"""A bank statement (the external view) against the host, matched on the RRN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_recon_kit import TID, Rig, Staff, rigged

from kassa.backoffice.recon import ReconSources, run_recon
from kassa.backoffice.recon_schema import list_differences, list_runs
from kassa.errors import InputError
from kassa.terminal.outcome import Outcome

pytestmark = pytest.mark.anyio
UNKNOWN_RRN = "888888888888"


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    with rigged(db_url, tmp_path) as r:
        yield r


async def _day(rig: Rig) -> dict[str, Outcome]:
    assert (await rig.terminal.sign_on()).ok
    sales = {k: await rig.sale(v) for k, v in (("A", 10_000), ("B", 5_000), ("C", 8_000))}
    assert (await rig.terminal.settle()).ok  # batch 000001 closed at the host
    sales["D"] = await rig.sale(3_000)  # batch 000002, not settled yet
    return sales


def _statement(path: Path, rows: list[str]) -> Path:
    path.write_text("date,tid,rrn,amount,status\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


async def test_statement_differences(rig: Rig, tmp_path: Path) -> None:
    s = await _day(rig)
    csv = _statement(tmp_path / "bank.csv", [
        f"2026-11-18,{TID},{s['A'].rrn},100.00,approved",
        f"2026-11-18,{TID},{s['A'].rrn},100.00,success",
        f"2026-11-18,{TID},{s['B'].rrn},55.00,approved",
        f"2026-11-18,{TID},{UNKNOWN_RRN},12.00,成功",
    ])  # fmt: skip
    staff = Staff(rig.db)
    summary = run_recon(rig.db, ReconSources(external=csv), staff.tick(), "ops01", staff.audit)
    with rig.db.transaction(write=False) as tx:
        found = {(d.diff.rrn, d.diff.kind): d.diff for d in list_differences(tx)}
    assert {(k, v.klass) for k, v in found.items()} == {
        ((s["A"].rrn, "duplicate"), "mismatched"),
        ((s["B"].rrn, "amount_mismatch"), "mismatched"),
        ((s["C"].rrn, "missing_at_external"), "mismatched"),  # settled, yet not on the statement
        ((s["D"].rrn, "missing_at_external"), "expected"),  # its batch is not closed yet
        ((UNKNOWN_RRN, "missing_at_host"), "mismatched"),
    }
    b = found[(s["B"].rrn, "amount_mismatch")]
    assert (b.terminal_fen, b.host_fen, b.stan) == (5_500, 5_000, s["B"].stan)
    # A agrees on money but is listed twice: a difference all the same.
    assert (summary.external_rows, summary.terminal_rows, summary.matched) == (4, 0, 0)


async def test_bad_rows_are_named_by_file_and_line(rig: Rig, tmp_path: Path) -> None:
    s = await _day(rig)
    csv = _statement(tmp_path / "bad.csv", [
        f"2026-11-18,{TID},{s['A'].rrn},100.00,approved",
        f"2026-11-18,{TID},{s['B'].rrn},1,5.00,approved",
        f"2026-11-18,{TID},12345,50.00,approved",
        f"2026-13-18,{TID},{s['C'].rrn},80.00,approved",
        f"2026-11-18,{TID},{s['C'].rrn},80.00,maybe",
    ])  # fmt: skip
    staff = Staff(rig.db)
    with pytest.raises(InputError) as caught:
        run_recon(rig.db, ReconSources(external=csv), staff.tick(), "ops01", staff.audit)
    message = str(caught.value)
    assert message.startswith("4 bad input row(s)")
    for line in (3, 4, 5, 6):
        assert f"bad.csv:{line}:" in message
    with rig.db.transaction(write=False) as tx:
        assert [r.status for r in list_runs(tx)] == ["failed"]


async def test_missing_columns_and_empty_input(rig: Rig, tmp_path: Path) -> None:
    staff = Staff(rig.db)
    bad = tmp_path / "cols.csv"
    bad.write_text("date,rrn,amount\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        run_recon(rig.db, ReconSources(external=bad), staff.tick(), "ops01")
    with pytest.raises(InputError, match="nothing to reconcile"):
        run_recon(rig.db, ReconSources(), staff.tick(), "ops01")
    with pytest.raises(InputError, match="cannot read"):
        run_recon(rig.db, ReconSources(external=tmp_path / "none.csv"), staff.tick(), "ops01")
