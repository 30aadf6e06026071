"""Drills (应急演练): rehearse a fault against real processes on loopback and watch the
system recover. Each drill builds a scratch host database and terminal homes, starts the
host (a `kassa host serve` process, or the same server in-process), plays its story —
narrating what the cashier sees and what recovery did — and ends with a verdict computed
from the databases (`verdict.judge`): PASS or FAIL.

    result = await run_drill("network_cut")
    result.passed
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from kassa import logs
from kassa.errors import ConfigError, InputError
from kassa.ops.drills import devices, keys_clock, network, power
from kassa.ops.drills.cast import CARD_BALANCE_FEN, Narrator
from kassa.ops.drills.stage import Stage, power_cut_env_set
from kassa.ops.drills.verdict import Verdict, judge

Story = Callable[[Stage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title_zh: str
    title_en: str
    story: Story


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("host_down", "主机故障", "host down, offline sales, host back", network.host_down),
        Scenario("network_cut", "网络中断", "network cut mid-sale", network.network_cut),
        Scenario("power_cut_sale", "交易中断电", "terminal power cut mid-sale",
                 power.power_cut_sale),
        Scenario("power_cut_settle", "结算中断电", "power cut mid-settlement",
                 power.power_cut_settle),
        Scenario("printer_paper", "打印机缺纸", "printer out of paper", devices.printer_paper),
        Scenario("disk_full", "存储空间满", "disk full", devices.disk_full),
        Scenario("clock_jump", "时钟跳变", "terminal clock jump", keys_clock.clock_jump),
        Scenario("stale_keys", "密钥失效", "host lost the terminal's keys", keys_clock.stale_keys),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DrillResult:
    name: str
    verdict: Verdict
    expectations: tuple[str, ...]  # what the story expected and did not see
    workdir: Path | None  # kept when the drill ran under a home

    @property
    def passed(self) -> bool:
        return self.verdict.passed and not self.expectations


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise InputError(f"no drill {name!r}; known drills: {known}") from None


async def run_drill(
    name: str,
    home: Path | None = None,
    out: Callable[[str], None] = print,
    host_process: bool = True,
    log_to_workdir: bool = False,
) -> DrillResult:
    """Play one drill. Under `home` its scratch data is kept (in home/drills/); without,
    it lives in a temporary directory removed afterwards. `log_to_workdir` sends Kassa's
    logs to the scratch directory instead of stderr (for the command line)."""
    chosen = scenario(name)
    if power_cut_env_set():
        raise ConfigError("unset KASSA_DRILL_POWER_CUT: drills set it only for the terminal "
                          "processes they start")  # fmt: skip
    if home is not None:
        (home / "drills").mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=home / "drills"))
        if log_to_workdir:
            logs.configure(home=work)
        return await _play(chosen, work, out, host_process, keep=True)
    with tempfile.TemporaryDirectory(prefix=f"kassa-drill-{name}-") as tmp:
        if log_to_workdir:
            logs.configure(home=Path(tmp))
        return await _play(chosen, Path(tmp), out, host_process, keep=False)


async def _play(chosen: Scenario, work: Path, out: Callable[[str], None], host_process: bool,
                keep: bool) -> DrillResult:  # fmt: skip
    say = Narrator(out)
    say(f"演练 drill {chosen.name}: {chosen.title_zh} / {chosen.title_en}")
    say(f"  host: {'a kassa host serve process' if host_process else 'in this process'}, "
        f"scratch data in {work}")  # fmt: skip
    stage = Stage(work, say, host_process)
    try:
        stage.load_host((network.TID,))
        await stage.start_host()
        await chosen.story(stage)
        db = stage.host_db()
        try:
            verdict = judge(db, [(t.tid, t.home) for t in stage.tills], CARD_BALANCE_FEN)
        finally:
            db.close()
    finally:
        await stage.close()
    _announce(say, verdict)
    return DrillResult(chosen.name, verdict, tuple(say.problems), work if keep else None)


def _announce(say: Narrator, verdict: Verdict) -> None:
    say("\n结论 verdict (from the databases):")
    for line in verdict.summary:
        say(f"  {line}")
    for problem in (*say.problems, *verdict.problems):
        say(f"  ✗ {problem}")
    passed = verdict.passed and not say.problems
    say(f"{'PASS' if passed else 'FAIL'}: " + (
        "ledger and journal agree; nothing lost, nothing charged twice" if passed
        else "see the problems above"))  # fmt: skip


__all__ = ["SCENARIOS", "DrillResult", "Scenario", "run_drill", "scenario"]
