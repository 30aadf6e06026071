"""`kassa audit verify|report` through Typer's runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kassa.audit import AuditLog, ChainKey
from kassa.cli.audit import app
from kassa.errors import ConfigError, InputError
from kassa.store import connect

runner = CliRunner()
MASTER = bytes(range(100, 132))
CST = timezone(timedelta(hours=8))
DAY0 = datetime(2024, 5, 1, tzinfo=CST)


def _ms(days: float) -> int:
    return int((DAY0 + timedelta(days=days)).timestamp() * 1000)


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A host audit log keyed from the host master key: 5 entries over 2024-05-01/02."""
    monkeypatch.setenv("KASSA_HOST_MASTER_KEY", MASTER.hex())
    with connect(db_url, durable=False) as db:
        log = AuditLog(db, "host", ChainKey.from_master(MASTER))
        log.record("0001", "cashier", "login.ok", "T1", {}, _ms(0.4))  # 09:36
        log.record("0002", "cashier", "login.failed", "T1", {"tries": 1}, _ms(0.41))
        log.record("0001", "cashier", "txn.void", "STAN 000001", {"amount_fen": 100}, _ms(0.5))
        log.record("admin", "admin", "key.change", "TMK T1", {"kcv": "ABCDEF"}, _ms(0.99))
        log.record("admin", "admin", "config.change", "fees", {}, _ms(1.5))
    return db_url, str(tmp_path)


def _drop_last(db_url: str) -> None:
    with connect(db_url) as db, db.transaction() as tx:
        if tx.dialect == "sqlite":
            tx.execute("DROP TRIGGER audit_log_no_delete")
        else:
            tx.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        tx.execute("DELETE FROM audit_log WHERE seq = 3")


def test_verify_ok_prints_the_head_anchor(env: tuple[str, str]) -> None:
    url, home = env
    result = runner.invoke(app, ["verify", "--db", url, "--home", home])
    assert result.exit_code == 0, result.output
    assert "audit log OK: 5 entries" in result.stdout and "head 5:" in result.stdout
    anchor = result.stdout.split("head ")[1].strip()
    again = runner.invoke(app, ["verify", "--db", url, "--home", home, "--anchor", anchor])
    assert again.exit_code == 0, again.output


def test_verify_names_the_first_bad_entry(env: tuple[str, str]) -> None:
    url, home = env
    _drop_last(url)
    result = runner.invoke(app, ["verify", "--db", url, "--home", home])
    assert result.exit_code == 1
    assert "BROKEN at entry 3 (deleted)" in result.stdout
    assert "seq 4" in result.stdout and "admin" in result.stdout and "key.change" in result.stdout


def test_verify_against_an_anchor_finds_truncation(env: tuple[str, str]) -> None:
    url, home = env
    result = runner.invoke(
        app, ["verify", "--db", url, "--home", home, "--anchor", "9:" + "a" * 16]
    )
    assert result.exit_code == 1 and "BROKEN at entry 6 (truncated)" in result.stdout


def test_verify_without_the_key_fails_and_says_why(env: tuple[str, str]) -> None:
    url, home = env
    result = runner.invoke(app, ["verify", "--db", url, "--home", home, "--key", "none"])
    assert result.exit_code == 1 and "wrong key?" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "--anchor", "nonsense"],
        ["report", "--from", "2024-13-01"],
        ["report", "--to", "yesterday"],
        ["report", "--from", "2024-05-03", "--to", "2024-05-01"],
        ["report", "--format", "xml"],
        ["report", "--hours", "25:00-08:00"],
        ["verify", "--key", "maybe"],
    ],
)
def test_bad_options_are_one_line_input_errors(env: tuple[str, str], args: list[str]) -> None:
    url, home = env
    result = runner.invoke(app, [*args, "--db", url, "--home", home])
    assert isinstance(result.exception, InputError), result.output
    assert "\n" not in str(result.exception)


def test_missing_database_is_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--home", str(tmp_path)])
    assert isinstance(result.exception, InputError) and "no database" in str(result.exception)


def test_report_json(env: tuple[str, str]) -> None:
    url, home = env
    args = ["report", "--db", url, "--home", home, "--from", "2024-05-01", "--to", "2024-05-01"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["from"] == "2024-05-01T00:00:00+08:00"
    assert payload["to"] == "2024-05-02T00:00:00+08:00"  # the --to day is included
    assert payload["total"] == 4 and payload["verification"]["ok"] is True
    assert [e["actor"] for e in payload["failed_logins"]] == ["0002"]
    assert [e["category"] for e in payload["listed"]] == ["void", "key"]
    assert [e["action"] for e in payload["after_hours"]] == ["key.change"]  # 23:45


def test_report_csv_and_table(env: tuple[str, str]) -> None:
    url, home = env
    args = ["report", "--db", url, "--home", home, "--from", "2024-05-01", "--to", "2024-05-02"]
    result = runner.invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sum(1 for r in rows if r["section"] == "by_action") == 5
    table = runner.invoke(app, [*args, "--hours", "10:00-18:00"])
    assert table.exit_code == 0, table.output
    flat = "".join(table.stdout.split())
    for phrase in ("Chainverified:5entries", "Failedlogins(1)", "Afterhours(3)", "key.change"):
        assert phrase in flat, phrase


def test_report_exits_1_on_a_broken_chain(env: tuple[str, str]) -> None:
    url, home = env
    _drop_last(url)
    result = runner.invoke(
        app, ["report", "--db", url, "--home", home, "--from", "2024-05-01", "--format", "json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["verification"]["first_bad_seq"] == 3


def test_key_host_insists_on_a_host_master_key(
    env: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, home = env
    monkeypatch.delenv("KASSA_HOST_MASTER_KEY")
    result = runner.invoke(app, ["verify", "--db", url, "--home", home, "--key", "host"])
    assert isinstance(result.exception, ConfigError) and "master key" in str(result.exception)
    auto = runner.invoke(app, ["verify", "--db", url, "--home", home])  # falls back: unkeyed
    assert auto.exit_code == 1 and "wrong key?" in auto.stdout
