"""After a terminal journal is restored from an older backup: it is reconciled with the
host, the sales it lost are brought back, and the terminal cannot reuse their STANs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "terminal"))

from termkit import Rig, make_rig
from typer.testing import CliRunner

from kassa.cli.backup import app
from kassa.ops.backup import Repository, RestoreReport, Secret, Target, restore, run_backup
from kassa.ops.backup.journal_recon import stan_gap_without_host
from kassa.store import DbUrl, parse_db_url
from kassa.terminal.outcome import Outcome
from kassa.terminal.states import State
from kassa.terminal.totals import settlement_totals

pytestmark = pytest.mark.anyio
MINUTE_MS = 60_000


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    made = make_rig(db_url, tmp_path)
    yield made
    made.close()


async def sales(rig: Rig, *amounts: int) -> list[Outcome]:
    done = []
    for amount in amounts:
        rig.clock.advance(MINUTE_MS)
        outcome = await rig.sale(amount)
        assert outcome.state is State.APPROVED, outcome
        done.append(outcome)
    return done


def back_up(rig: Rig, home: Path) -> tuple[Repository, Secret, str]:
    repo, secret = Repository(home / "backups"), Secret.from_env(home, {})
    journal = Target("journal", DbUrl("sqlite", path=rig.journal_path, display="journal"))
    taken = run_backup(repo, secret, [journal], kind="full", reason="test", logs_dir=None,
                       now_ms=rig.clock.now_ms)  # fmt: skip
    return repo, secret, taken.manifest.id


def restore_journal(rig: Rig, repo: Repository, secret: Secret, backup_id: str,
                    host: DbUrl | None) -> RestoreReport:  # fmt: skip
    rig.terminal.journal.close()  # the terminal is stopped for a restore
    rig.clock.advance(MINUTE_MS)
    return restore(repo, secret, at=backup_id, overrides={}, yes=True, confirm=lambda q: False,
                   now_ms=rig.clock.now_ms, host_db=host)  # fmt: skip


async def test_the_sales_after_the_backup_come_back_from_the_host(
    rig: Rig, db_url: str, tmp_path: Path
) -> None:
    assert (await rig.terminal.sign_on()).ok
    before = await sales(rig, 10_000, 2_500)
    repo, secret, backup_id = back_up(rig, tmp_path)
    later = await sales(rig, 3_300, 4_400, 120)
    batch = later[0].batch
    assert batch is not None
    expected_totals = settlement_totals(rig.terminal.journal.iter_batch(batch))

    report = restore_journal(rig, repo, secret, backup_id, parse_db_url(db_url))
    recovered = {(f.batch, f.stan): f for f in report.findings if f.action == "recovered"}
    assert set(recovered) == {(o.batch, o.stan) for o in later}  # exactly the later sales
    assert [f for f in report.findings if f.action != "recovered"] == []
    assert {recovered[(o.batch, o.stan)].amount_fen for o in later} == {3_300, 4_400, 120}
    assert all(f.rrn and f.auth_code for f in recovered.values())
    check = next(c for c in report.checks if c.name == "journal: reconciled with the host")
    assert check.ok and "3 recovered" in check.detail, check

    journal = rig.restart().journal
    rows = {(r.batch, r.stan): r for r in journal.txns()}
    assert all(rows[(o.batch, o.stan)].note is None for o in before)
    for outcome in later:
        row = rows[(outcome.batch, outcome.stan)]
        assert row.state is State.APPROVED and row.amount_fen == outcome.amount_fen
        assert row.note is not None and f"restoring backup {backup_id}" in row.note
    assert settlement_totals(journal.iter_batch(batch)) == expected_totals  # agrees with host
    assert journal.get("signed_on") == "0"

    assert (await rig.terminal.sign_on()).ok  # a new sale gets a STAN the host never saw
    fresh = await sales(rig, 990)
    assert fresh[0].stan not in {o.stan for o in later}

    again = restore_journal(rig, repo, secret, backup_id, parse_db_url(db_url))
    assert {(f.batch, f.stan) for f in again.findings if f.action == "recovered"} == {
        (o.batch, o.stan) for o in [*later, *fresh]
    }


async def test_without_the_host_database_the_back_office_command_is_given(
    rig: Rig, tmp_path: Path
) -> None:
    assert (await rig.terminal.sign_on()).ok
    await sales(rig, 1_000)
    repo, secret, backup_id = back_up(rig, tmp_path)
    stan_at_backup = int(rig.terminal.journal.get("stan") or 0)
    await sales(rig, 2_000)
    count_at_backup = 1

    report = restore_journal(rig, repo, secret, backup_id, None)
    check = next(c for c in report.checks if c.name == "journal: reconciled with the host")
    assert not check.ok and report.findings == ()
    assert f"kassa recon run --terminal-db {rig.journal_path} --from " in check.detail
    journal = rig.restart().journal
    assert len(journal.txns()) == count_at_backup  # nothing invented
    assert int(journal.get("stan") or 0) == stan_at_backup + stan_gap_without_host
    assert journal.get("signed_on") == "0"


def test_the_cli_prints_what_to_run_on_the_host(tmp_path: Path, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the command line path is the same for both databases")
    rig = make_rig(db_url, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    rig.terminal.journal.close()
    rig.db.close()
    args = ["--journal", str(rig.journal_path), "--home", str(home)]
    env = {"KASSA_HOME": str(home)}
    ran = CliRunner().invoke(app, ["run", *args], env=env)
    assert ran.exit_code == 0, ran.output
    done = CliRunner().invoke(app, ["restore", "--at", "latest", "--yes", *args], env=env)
    assert done.exit_code == 1, done.output  # restored, but not yet reconciled
    assert "BAD  journal: reconciled with the host" in done.output
    assert f"kassa recon run --terminal-db {rig.journal_path}" in done.output
