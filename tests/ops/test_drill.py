"""Every drill must PASS: each plays its fault against a host on loopback (a real
`kassa host serve` process for the host outage; in-process elsewhere, where a process adds
nothing) and terminals in-process or as `kassa pos` processes killed mid-flight."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kassa.cli.drill import drill as drill_command
from kassa.errors import ConfigError, InputError
from kassa.ops.drills import SCENARIOS, devices, run_drill
from kassa.ops.drills.verdict import compare
from kassa.terminal.journal import TxnRecord
from kassa.terminal.states import State

pytestmark = pytest.mark.anyio
REAL_HOST_PROCESS = {"host_down"}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_every_drill_passes(name: str, tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_drill(name, tmp_path, lines.append, host_process=name in REAL_HOST_PROCESS)
    story = "\n".join(lines)
    assert result.passed, story
    assert lines[-1].startswith("PASS"), story
    assert "屏幕 screen" in story or "doctor" in story  # the cashier's view is told
    assert result.workdir is not None and result.workdir.parent == tmp_path / "drills"
    if name in REAL_HOST_PROCESS:  # `kassa host serve` ran: its log file proves it
        assert (result.workdir / "host" / "host.log").stat().st_size > 0


async def test_a_power_cut_variable_in_our_own_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KASSA_DRILL_POWER_CUT", "after_send")
    with pytest.raises(ConfigError, match="KASSA_DRILL_POWER_CUT"):
        await run_drill("network_cut", out=lambda _: None)


async def test_an_unknown_drill_names_the_known_ones() -> None:
    with pytest.raises(InputError, match="host_down"):
        await run_drill("meteor_strike", out=lambda _: None)


def test_the_command_lists_the_drills() -> None:
    app = typer.Typer()
    app.command()(drill_command)
    done = CliRunner().invoke(app, ["--list"])
    assert done.exit_code == 0
    assert [line.split()[0] for line in done.output.splitlines()] == list(SCENARIOS)


def _row(stan: str, state: State) -> TxnRecord:
    return TxnRecord(1, "000001", stan, "sale", 100, state, True, "021", None, "01", None, 0,
                     None, None, None, None, None, None, None, None, None, False, None, 0, 0,
                     "UTC+08:00")  # fmt: skip


def test_the_verdict_catches_disagreement() -> None:
    agree = compare("T1", [_row("000001", State.APPROVED)], {("000001", "000001"): "approved"})
    assert agree == []
    lost = compare("T1", [_row("000001", State.REVERSED)], {("000001", "000001"): "approved"})
    assert lost and "host says approved" in lost[0]
    unknown = compare("T1", [], {("000001", "000009"): "approved"})
    assert unknown and "unknown to the terminal" in unknown[0]
    waiting = compare("T1", [_row("000002", State.IN_DOUBT)], {})
    assert waiting and "still in_doubt" in waiting[0]
    declined = _row("000003", State.DECLINED)
    assert compare("T1", [declined], {("000001", "000003"): "declined"}) == []


async def test_the_disk_drill_works_without_mounting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a tmpfs cannot be mounted, the journal is capped instead: SQLite then fails
    writes with SQLITE_FULL, the very error a full disk gives."""
    monkeypatch.setattr(devices, "mount_small_disk", lambda stage, where: False)
    lines: list[str] = []
    result = await run_drill("disk_full", tmp_path, lines.append, host_process=False)
    story = "\n".join(lines)
    assert result.passed, story
    assert "max_page_count" in story and "cannot grow" in story
