"""A terminal restarting in its own process, for the power-cut tests of recovery:

    python cutchild.py <folder>      (KASSA_DRILL_POWER_CUT=<point> in the environment)

opens the journal `<folder>/journal.db` and runs `recover()` against the host database
`<folder>/host.db` (the host core in this process, over the in-memory link; each of its
answers is committed before the terminal sees it). At the drill's point the process dies
by SIGKILL, exactly as in a power cut; if it gets through, it exits 0.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from termkit import DEVICE_KEY, T0_MS, no_sleep

from kassa.clock import FixedClock
from kassa.host.core import HostConfig, HostCore
from kassa.host.secrets import HostSecrets
from kassa.net import MemoryLink
from kassa.store import connect
from kassa.terminal.journal import Journal
from kassa.terminal.pos import Terminal


def host_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'host.db'}"


async def recover(folder: Path) -> None:
    db = connect(host_url(folder))
    core = HostCore(HostSecrets.from_master(bytes(range(32))), HostConfig(), random.randbytes)
    clock = FixedClock(T0_MS)

    def handle(body: bytes) -> bytes | None:
        with db.transaction() as tx:
            return core.handle(tx, body, clock.now_ms())

    journal = Journal.open(str(folder / "journal.db"), DEVICE_KEY)
    try:
        await Terminal(journal, MemoryLink(handle), clock, no_sleep).recover()
    finally:
        journal.close()
        db.close()


if __name__ == "__main__":
    asyncio.run(recover(Path(sys.argv[1])))
