"""The back-office pages over HTTP: settlement and its reports, backups, the audit log,
reconciliation with four-eyes corrections (on SQLite and PostgreSQL), problem records."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_console_kit import PASSWORD, World, login, running, token

from kassa.backoffice import verify_payout_file
from kassa.card import find_pans

UNKNOWN_RRN = "888888888888"
FOUR_HOURS_MS = 4 * 3_600_000


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running(tmp_path) as w:
        yield w


def statement(world: World) -> bytes:
    """A bank statement: the first sale as the host has it, and one the host never saw."""
    rows = [
        f"2026-11-18,12345678,{world.rrns[0]},100.00,approved",
        f"2026-11-18,12345678,{UNKNOWN_RRN},12.00,approved",
    ]
    return ("date,tid,rrn,amount,status\n" + "\n".join(rows) + "\n").encode()


def reconcile(world: World, who: str = "ops01") -> tuple[httpx.Client, int]:
    """Run a reconciliation against the statement; the difference the unknown RRN makes."""
    browser = login(world, who)
    done = browser.post(
        "/recon/run",
        data={"csrf": token(browser, "/recon")},
        files={"statement": ("bank.csv", statement(world), "text/csv")},
    )
    assert done.status_code == 303, done.text[-500:]
    with world.db.transaction(write=False) as tx:
        row = tx.fetchone(
            "SELECT id, kind, class FROM recon_differences WHERE rrn = ?", (UNKNOWN_RRN,)
        )
    assert row is not None and row[1:] == ("missing_at_host", "mismatched")
    return browser, int(row[0])


def correction_status(world: World, diff_id: int) -> list[tuple[str, str, str | None]]:
    with world.db.transaction(write=False) as tx:
        rows = tx.fetchall(
            "SELECT status, maker, checker FROM recon_corrections WHERE diff_id = ? ORDER BY id",
            (diff_id,),
        )
    return [(r[0], r[1], r[2]) for r in rows]


def test_settlement_runs_after_the_cutoff_and_serves_its_reports(world: World) -> None:
    admin = login(world, "adm01")
    early = admin.post(
        "/settlement/run",
        data={"csrf": token(admin), "day": "2026-11-18", "cutoff": "23:00", "refund_fees": "kept"},
    )
    assert early.status_code == 400 and "after the cut-off" in early.text
    world.clock.advance(FOUR_HOURS_MS)  # 23:17 China time; the old session has expired
    admin = login(world, "adm01")
    done = admin.post(
        "/settlement/run",
        data={
            "csrf": token(admin),
            "day": "2026-11-18",
            "cutoff": "23:00",
            "refund_fees": "kept",
            "backup": "1",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/settlement/2026-11-18"
    page = admin.get("/settlement/2026-11-18")
    assert page.status_code == 200 and "123456789012345" in page.text
    acquirer = admin.get("/settlement/2026-11-18/report.csv")
    assert acquirer.headers["content-disposition"].startswith("attachment")
    assert b"TOTAL" in acquirer.content and b"123456789012345" in acquirer.content
    merchant = admin.get("/settlement/2026-11-18/report.csv?mid=123456789012345").content
    assert not find_pans(merchant.decode())
    assert admin.get("/settlement/2026-11-18/report.csv?mid=999").status_code == 404
    assert admin.get("/settlement/2026-11-18/report.html").text.startswith("<!")
    assert verify_payout_file(admin.get("/settlement/2026-11-18/payout.csv").content)
    assert "before settlement" in admin.get("/backups").text  # the backup taken first
    assert admin.get("/settlement/2026-11-17").status_code == 404


def test_backups_are_taken_and_verified(world: World) -> None:
    admin = login(world, "adm01")
    assert admin.post("/backups/run", data={"csrf": token(admin)}).status_code == 303
    listing = admin.get("/backups").text
    backup_id = listing.split('name="backup_id" value="')[1].split('"')[0]
    checked = admin.post("/backups/verify", data={"csrf": token(admin), "backup_id": backup_id})
    assert checked.status_code == 200 and 'id="verify-report"' in checked.text
    assert "integrity_check: ok" in checked.text
    unknown = admin.post("/backups/verify", data={"csrf": token(admin), "backup_id": "nope"})
    assert unknown.status_code == 400


def test_a_console_backup_goes_to_the_configured_remote_too(world: World) -> None:
    share = world.home / "share"
    share.mkdir()
    (world.home / "backup.toml").write_text(f'[remote]\nurl = "{share}"\n', encoding="utf-8")
    admin = login(world, "adm01")
    assert admin.post("/backups/run", data={"csrf": token(admin)}).status_code == 303
    listing = admin.get("/backups").text
    backup_id = listing.split('name="backup_id" value="')[1].split('"')[0]
    assert (share / backup_id).is_dir()  # published (not left as .partial)
    assert "remote copy failed" not in listing


def test_a_failed_remote_copy_does_not_fail_the_console_backup(world: World) -> None:
    missing = world.home / "unmounted-share"
    (world.home / "backup.toml").write_text(f'[remote]\nurl = "{missing}"\n', encoding="utf-8")
    admin = login(world, "adm01")
    assert admin.post("/backups/run", data={"csrf": token(admin)}).status_code == 303
    listing = admin.get("/backups").text
    assert 'name="backup_id" value="' in listing  # the local backup stands
    assert "remote copy failed" in listing and "retry-remote" in listing


def test_audit_log_page_verifies_the_chain(world: World) -> None:
    admin = login(world, "adm01")
    assert admin.post("/audit/verify", data={"csrf": token(admin)}).status_code == 303
    page = admin.get("/audit?action=login").text
    assert "审计链完整" in page and "login.ok" in page
    with world.db.transaction() as tx:  # tamper with a record behind the log's back
        tx.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        tx.execute("UPDATE audit_log SET actor = 'someone' WHERE seq = 1")
    admin.post("/audit/verify", data={"csrf": token(admin)})
    assert "审计链被破坏" in admin.get("/audit").text


@pytest.mark.parametrize(
    "db_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_correction_needs_four_eyes(
    tmp_path: Path, db_kind: str, request: pytest.FixtureRequest
) -> None:
    db_url = request.getfixturevalue("pg_url") if db_kind == "postgresql" else None
    with running(tmp_path, db_url) as world:
        sup01, diff_id = reconcile(world, "sup01")
        world.tick()
        made = sup01.post(
            f"/recon/diff/{diff_id}/correct",
            data={
                "csrf": token(sup01, "/recon"),
                "mode": "manual",
                "amount": "12.00",
                "account_from": "suspense",
                "account_to": "merchant",
                "reason": "bank paid it",
                "password": PASSWORD,
                "code": world.code("sup01"),
            },
        )
        assert made.status_code == 303, made.text[-400:]
        world.tick()
        own = sup01.post(
            "/recon/correction/1/approve",
            data={
                "csrf": token(sup01, "/recon"),
                "password": PASSWORD,
                "code": world.code("sup01"),
            },
        )
        assert own.status_code == 400 and "another supervisor must approve" in own.text
        assert correction_status(world, diff_id) == [("pending", "sup01", None)]
        sup02 = login(world, "sup02")
        world.tick()
        done = sup02.post(
            "/recon/correction/1/approve",
            data={
                "csrf": token(sup02, "/recon"),
                "password": PASSWORD,
                "code": world.code("sup02"),
            },
        )
        assert done.status_code == 303
        assert correction_status(world, diff_id) == [("approved", "sup01", "sup02")]
        assert "已补登" in sup02.get(f"/recon/diff/{diff_id}").text


def test_wrong_password_refuses_the_correction(world: World) -> None:
    ops, diff_id = reconcile(world)
    refused = ops.post(
        f"/recon/diff/{diff_id}/correct",
        data={
            "csrf": token(ops, "/recon"),
            "mode": "manual",
            "amount": "12.00",
            "account_from": "suspense",
            "account_to": "merchant",
            "reason": "bank paid it",
            "password": "Not-My-Pass-2026",
        },
    )
    assert refused.status_code == 400 and 'id="correct-form"' in refused.text
    assert correction_status(world, diff_id) == []
    bad = ops.post(
        f"/recon/diff/{diff_id}/correct",
        data={
            "csrf": token(ops, "/recon"),
            "mode": "manual",
            "amount": "12.0x",
            "reason": "r",
            "password": PASSWORD,
        },
    )
    assert bad.status_code == 400 and "12.0x" in bad.text


def test_problem_record_and_its_evidence_pack(world: World) -> None:
    ops = login(world, "ops01")
    made = ops.post(
        "/problems",
        data={
            "csrf": token(ops, "/problems"),
            "rrn": world.rrns[1],
            "note": "customer says charged twice",
        },
    )
    assert made.status_code == 303
    location = made.headers["location"]
    follow = ops.post(
        location,
        data={
            "csrf": token(ops, location),
            "check": "one capture only",
            "outcome": "explained",
            "close": "1",
        },
    )
    assert follow.status_code == 303
    assert "已结案" in ops.get(location).text
    pack = ops.get(location + "/evidence.zip")
    assert pack.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(pack.content)) as z:
        names = set(z.namelist())
        text = "".join(z.read(n).decode() for n in names)
    assert {"problem.json", "transactions.json", "messages.json", "README.txt"} <= names
    assert world.rrns[1] in text and not find_pans(text)
    empty = ops.post("/problems", data={"csrf": token(ops, "/problems"), "rrn": "123", "note": "x"})
    assert empty.status_code == 400 and 'id="problem-form"' in empty.text
    viewer = login(world, "view01")
    assert viewer.get(location + "/evidence.zip").status_code == 403
