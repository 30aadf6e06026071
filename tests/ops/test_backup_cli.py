"""`kassa backup` end to end: host database, terminal journal and logs in one home."""

from __future__ import annotations

from pathlib import Path

import pytest
from backupkit import BACKUP_ID, Term, new_home, open_host, rows_of, sell
from typer.testing import CliRunner

from kassa.cli.backup import app
from kassa.errors import ConfigError, InputError
from kassa.host.runtime import default_db_url
from kassa.terminal.journal import Journal

DEVICE_KEY = bytes(range(32))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return new_home(tmp_path, host_dir=False)


def invoke(home: Path, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, [*args, "--home", str(home)], env={"KASSA_HOME": str(home)})
    return result.exit_code, result.output, result.exception


def test_run_list_verify_restore_schedule(home: Path) -> None:
    url = default_db_url(home)
    (home / "host").mkdir()
    term = Term(*open_host(url))
    term.sign_on()
    sell(term, 100)
    journal = (
        Journal.open(str(home / "terminal" / "journal.db"), DEVICE_KEY)
        if (home / "terminal").mkdir() is None
        else None
    )
    assert journal is not None
    journal.put(batch="000001")

    code, out, _ = invoke(home, "run")
    assert code == 0, out
    first = BACKUP_ID.findall(out)[0]
    assert f"backup {first}: full" in out and "db, journal, logs" in out
    first_rows = business_rows(url)

    sell(term, 200)
    journal.put(batch="000002")
    share = home.parent / "share"
    share.mkdir()
    code, out, _ = invoke(home, "run", "--incremental", "--remote", str(share))
    assert code == 0, out
    second = BACKUP_ID.findall(out)[0]
    assert f"incremental of {first}" in out
    assert out.count(": OK (copied and read back)") == 2  # the chain went to the share

    code, out, _ = invoke(home, "verify")
    assert code == 0 and f"backup {second}: OK" in out, out
    assert "journal: integrity_check: ok" in out and "logs: archive: 2 entries" in out
    code, out, _ = invoke(home, "list")
    assert first in out and second in out and "incremental" in out and "OK " in out

    term.db.close()
    journal.close()
    code, out, error = invoke(home, "restore", "--at", first)
    assert isinstance(error, InputError) and "rerun with --yes" in str(error)
    code, out, _ = invoke(home, "restore", "--at", first, "--yes")
    assert code == 0, out
    assert "backup of the data before the restore:" in out and "host ledger check" in out
    assert business_rows(url) == first_rows
    reopened = Journal.open(str(home / "terminal" / "journal.db"), DEVICE_KEY)
    assert reopened.get("batch") == "000001"
    reopened.close()

    code, out, _ = invoke(home, "schedule")
    assert code == 0 and "due now: nothing" in out, out
    (home / "backup.toml").write_text("[retention]\ndaily = 1\nweekly = 0\nmonthly = 0\n")
    code, out, _ = invoke(home, "schedule", "--apply")
    assert code == 0 and f"delete {first}" in out and f"delete {second}" in out, out
    code, out, _ = invoke(home, "list")
    listed = {cells[1].strip() for line in out.splitlines() if len(cells := line.split("│")) > 2}
    ids = {cell for cell in listed if BACKUP_ID.fullmatch(cell)}
    assert ids and first not in ids and second not in ids and "pre-restore" in out


def test_bad_arguments_are_one_line_errors(home: Path) -> None:
    _, _, error = invoke(home, "run", "--full", "--incremental")
    assert isinstance(error, InputError)
    _, _, error = invoke(home, "run")
    assert isinstance(error, InputError) and "nothing to back up" in str(error)
    _, _, error = invoke(home, "verify")
    assert isinstance(error, InputError) and "no backups" in str(error)
    _, _, error = invoke(home, "restore", "--at", "yesterday")
    assert isinstance(error, InputError)
    (home / "backup.toml").write_text("[schedule]\ndaily = 'hourly'\n")
    _, _, error = invoke(home, "schedule")
    assert isinstance(error, ConfigError) and "schedule.daily" in str(error)
    (home / "backup.toml").write_text("[schedule\n")
    _, _, error = invoke(home, "list")
    assert isinstance(error, ConfigError)


def business_rows(url: str) -> dict[str, object]:
    """The data without the audit trail: backups and restores are themselves audited, so
    the log after a restore rightly holds one entry more than the backup did."""
    rows = rows_of(url)
    rows = {k: v for k, v in rows.items() if not k.startswith("audit")}
    rows["schema_migrations"] = [r for r in rows.get("schema_migrations", []) if r[0] != "audit"]
    return rows
