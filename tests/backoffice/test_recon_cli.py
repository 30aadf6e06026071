"""`kassa recon` end to end: operators, a run, a correction and its approval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_recon_kit import Rig, drive_day, host_ok, rigged
from typer.testing import CliRunner

from kassa.audit import AuditLog, ChainKey
from kassa.auth import totp_code, totp_step
from kassa.cli import recon
from kassa.clock import SYSTEM
from kassa.errors import InputError
from kassa.host.masterkey import ENV, load_master_key

pytestmark = pytest.mark.anyio
runner = CliRunner()
PASSWORD = "Back-Office-2026"


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.delenv(ENV, raising=False)
    with rigged(f"sqlite:///{tmp_path / 'host.db'}", tmp_path, floor_limit_fen=20_000) as r:
        yield r


class Codes:
    """One-time codes as an authenticator shows them, never one step twice."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.last: dict[str, int] = {}

    def next(self, who: str) -> str:
        step = max(totp_step(SYSTEM.now_ms()) - 1, self.last.get(who, -1) + 1)
        self.last[who] = step
        return totp_code(self.secrets[who], step)


def invoke(args: list[str], rig: Rig, home: Path, stdin: str = "") -> object:
    db = f"sqlite:///{home / 'host.db'}"
    args = [*args, "--db", db, "--home", str(home)]
    return runner.invoke(recon.app, args, input=stdin, env={"COLUMNS": "300"})


def _add(rig: Rig, home: Path, codes: Codes, who: str, role: str, login: str | None) -> None:
    stdin = f"{PASSWORD}\n{PASSWORD}\n"
    if login:
        stdin = f"{login}\n{PASSWORD}\n{codes.next(login)}\n" + stdin
    result = invoke(["operator", "add", "--id", who, "--role", role], rig, home, stdin)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out: str = result.output  # type: ignore[attr-defined]
    if "secret" in out:
        codes.secrets[who] = out.rsplit(": ", 1)[1].strip()


async def test_run_correct_approve(rig: Rig, tmp_path: Path) -> None:
    await drive_day(rig)
    codes = Codes()
    _add(rig, tmp_path, codes, "sup01", "supervisor", None)
    _add(rig, tmp_path, codes, "sup02", "supervisor", "sup01")
    _add(rig, tmp_path, codes, "ops01", "operator", "sup01")
    run = invoke(["run", "--terminal-db", str(rig.journal_path), "--operator", "ops01",
                  "--json"], rig, tmp_path)  # fmt: skip
    assert run.exit_code == 1, run.output  # type: ignore[attr-defined]
    summary = json.loads(run.output)  # type: ignore[attr-defined]
    assert (summary["mismatched"], summary["expected"]) == (5, 2)
    listed = json.loads(invoke(["list", "--status", "open", "--json"], rig, tmp_path).output)  # type: ignore[attr-defined]
    amount = next(d for d in listed["differences"] if d["kind"] == "amount_mismatch")
    made = invoke(["correct", str(amount["id"]), "--reason", "receipt shows 120.00", "--amount",
                   "40.00", "--operator", "ops01", "--attach", "receipt-0004.jpg"], rig,
                  tmp_path, f"{PASSWORD}\n")  # fmt: skip
    assert made.exit_code == 0, made.output  # type: ignore[attr-defined]
    refused = invoke(["approve", "1", "--operator", "ops01"], rig, tmp_path, f"{PASSWORD}\n\n")
    assert isinstance(refused.exception, InputError)  # type: ignore[attr-defined]
    done = invoke(["approve", "1", "--operator", "sup02"], rig, tmp_path,
                  f"{PASSWORD}\n{codes.next('sup02')}\n")  # fmt: skip
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    history = json.loads(invoke(["list", "--json"], rig, tmp_path).output)  # type: ignore[attr-defined]
    fix = history["corrections"][0]
    assert (fix["maker"], fix["checker"], fix["status"], fix["amount_fen"]) == (
        "ops01",
        "sup02",
        "approved",
        4_000,
    )
    assert fix["evidence"]["attachments"] == ["receipt-0004.jpg"]
    assert any(d["status"] == "corrected" for d in history["differences"])
    host_ok(rig.db)
    table = invoke(["list"], rig, tmp_path)
    shown: str = table.output  # type: ignore[attr-defined]
    assert "amount_mismatch" in shown and "receipt shows 120.00" in shown and "sup02" in shown
    log = AuditLog(
        rig.db, "cli", ChainKey.from_master(load_master_key(tmp_path / "host" / "master.key"))
    )
    assert log.verify().ok
    actions = [r.action for r in log.iter_records()]
    for action in ("recon.operator_add", "recon.run", "recon.correct", "recon.approve_refused",
                   "recon.approve"):  # fmt: skip
        assert action in actions
