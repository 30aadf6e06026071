"""Problem records, their evidence packs (no clear PAN anywhere) and the lessons report."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_recon_kit import PAN, Rig, Staff, drive_day, reconcile, rigged

from kassa.backoffice.evidence import export_pack
from kassa.backoffice.lessons import as_json, lessons, render
from kassa.backoffice.problems import list_problems, open_problem, update_problem
from kassa.backoffice.recon_schema import list_differences
from kassa.card import find_pans
from kassa.errors import InputError
from kassa.terminal.states import State

pytestmark = pytest.mark.anyio


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    with rigged(db_url, tmp_path, floor_limit_fen=20_000) as r:
        yield r


async def _declines(rig: Rig) -> tuple[str, str]:
    """Two wrong PINs (55) and one sale above the balance (51); their RRNs."""
    assert (await rig.terminal.sign_on()).ok
    wrong = [await rig.sale(1_000, pin="9999") for _ in range(2)]
    broke = await rig.sale(150_000)
    assert [o.code for o in (*wrong, broke)] == ["55", "55", "51"]
    assert all(o.state is State.DECLINED for o in (*wrong, broke))
    return wrong[0].rrn or "", broke.rrn or ""


async def test_a_problem_from_first_report_to_outcome(rig: Rig) -> None:
    wrong_pin, _ = await _declines(rig)
    staff = Staff(rig.db)
    reconcile(rig, staff)  # the recon tables exist from here on
    p = open_problem(rig.db, "ops01", staff.tick(), rrn=wrong_pin, note="顾客说密码没错",
                     audit=staff.audit)  # fmt: skip
    assert p.kind == "decline" and p.refs["code"] == "55" and p.refs["rrn"] == wrong_pin
    assert "55" in p.error and p.status == "open"
    with pytest.raises(InputError, match="outcome"):
        update_problem(rig.db, p.id, "ops01", staff.tick(), close=True)
    update_problem(rig.db, p.id, "ops01", staff.tick(), check="PIN pad tested: OK")
    update_problem(rig.db, p.id, "ops02", staff.tick(), check="card not locked at the host")
    done = update_problem(rig.db, p.id, "sup01", staff.tick(), resolution="customer retried",
                          outcome="approved on retry", close=True, audit=staff.audit)  # fmt: skip
    assert done.checks == ("PIN pad tested: OK", "card not locked at the host")
    assert [e.kind for e in done.history] == [
        "opened", "check", "check", "resolution", "outcome", "closed"]  # fmt: skip
    assert done.history[0].detail == "顾客说密码没错"
    with pytest.raises(InputError, match="closed"):
        update_problem(rig.db, p.id, "ops01", staff.tick(), check="late")
    with rig.db.transaction(write=False) as tx:
        assert [q.id for q in list_problems(tx, "closed")] == [p.id]
    actions = {r.action for r in staff.audit.iter_records()}
    assert {"problem.opened", "problem.closed"} <= actions
    with pytest.raises(InputError, match="needs"):
        open_problem(rig.db, "ops01", staff.tick())
    with pytest.raises(InputError, match="not in the operator guide"):
        open_problem(rig.db, "ops01", staff.tick(), code="zz_not_a_code")


async def test_evidence_pack_has_everything_and_no_clear_pan(rig: Rig, tmp_path: Path) -> None:
    wrong_pin, _ = await _declines(rig)
    staff = Staff(rig.db)
    reconcile(rig, staff)
    p = open_problem(rig.db, "ops01", staff.tick(), rrn=wrong_pin, note="appeal",
                     audit=staff.audit)  # fmt: skip
    update_problem(rig.db, p.id, "ops01", staff.tick(), check="receipt kept", audit=staff.audit)
    out = tmp_path / "pack.zip"
    names = export_pack(rig.db, p.id, out, staff.tick(), staff.audit, rig.journal_path)
    with zipfile.ZipFile(out) as pack:
        files = {n: pack.read(n).decode("utf-8") for n in pack.namelist()}
    assert set(names) == set(files) == {"problem.json", "transactions.json", "messages.json",
        "receipts.txt", "guide.json", "timeline.json", "README.txt"}  # fmt: skip
    for name, text in files.items():
        assert find_pans(text) == [], name
        assert PAN not in text, name
    txns = json.loads(files["transactions.json"])
    assert txns[0]["rrn"] == wrong_pin and txns[0]["response_code"] == "55"
    assert txns[0]["pan_masked"].startswith("621226") and txns[0]["pan_masked"].endswith("9463")
    messages = json.loads(files["messages.json"])
    assert messages[0]["response"]["fields"]["39"] == "55"
    assert messages[0]["request"]["mti"] == "0200"
    assert wrong_pin in files["receipts.txt"] and "9463" in files["receipts.txt"]
    guide_codes = {e["code"]: e for e in json.loads(files["guide.json"])}
    assert guide_codes["55"]["meaning_zh"] and guide_codes["55"]["meaning_en"]
    timeline = json.loads(files["timeline.json"])
    assert {e["source"] for e in timeline} >= {"problem", "audit"}
    assert "证据包" in files["README.txt"] and "Evidence pack" in files["README.txt"]
    assert "receipt kept" in files["README.txt"]
    bare = tmp_path / "bare.zip"
    export_pack(rig.db, p.id, bare, staff.tick())
    with zipfile.ZipFile(bare) as pack:
        summary = pack.read("receipts.txt").decode("utf-8")
    assert "HOST-SIDE SUMMARY" in summary and wrong_pin in summary and find_pans(summary) == []


async def test_problem_about_a_difference(rig: Rig, tmp_path: Path) -> None:
    day = await drive_day(rig)
    staff = Staff(rig.db)
    reconcile(rig, staff)
    with rig.db.transaction(write=False) as tx:
        diff = next(d for d in list_differences(tx) if d.diff.stan == day.sales["C"].stan)
    p = open_problem(rig.db, "ops01", staff.tick(), diff_id=diff.id, note="amount disputed")
    assert p.kind == "recon_difference" and p.refs["diff_id"] == diff.id
    assert "amount_mismatch" in p.error
    export_pack(rig.db, p.id, tmp_path / "d.zip", staff.tick(), staff.audit)
    with zipfile.ZipFile(tmp_path / "d.zip") as pack:
        txns = json.loads(pack.read("transactions.json"))
    assert [t["amount"] for t in txns] == ["80.00"]


async def test_lessons_count_declines_by_terminal_and_merchant(rig: Rig) -> None:
    wrong_pin, _ = await _declines(rig)
    staff = Staff(rig.db)
    reconcile(rig, staff)
    open_problem(rig.db, "ops01", staff.tick(), rrn=wrong_pin, note="x")
    open_problem(rig.db, "ops01", staff.tick(), code="printer_no_paper", note="y")
    with rig.db.transaction(write=False) as tx:
        report = lessons(tx, 0, staff.tick())
    assert [(c.code, c.count) for c in report.declines] == [("55", 2), ("51", 1)]
    assert [(c.where, c.code, c.count) for c in report.by_terminal] == [
        ("12345678", "55", 2), ("12345678", "51", 1)]  # fmt: skip
    assert [(c.where, c.count) for c in report.by_merchant] == [
        ("123456789012345", 2), ("123456789012345", 1)]  # fmt: skip
    assert sorted((c.where, c.code) for c in report.problems) == [
        ("decline", "55"), ("fault", "printer_no_paper")]  # fmt: skip
    assert report.transactions >= 3
    text = render(report)
    assert "55" in text and "测试商户" in text
    doc = as_json(report)
    assert doc["declines"][0]["meaning_en"]
    with rig.db.transaction(write=False) as tx:
        empty = lessons(tx, 0, 1)
    assert empty.declines == () and empty.transactions == 0
