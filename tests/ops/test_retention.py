"""Retention against real databases and real backups: the terminal journal and the host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backupkit import make_term, sell
from typer.testing import CliRunner

from kassa.cli import retention as cli
from kassa.host.check import check_host
from kassa.iso8583.transactions import TxnType
from kassa.ops import retention as rt
from kassa.ops.backup import Repository, Secret, Target, VerifyMark, run_backup
from kassa.ops.backup.targets import JOURNAL_RELATIVE, location
from kassa.ops.retention_policy import DAY_MS, Policy
from kassa.store import DbUrl, parse_db_url
from kassa.terminal.journal import Journal

T0 = 1_795_000_000_000
KEY = bytes(range(32))


def add_txn(journal: Journal, batch: str, stan: str, state: str, at: int, **extra: Any) -> int:
    row = {
        "batch": batch,
        "stan": stan,
        "txn_type": "sale",
        "amount_fen": 100,
        "state": state,
        "reversible": 1,
        "pan_masked": "621226******9946",
        "created_ms": at,
        "updated_ms": at,
        "tz": "+0800",
        **extra,
    }
    with journal.db.transaction() as tx:
        return journal.insert_txn(tx, row)


def settle(journal: Journal, batch: str, step: str, at: int) -> None:
    with journal.db.transaction() as tx:
        tx.execute(
            "INSERT INTO settlement_runs (batch, step, stan, totals, started_ms, updated_ms)"
            " VALUES (?, ?, '000099', '', ?, ?)",
            (batch, step, at, at),
        )


def backup(home: Path, name: str, url: DbUrl, at: int) -> str:
    result = run_backup(
        Repository(home / "backups"),
        Secret.from_env(home, {}),
        [Target(name, url)],
        kind="full",
        reason="test",
        logs_dir=None,
        now_ms=lambda: at,
    )
    return result.manifest.id


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Journal, Path]]:
    path = tmp_path / JOURNAL_RELATIVE
    path.parent.mkdir(parents=True)
    journal = Journal.open(str(path), KEY)
    yield journal, path
    journal.close()


def ids(journal: Journal) -> set[int]:
    return {r.id for r in journal.txns()}


def test_only_final_rows_of_settled_backed_up_old_batches_go(
    terminal: tuple[Journal, Path], tmp_path: Path
) -> None:
    journal, path = terminal
    done = [
        add_txn(journal, "000001", f"00000{i}", s, T0)
        for i, s in enumerate(("approved", "declined", "voided", "reversed"), 1)
    ]
    late = add_txn(journal, "000001", "000005", "approved", T0 + 5 * DAY_MS)  # changed after backup
    settle(journal, "000001", "done", T0 + DAY_MS)
    flying = [
        add_txn(journal, "000002", f"00001{i}", s, T0 + 2 * DAY_MS)
        for i, s in enumerate(("pending", "in_doubt", "offline", "resend"))
    ]
    settle(journal, "000002", "totals_answered", T0 + 2 * DAY_MS)  # batch 2 settling
    open_batch = add_txn(journal, "000003", "000020", "approved", T0 + 3 * DAY_MS)
    where = str(path.resolve())
    assert rt.latest_backup_ms(tmp_path / "backups", "journal", where) is None
    now = T0 + 400 * DAY_MS
    nothing = rt.plan_terminal(journal.db, None, Policy(), now)
    assert nothing.purge_count == 0
    assert nothing.groups[("terminal.txns", False, "no_backup")].count == 5

    backup(tmp_path, "journal", DbUrl("sqlite", path=path, display=where), T0 + 4 * DAY_MS)
    backup_ms = rt.latest_backup_ms(tmp_path / "backups", "journal", where)
    assert backup_ms == T0 + 4 * DAY_MS
    young = rt.plan_terminal(journal.db, backup_ms, Policy(), T0 + 100 * DAY_MS)
    assert young.purge_count == 0 and ("terminal.txns", False, "retained") in young.groups

    plan = rt.plan_terminal(journal.db, backup_ms, Policy(), now)
    assert sorted(plan.purge_ids["terminal.txns"]) == done
    assert ids(journal) == {*done, late, *flying, open_batch}  # plan changes nothing
    held = rt.plan_terminal(journal.db, backup_ms, Policy(holds=frozenset({"000001"})), now)
    assert held.purge_count == 0

    applied = rt.apply_terminal(journal.db, backup_ms, Policy(), now)
    assert applied.purge_count == len(done)
    assert ids(journal) == {late, *flying, open_batch}
    assert rt.apply_terminal(journal.db, backup_ms, Policy(), now).purge_count == 0
    with journal.db.transaction(write=False) as tx:
        events = tx.fetchall("SELECT kind, detail FROM events WHERE kind = 'retention_purge'")
    assert events == [("retention_purge", "purged terminal.txns 4")]


def test_sealed_data_left_on_a_final_row_is_a_fault_and_apply_scrubs_it(
    terminal: tuple[Journal, Path],
) -> None:
    journal, _ = terminal
    leaked = add_txn(journal, "000001", "000001", "approved", T0, reversal_sealed=b"x" * 40)
    waiting = add_txn(journal, "000001", "000002", "in_doubt", T0, reversal_sealed=b"y" * 40)
    stored = add_txn(journal, "000001", "000003", "offline", T0, request_sealed=b"z" * 40)
    plan = rt.plan_terminal(journal.db, None, Policy(), T0)
    assert plan.scrub_ids == [leaked]
    assert len(plan.faults) == 1 and f"#{leaked}" in plan.faults[0]
    rt.apply_terminal(journal.db, None, Policy(), T0)
    with journal.db.transaction(write=False) as tx:
        rows: dict[int, int] = dict(
            tx.fetchall(
                "SELECT id, COALESCE(request_sealed, reversal_sealed) IS NOT NULL FROM txns"
            )
        )
    assert rows == {leaked: 0, waiting: 1, stored: 1}  # in-flight blobs are still needed
    assert rt.plan_terminal(journal.db, None, Policy(), T0).faults == []


def test_print_jobs_and_events_age_out_but_a_queued_receipt_waits(
    terminal: tuple[Journal, Path],
) -> None:
    journal, _ = terminal
    with journal.db.transaction() as tx:
        journal.add_print_job(tx, None, "sale", "merchant", b"slip", T0)
        journal.add_print_job(tx, None, "sale", "customer", b"slip", T0)
    journal.mark_printed(1, T0 + 1000)
    journal.event(T0, "reversal", "98", "reason 98")
    now = T0 + 366 * DAY_MS
    plan = rt.apply_terminal(journal.db, T0 + DAY_MS, Policy(), now)
    assert plan.purge_ids == {"terminal.print_jobs": [1], "terminal.events": [1]}
    assert journal.queued_prints() == [(2, b"slip")]


def test_a_backup_that_failed_verify_or_of_another_file_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(str(path), KEY).close()
    url = DbUrl("sqlite", path=path, display=str(path))
    first = backup(tmp_path, "journal", url, T0)
    second = backup(tmp_path, "journal", url, T0 + DAY_MS)
    Repository(tmp_path / "backups").mark(second, VerifyMark(T0 + 2 * DAY_MS, False, "bad piece"))
    assert rt.latest_backup_ms(tmp_path / "backups", "journal", str(path.resolve())) == T0
    assert rt.latest_backup_ms(tmp_path / "backups", "journal", "/elsewhere/j.db") is None
    assert rt.latest_backup_ms(tmp_path / "backups", "db", str(path.resolve())) is None
    assert first


def test_host_purges_closed_batches_but_never_money_and_the_ledger_still_checks(
    db_url: str, tmp_path: Path
) -> None:
    term = make_term(db_url)
    sell(term, 100, 200)
    term.send(term.request(TxnType.SALE, 300, pin="0000"))  # wrong PIN: declined
    term.send(term.request(TxnType.BALANCE, None))
    db = term.db
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO settlements (tid, batch, status, terminal_totals, host_totals, result,"
            " settle_date, created_ms, closed_ms)"
            " VALUES (?, ?, 'closed', '', '', '1', '1118', ?, ?)",
            (term.who.tid, term.batch, T0, T0),
        )
        rows = tx.fetchall("SELECT id, txn_type, status FROM txns ORDER BY id")
        before = check_host(tx)
    assert before.ok, before.problems
    backup(tmp_path, "db", parse_db_url(db_url), T0 + DAY_MS)
    backup_ms = rt.latest_backup_ms(tmp_path / "backups", "db", location(parse_db_url(db_url)))
    assert backup_ms == T0 + DAY_MS
    money = {r[0] for r in rows if r[1] == "sale" and r[2] == "approved"}
    assert len(money) == 2
    early = rt.plan_host(db, backup_ms, Policy(), T0 + 4 * 365 * DAY_MS)
    assert "host.txns" not in early.purge_ids
    plan = rt.apply_host(db, backup_ms, Policy(), T0 + 7 * 365 * DAY_MS)
    purged = set(plan.purge_ids["host.txns"])
    assert purged and not purged & money
    assert plan.groups[("host.txns", False, "ledger")].count == 2
    with db.transaction(write=False) as tx:
        left = {r[0] for r in tx.fetchall("SELECT id FROM txns")}
        after = check_host(tx)
    assert left == {r[0] for r in rows} - purged
    assert after.ok, after.problems
    db.close()


def test_cli_plan_explains_and_apply_needs_yes(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_RELATIVE).parent.mkdir()
    journal = Journal.open(str(tmp_path / JOURNAL_RELATIVE), KEY)
    add_txn(journal, "000001", "000001", "approved", T0)
    journal.close()
    runner = CliRunner()
    result = runner.invoke(cli.app, ["plan", "--home", str(tmp_path), "-v"])
    assert result.exit_code == 0, result.output
    assert "no backup" in result.output and "0 rows would be purged" in result.output
    refused = runner.invoke(cli.app, ["apply", "--home", str(tmp_path)])
    assert refused.exit_code != 0 and "--yes" in str(refused.exception)
