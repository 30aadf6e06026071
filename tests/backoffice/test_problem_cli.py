"""`kassa problem` end to end on a host database."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_recon_kit import Rig, rigged
from typer.testing import CliRunner

from kassa.card import find_pans
from kassa.cli import problem
from kassa.errors import InputError
from kassa.host.masterkey import ENV

pytestmark = pytest.mark.anyio
runner = CliRunner()


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    monkeypatch.delenv(ENV, raising=False)
    with rigged(f"sqlite:///{tmp_path / 'host.db'}", tmp_path) as r:
        yield r


def run(args: list[str], home: Path) -> str:
    result = runner.invoke(problem.app, [*args, "--db", f"sqlite:///{home / 'host.db'}",
                                         "--home", str(home)])  # fmt: skip
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


async def test_open_update_export_lessons(rig: Rig, tmp_path: Path) -> None:
    assert (await rig.terminal.sign_on()).ok
    declined = await rig.sale(1_000, pin="0000")
    assert declined.code == "55"
    shown = run(["open", "--txn", declined.rrn or "", "--note", "PIN disputed",
                 "--operator", "ops01"], tmp_path)  # fmt: skip
    assert "problem 1 [open] decline" in shown
    run(["update", "1", "--check", "PIN pad OK"], tmp_path)
    closed = run(["update", "1", "--outcome", "customer retried", "--close"], tmp_path)
    assert "[closed]" in closed and "PIN pad OK" in closed
    listed = [json.loads(line) for line in run(["list", "--json"], tmp_path).splitlines()]
    assert [(p["id"], p["status"], p["checks"]) for p in listed] == [(1, "closed", ["PIN pad OK"])]
    pack = tmp_path / "p1.zip"
    run(["export", "1", "--out", str(pack), "--journal", str(rig.journal_path)], tmp_path)
    with zipfile.ZipFile(pack) as z:
        assert all(find_pans(z.read(n).decode("utf-8")) == [] for n in z.namelist())
        assert declined.rrn in z.read("receipts.txt").decode("utf-8")
    report = json.loads(run(["lessons", "--from", "2026-11-01", "--to", "2026-11-30", "--json"],
                            tmp_path))  # fmt: skip
    assert [(d["code"], d["count"]) for d in report["declines"]] == [("55", 1)]
    assert "55" in run(["lessons", "--from", "2026-11-18", "--to", "2026-11-18"], tmp_path)
    with pytest.raises(InputError, match="closed"):
        run(["update", "1", "--check", "late"], tmp_path)
