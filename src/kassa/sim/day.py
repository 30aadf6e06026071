"""A trading day in simulated time: sign-on, the day's operations under faults, settlement.

Every step runs one operation at one till while faults are armed: the network's fault
rate, a power cut or a full disk at one of the till's coming writes, clock jumps,
partitions, a failing printer. A power cut ends the operation on the spot; the till is
then restarted (journal reopened from disk) and `recover()` runs, which can itself be cut.
A `StoreError` that escapes reaches the cashier as an error; then the till either goes on
or is restarted, as a real shop would. Any other exception is a bug: the day stops there.
At closing time the faults die down and each till settles until it succeeds.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from functools import partial

from kassa.errors import StoreError
from kassa.sim.cashier import Cashier
from kassa.sim.checks import Checker
from kassa.sim.model import FaultKind, TraceStep
from kassa.sim.storage import PowerCut
from kassa.sim.world import Till, World

Action = Callable[[], Awaitable[str]]
_MINUTE_MS = 60_000
_REBOOTS_MAX = 4
_SETTLE_TRIES_MAX = 12
_SETTLE_TRIES_FAULTY = 4
_FAULTS = frozenset({"power cycle", "clock jump", "partition"})
_CLOCK_JUMPS_MS = (-7_200_000, -600_000, -90_000, 45_000, 300_000, 3_600_000, 10_800_000)


class Day:
    def __init__(self, world: World, checker: Checker, operations: int, faults: bool = True):
        """`faults=False`: a day without injected faults (no network, disk, clock or printer
        trouble, no partitions), for checking the checks themselves."""
        self.world = world
        self.rng = world.rng
        self.checker = checker
        self.cashier = Cashier(world.rng, checker)
        self.operations = operations
        self.trace: list[TraceStep] = []
        self.stopped = False
        self.faults = faults
        world.net.fault_rate = self.rng.choice((0.03, 0.1, 0.2, 0.35))
        world.printer_fail_rate = self.rng.choice((0.0, 0.1, 0.3))
        self.crash_rate = self.rng.choice((0.05, 0.15, 0.3))
        self.full_rate = self.rng.choice((0.0, 0.03, 0.08))
        if not faults:
            world.calm()

    async def run(self) -> None:
        for till in self.world.tills:
            await self.step(till, "sign-on", partial(self._sign_on, till))
        for _ in range(self.operations):
            if self.stopped:
                return
            self.world.clock.advance(self.rng.randint(1, 40) * _MINUTE_MS // 2)
            till = self.rng.choice(self.world.tills)
            name, action = self._pick(till)
            await self.step(till, name, action)
        await self.close_shop()

    # -- one step ---------------------------------------------------------------------

    def _arm(self, till: Till) -> None:
        if self.world.net.calm:
            return
        rng, plan = self.world.disk_rng, till.plan
        if rng.random() < self.crash_rate:
            plan.arm_crash(rng.randint(1, 10), after_commit=rng.random() < 0.5)
        elif rng.random() < self.full_rate:
            plan.arm_full(rng.randint(1, 6), rng.randint(1, 3))

    async def step(self, till: Till, name: str, action: Action, arm: bool = True) -> str:
        """Run `action` at `till` with faults armed; trace it, check, restart if it died."""
        if arm:
            self._arm(till)
        died = failed = False
        try:
            outcome = await action()
        except PowerCut as cut:
            outcome, died = f"POWER CUT ({cut})", True
        except StoreError as exc:
            outcome, failed = f"error shown: {exc}", True
        except Exception as exc:  # a bug in the code under test: report it and stop
            outcome = f"BUG {type(exc).__name__}: {exc}"
            where = traceback.extract_tb(exc.__traceback__)[-1]
            detail = f"{type(exc).__name__}: {exc} at {where.filename}:{where.lineno} in {name}"
            self.checker.fail("no-exception", detail, len(self.trace) + 1)
            self.stopped = True
        finally:
            till.plan.disarm()
        number = len(self.trace) + 1
        step = TraceStep(number, self.world.clock.now_ms(), till.name, name,
                         self.world.take_notes(), outcome)  # fmt: skip
        self.trace.append(step)
        if not self.stopped:
            self.checker.step(number)
        if died or (failed and self.rng.random() < 0.5):
            await self.reboot(till)
        return outcome

    async def reboot(self, till: Till) -> None:
        """Power the till up again and recover; recovery itself may be cut, a few times."""
        for attempt in range(_REBOOTS_MAX):
            if self.stopped:
                return
            till.restart()
            recovered = await self.step(
                till, "restart + recover", lambda: self._recover(till), arm=attempt < 2
            )
            if not recovered.startswith("POWER CUT"):
                return

    async def _recover(self, till: Till) -> str:
        found = await till.pos.recover()
        return "recovered: " + (", ".join(f"{o.code}:{o.stan}" for o in found) or "nothing")

    # -- what happens at the tills ------------------------------------------------------

    def _pick(self, till: Till) -> tuple[str, Action]:
        c = self.cashier
        menu: list[tuple[str, int, Action]] = [
            ("sale", 30, lambda: c.sale(till)),
            ("sale (wrong PIN)", 3, lambda: c.wrong_pin(till)),
            ("void", 7, lambda: c.void(till)),
            ("refund", 6, lambda: c.refund(till)),
            ("balance inquiry", 5, lambda: c.balance(till)),
            ("pre-auth", 6, lambda: c.preauth(till)),
            ("completion", 6, lambda: c.completion(till)),
            ("pre-auth void", 2, lambda: c.preauth_void(till)),
            ("settle (shift change)", 2, lambda: self._settle(till)),
            ("sign-on", 2, lambda: self._sign_on(till)),
            ("power cycle", 2, lambda: self._power_cycle(till)),
            ("clock jump", 2, lambda: self._clock_jump(till)),
            ("partition", 3, lambda: self._partition(till)),
        ]
        names, weights, actions = zip(*menu, strict=True)
        if not self.faults:
            weights = tuple(0 if n in _FAULTS else w for n, w in zip(names, weights, strict=True))
        index = self.rng.choices(range(len(menu)), weights)[0]
        if not till.pos.ctx.signed_on and names[index] not in ("clock jump", "partition"):
            return "sign-on", lambda: self._sign_on(till)
        return names[index], actions[index]

    async def _sign_on(self, till: Till) -> str:
        result = await till.pos.sign_on()
        return f"{'ok' if result.ok else 'failed'} {result.code} batch={result.batch}"

    async def _settle(self, till: Till) -> str:
        if not till.pos.ctx.signed_on:
            await self._sign_on(till)
        out = await till.pos.settle()
        return (
            f"{'ok' if out.ok else 'failed'} {out.code} batch={out.batch} step={out.step}"
            f" balanced={out.balanced} uploaded={out.uploaded}"
        )

    async def _power_cycle(self, till: Till) -> str:
        till.restart()
        return await self._recover(till)

    async def _clock_jump(self, till: Till) -> str:
        jump = self.rng.choice(_CLOCK_JUMPS_MS)
        till.clock.skew_ms += jump
        self.world.note(FaultKind.CLOCK_JUMP, f"{jump // 1000:+d} s")
        return f"terminal clock now {till.clock.skew_ms // 1000:+d} s off"

    async def _partition(self, till: Till) -> str:
        minutes = self.rng.randint(5, 90)
        self.world.net.cut(till.name, self.world.clock.now_ms() + minutes * _MINUTE_MS)
        return f"cut off for {minutes} min"

    # -- closing time -------------------------------------------------------------------

    async def close_shop(self) -> None:
        """Deliver what the network still holds, then settle every till until it works."""
        if self.world.net.held:
            await self.step(self.world.tills[0], "network drains", self._drain, arm=False)
        for till in self.world.tills:
            for attempt in range(_SETTLE_TRIES_MAX):
                if self.stopped:
                    return
                if attempt == _SETTLE_TRIES_FAULTY:
                    self.world.calm()
                self.world.clock.advance(_MINUTE_MS)
                outcome = await self.step(till, "settle (end of day)", partial(self._settle, till))
                if outcome.startswith("ok"):
                    break
            else:
                self.checker.fail("settlement-completes", f"{till.name} could not settle with"
                                  " the faults gone", len(self.trace))  # fmt: skip
        self.world.calm()
        if not self.stopped:
            self.checker.final(len(self.trace))

    async def _drain(self) -> str:
        held = len(self.world.net.held)
        for body in self.world.net.held:
            self.world.host_handle(body)
        self.world.net.held.clear()
        return f"{held} held request(s) reached the host late"
