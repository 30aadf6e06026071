"""One seed's world: the host core, the network, the tills (terminal + journal + printer).

Randomness comes from one `random.Random(seed)`, split at the start into independent
streams (host, network, disk, printer, workload) so that one part drawing more numbers
does not shift the others. Every fault injected is counted and noted for the trace.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kassa.clock import FixedClock
from kassa.errors import StoreError
from kassa.host.core import HostCore
from kassa.host.secrets import HostSecrets
from kassa.sim.model import FaultKind
from kassa.sim.network import Network, SimLink
from kassa.sim.reference import (
    DAY_START_MS,
    DEVICE_KEY,
    HOST_CONFIG,
    HOST_MASTER,
    Templates,
    open_journal_db,
    tid_of,
)
from kassa.sim.storage import DiskPlan, FaultyDatabase
from kassa.store import Transaction, connect
from kassa.terminal.journal import Journal
from kassa.terminal.pos import Terminal

RESPONSE_TIMEOUT_S = 60.0


async def no_sleep(_: float) -> None:
    """The terminal's back-off sleeps take no time: the simulator owns the clock."""


class SkewClock:
    """A terminal's clock: the shop's time plus a skew that the simulator makes jump."""

    def __init__(self, base: FixedClock) -> None:
        self.base = base
        self.skew_ms = 0

    def now_ms(self) -> int:
        return self.base.now_ms() + self.skew_ms

    def monotonic_s(self) -> float:
        return self.base.monotonic_s()


class SimReceipts:
    """The receipts path (`kassa.terminal.pending.Receipts`) with a printer that fails.

    A job is queued in the journal in the same transaction as the outcome it prints; a
    flush prints queued jobs in order and stops at the first the printer refuses.
    """

    def __init__(self, journal: Journal, clock: SkewClock, rng: random.Random,
                 world: World) -> None:  # fmt: skip
        self.journal = journal
        self.clock = clock
        self.rng = rng
        self.world = world

    def queue(self, tx: Transaction, txn_id: int, now_ms: int) -> None:
        row = tx.fetchone(
            "SELECT batch, stan, txn_type, pan_masked, amount_fen FROM txns WHERE id = ?",
            (txn_id,),
        )
        assert row is not None, f"receipt for unknown txn {txn_id}"
        payload = " ".join(str(v) for v in row).encode()
        self.journal.add_print_job(tx, txn_id, str(row[2]), "merchant", payload, now_ms)

    def flush(self) -> None:
        for job_id, _ in self.journal.queued_prints():
            if self.rng.random() < self.world.printer_fail_rate:
                self.world.note(FaultKind.PRINTER_FAIL, f"job {job_id}")
                return
            try:
                self.journal.mark_printed(job_id, self.clock.now_ms())
            except StoreError:
                return  # stays queued: printed again later rather than lost


@dataclass
class Till:
    """One terminal of the shop, which the simulator can power-cycle."""

    index: int
    name: str
    path: Path
    plan: DiskPlan
    clock: SkewClock
    link: SimLink
    printer_rng: random.Random
    world: World
    terminal: Terminal | None = None

    def open(self) -> Terminal:
        journal = Journal(FaultyDatabase(open_journal_db(self.path), self.plan), DEVICE_KEY)
        receipts = SimReceipts(journal, self.clock, self.printer_rng, self.world)
        self.terminal = Terminal(journal, self.link, self.clock, no_sleep, receipts)
        return self.terminal

    def restart(self) -> Terminal:
        """A power cycle: the terminal object is gone, its journal reopened from disk."""
        self.plan.disarm()
        self.close()
        return self.open()

    def close(self) -> None:
        if self.terminal is not None:
            self.terminal.journal.close()
            self.terminal = None

    @property
    def pos(self) -> Terminal:
        assert self.terminal is not None
        return self.terminal


class World:
    """The host, the network and `terminals` tills, in a fresh directory `where`."""

    def __init__(self, seed: int, terminals: int, where: Path) -> None:
        root = random.Random(seed)
        streams = [random.Random(root.getrandbits(64)) for _ in range(5)]
        self.rng, host_rng, net_rng, self.disk_rng, printer_rng = streams
        self.clock = FixedClock(DAY_START_MS)
        self.faults: Counter[str] = Counter()
        self.notes: list[str] = []
        self.printer_fail_rate = 0.0
        self.host_path, journals = Templates.get().copy_to(where, terminals)
        self.host_db = connect(f"sqlite:///{self.host_path}", durable=False)
        self.secrets = HostSecrets.from_master(HOST_MASTER)
        self.core = HostCore(self.secrets, HOST_CONFIG, host_rng.randbytes)
        self.net = Network(net_rng, self.host_handle, self.clock, self.note)
        self.tills: list[Till] = []
        for i, path in enumerate(journals):
            name = tid_of(i)
            till = Till(i, name, path, DiskPlan(self.note), SkewClock(self.clock),
                        self.net.link(name, RESPONSE_TIMEOUT_S),
                        random.Random(printer_rng.getrandbits(64)), self)  # fmt: skip
            till.open()
            self.tills.append(till)

    def host_handle(self, body: bytes) -> bytes | None:
        with self.host_db.transaction() as tx:
            return self.core.handle(tx, body, self.clock.now_ms())

    def note(self, kind: FaultKind | None, detail: str) -> None:
        """Record an injected fault (counted) or a plain network event (trace only)."""
        if kind is None:
            self.notes.append(detail)
            return
        self.faults[kind.value] += 1
        self.notes.append(f"{kind.value}({detail})")

    def take_notes(self) -> tuple[str, ...]:
        notes, self.notes = tuple(self.notes), []
        return notes

    def calm(self) -> None:
        """No more faults: the network heals, disks and printers behave."""
        self.net.calm = True
        self.printer_fail_rate = 0.0
        for till in self.tills:
            till.plan.disarm()

    def close(self) -> None:
        for till in self.tills:
            till.close()
        self.host_db.close()
