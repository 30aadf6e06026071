"""Chaos with real processes: the simulator's faults, rehearsed on a real host and terminals.

A `kassa host serve` process and several terminals (each operation one `kassa pos --json`
process, the terminals in parallel threads) talk through a FaultProxy that cuts answers
after the host has acted and refuses connections. At random, terminal processes die by
SIGKILL: at a power-cut point of the drill (`KASSA_DRILL_POWER_CUT`) or at a random
moment; the host dies by SIGKILL mid-cycle and comes back on the same port and database.
After the cycles every terminal recovers and settles with the faults off, and the
promise is checked from the databases (`chaos_check`). Decisions come from one seeded
random generator; timing is real, so a seed replays the same plan, not the same trace.

    python -m kassa.sim.chaos --seed 7 --cycles 30 --terminals 3 [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kassa.sim.chaos_check import Shown, check_run
from kassa.sim.chaos_fork import Zygote
from kassa.sim.chaos_rig import (
    CASHIER,
    PASSWORD,
    PIN,
    HostProcess,
    ProxyThread,
    Ran,
    Runner,
    each,
    pos,
    run_cli,
    setup_terminal,
    swipe_of,
    tid_of,
)
from kassa.terminal.drill import ENV as POWER_CUT_ENV
from kassa.terminal.drill import POINTS

SALE_POINTS = tuple(p for p in POINTS if not p.startswith("settle"))
SETTLE_POINTS = tuple(p for p in POINTS if p.startswith("settle"))
recover_attempts_max = 6


@dataclass
class ChaosReport:
    seed: int
    cycles: int
    terminals: int
    dialect: str
    operations: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        lines = [
            f"chaos seed {self.seed}: {self.cycles} cycles x {self.terminals} terminals on "
            f"{self.dialect} in {self.elapsed_s:.1f} s: "
            + ("OK" if self.ok else f"{len(self.violations)} VIOLATION(S)"),
            f"  operations {dict(sorted(self.operations.items()))}",
            f"  outcomes   {dict(sorted(self.outcomes.items()))}",
            f"  faults     {dict(sorted(self.faults.items()))}",
        ]
        return "\n".join(lines + [f"  ! {v}" for v in self.violations])


@dataclass(frozen=True, slots=True)
class Step:
    """What one terminal does in one cycle, and how it is made to fail."""

    op: str  # sale, balance or settle
    amount: str
    power_cut: str | None
    kill_after_s: float | None


class Chaos:
    def __init__(self, workdir: Path, db_url: str, seed: int, terminals: int,
                 fork: bool = True) -> None:  # fmt: skip
        self.rng = random.Random(seed)
        self.zygote = Zygote(workdir / "calls") if fork else None
        self.run: Runner = self.zygote.run if self.zygote is not None else run_cli
        # An exec'd `kassa` spends its first second importing: kills must reach past that.
        self.kill_window_s = (0.005, 0.4) if fork else (0.5, 4.0)
        self.report = ChaosReport(seed, 0, terminals, db_url.split(":", 1)[0])
        self.host = HostProcess(workdir / "host", db_url)
        self.homes = {tid_of(i): workdir / f"term{i}" for i in range(terminals)}
        self.shown: list[Shown] = []
        self.must_settle: set[str] = set()
        self.proxy: ProxyThread | None = None
        self._lock = threading.Lock()

    def setup(self) -> None:
        self.host.load(len(self.homes))
        self.proxy = ProxyThread(self.host.start())
        port = self.proxy.start()
        for tid, home in self.homes.items():
            setup_terminal(home, tid, port)
        signed = each(list(self.homes.values()), self._sign_on)
        for tid, done in zip(self.homes, signed, strict=True):
            if done.returncode != 0:
                raise RuntimeError(f"terminal {tid} cannot sign on: {done.stderr.strip()}")

    def cycle(self) -> None:
        """One round: faults armed, every terminal does one thing at once, the host may die."""
        assert self.proxy is not None
        rng, faults = self.rng, self.report.faults
        refuse = rng.random() < 0.15
        cut = rng.choice((0, 0, 1, 2))
        host_kill_s = rng.uniform(*self.kill_window_s) if rng.random() < 0.15 else None
        steps = [self._step(tid) for tid in self.homes]
        self.proxy.refuse(refuse)
        self.proxy.cut(cut)
        faults.update({"proxy_refusing_cycle": int(refuse), "proxy_cuts_armed": cut})
        killer = None
        if host_kill_s is not None:
            faults["host_sigkill"] += 1
            killer = threading.Timer(host_kill_s, self.host.kill)
            killer.start()
        workers = [
            threading.Thread(target=self._run_step, args=(index, step))
            for index, step in enumerate(steps)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if killer is not None:
            killer.join()
        self.proxy.refuse(False)
        if not self.host.running:
            self.host.start()
            faults["host_restart"] += 1
        self.report.cycles += 1

    def _step(self, tid: str) -> Step:
        rng = self.rng
        op = rng.choices(("sale", "balance", "settle"), (80, 10, 10))[0]
        if tid in self.must_settle:  # the cashier finishes the settlement first, as told
            op = "settle"
        fen = rng.randint(1, 500_000)
        points = SETTLE_POINTS if op == "settle" else SALE_POINTS
        fault = rng.random()
        cut = rng.choice(points) if fault < 0.2 else None
        kill = rng.uniform(*self.kill_window_s) if 0.2 <= fault < 0.35 else None
        return Step(op, f"{fen // 100}.{fen % 100:02d}", cut, kill)

    def _run_step(self, index: int, step: Step) -> None:
        tid, home = list(self.homes.items())[index]
        env = {POWER_CUT_ENV: step.power_cut} if step.power_cut else None
        if step.op == "settle":
            args: tuple[str, ...] = ("settle", "--no-backup")
            card = ""
        else:
            args = ("sale", step.amount) if step.op == "sale" else ("balance",)
            card = f"{swipe_of(index)}\n{PIN}\n"
        ran = pos(self.run, home, *args, stdin=card, kill_after_s=step.kill_after_s, env=env)
        with self._lock:
            self._note(tid, step, ran)

    def _note(self, tid: str, step: Step, ran: Ran) -> None:
        report = self.report
        report.operations[step.op] += 1
        if step.power_cut and ran.returncode == -9:
            report.faults[f"power_cut:{step.power_cut}"] += 1
        if ran.killed:
            report.faults["terminal_sigkill"] += 1
        elif step.kill_after_s is not None:
            report.faults["terminal_sigkill_too_late"] += 1  # it had finished already
        if ran.returncode < 0:
            report.outcomes["killed"] += 1
            return
        if "Traceback" in ran.stderr + ran.stdout:
            report.violations.append(f"{tid} {step.op}: traceback\n{ran.stderr[-2000:]}")
            return
        try:
            doc = json.loads(ran.stdout)
        except json.JSONDecodeError:
            report.outcomes[f"{step.op}:refused"] += 1  # a one-line error, e.g. settle first
            return
        outcome = "approved" if doc.get("approved") or doc.get("ok") else doc.get("state")
        if doc.get("code") == "settlement_interrupted":
            self.must_settle.add(tid)
        elif step.op == "settle" and doc.get("ok"):
            self.must_settle.discard(tid)
        report.outcomes[f"{step.op}:{outcome or doc.get('code')}"] += 1
        if step.op == "sale" and doc.get("stan") and doc.get("batch"):
            self.shown.append(
                Shown(tid, doc["batch"], doc["stan"], bool(doc["approved"]), doc.get("state"))
            )

    def recover_all(self) -> None:
        """Faults off, host up: every terminal recovers, resolves and settles."""
        settled = each(list(self.homes.values()), self._recover_and_settle)
        for tid, ok in zip(self.homes, settled, strict=True):
            if not ok:
                self.report.violations.append(f"{tid} did not recover and settle")

    def _sign_on(self, home: Path) -> Ran:
        """Operator login, recovery of what a power cut left, sign-on, pending work resolved."""
        return pos(self.run, home, "signon", stdin=f"{CASHIER}\n{PASSWORD}\n")

    def _recover_and_settle(self, home: Path) -> bool:
        for _ in range(recover_attempts_max):
            signed = self._sign_on(home)
            status = pos(self.run, home, "status")
            if signed.returncode != 0 or status.returncode != 0:
                continue
            doc = json.loads(status.stdout)
            if doc["pending_reversals"] or doc["pending_resends"] or doc["saf_count"]:
                continue
            if pos(self.run, home, "settle", "--no-backup").returncode == 0:
                return True
        return False

    def finish(self) -> None:
        if self.proxy is None:  # setup failed: nothing ran, nothing to check
            self.host.stop()
            if self.zygote is not None:
                self.zygote.close()
            return
        self.report.faults.update(self.proxy.faults())
        self.proxy.stop()
        self.host.stop()
        if self.zygote is not None:
            self.zygote.close()
        if any("Traceback" in line for line in self.host.stderr_lines):
            self.report.violations.append("host traceback: " + "".join(self.host.stderr_lines))
        self.report.violations += check_run(self.host.db_url, self.homes, self.shown)


def run_chaos(workdir: Path, db_url: str | None, seed: int, cycles: int, terminals: int = 3,
              progress: Callable[[str], None] | None = None, fork: bool = True) -> ChaosReport:  # fmt: skip
    """Run `cycles` rounds of chaos under `workdir`; the report says what held.

    `fork`: start each `kassa pos` from a pre-imported helper (`chaos_fork`, about ten times
    faster); without it every operation is a fresh interpreter, as a cashier's would be.
    """
    url = db_url or f"sqlite:///{workdir / 'host' / 'host.db'}"
    chaos = Chaos(workdir, url, seed, terminals, fork)
    started = time.monotonic()
    try:
        chaos.setup()
        for number in range(cycles):
            chaos.cycle()
            if progress is not None:
                progress(f"cycle {number + 1}/{cycles}: {dict(chaos.report.outcomes)}")
        chaos.recover_all()
    finally:
        chaos.finish()
    chaos.report.elapsed_s = time.monotonic() - started
    return chaos.report


def main(argv: list[str] | None = None) -> int:
    """`python -m kassa.sim.chaos`: exit status 0 when the promise held, 1 when not."""
    parser = argparse.ArgumentParser(prog="kassa.sim.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--terminals", type=int, default=3)
    parser.add_argument("--db", default=None, help="host database URL (default: SQLite)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    parser.add_argument("--exec", action="store_true", help="a fresh interpreter per command")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kassa-chaos-") as scratch:
        workdir = args.workdir or Path(scratch)
        report = run_chaos(workdir, args.db, args.seed, args.cycles, args.terminals,
                           lambda line: print(line, file=sys.stderr), fork=not args.exec)  # fmt: skip
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
