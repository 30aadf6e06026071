"""The stage a drill plays on (shell): a scratch host on loopback (a real `kassa host serve`
process, or the same server in this process), terminals as `Terminal` objects over TCP
or as `kassa pos` processes, a `FaultProxy` when the line must fail, and a narrator.

Everything lives in one scratch directory: the host's SQLite database, one home per
terminal. Terminal processes get the drill's environment (so they find the same device
and master keys), their home, and `KASSA_DRILL_POWER_CUT` only when the drill says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kassa.clock import SYSTEM, Clock
from kassa.host.admin import load_reference
from kassa.host.loader import parse_reference
from kassa.host.runtime import HostRuntime, open_host
from kassa.host.secrets import HostSecrets
from kassa.host.service import GroupCommitter
from kassa.net import FrameServer
from kassa.net.proxy import FaultProxy
from kassa.ops.drills.cast import MID, REFERENCE, TMK_HEX, Narrator, Till
from kassa.store import Database, connect
from kassa.terminal.drill import ENV as POWER_CUT_ENV
from kassa.terminal.pos import Terminal
from kassa.terminal.printing import PrintingReceipts
from kassa.terminal.runtime import make_link, open_journal

process_timeout_s = 60.0
_CLI = ("-c", "from kassa.cli import main; main()")


class Stage:
    def __init__(self, base: Path, say: Narrator, host_process: bool = True) -> None:
        self.base = base
        self.say = say
        self.host_process = host_process
        self.host_home = base / "host"
        self.host_url = f"sqlite:///{self.host_home / 'host.db'}"
        self.port = 0
        self.secrets: HostSecrets | None = None
        self.proxy: FaultProxy | None = None
        self.tills: list[Till] = []
        self.cleanups: list[Callable[[], object]] = []  # run last, when the stage closes
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[bytes] | None = None
        self._runtime: HostRuntime | None = None
        self._server: FrameServer | None = None
        self._committer: GroupCommitter | None = None

    # -- the host ----------------------------------------------------------------------

    def load_host(self, tids: tuple[str, ...]) -> None:
        """Create the host database with the drill's merchant, card and terminals."""
        runtime = open_host(self.host_url, self.host_home)
        try:
            ref, problems = parse_reference(REFERENCE.format(terminals=_terminals(tids)), "drill")
            assert not problems, problems
            with runtime.db.transaction() as tx:
                load_reference(tx, runtime.secrets, ref, SYSTEM.now_ms(), os.urandom)
            self.secrets = runtime.secrets
        finally:
            runtime.close()

    async def start_host(self, port: int = 0) -> int:
        if self.host_process:
            self.port = await self._spawn_host(port)
        else:
            self._runtime = self._runtime or open_host(self.host_url, self.host_home)
            self._committer = GroupCommitter(self._runtime.db, self._runtime.core)
            self._committer.start()
            self._server = FrameServer(self._committer.submit, host="127.0.0.1", port=port)
            await self._server.start()
            self.port = self._server.port
        return self.port

    async def _spawn_host(self, port: int) -> int:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, *_CLI, "host", "serve", "--db", self.host_url,
            "--listen", f"127.0.0.1:{port}", "--home", str(self.host_home),
            "--log-file", str(self.host_home / "host.log"),
            stderr=asyncio.subprocess.PIPE, env=self.env(self.host_home),
        )  # fmt: skip
        assert self._proc.stderr is not None
        async with asyncio.timeout(process_timeout_s):
            line = (await self._proc.stderr.readline()).decode(errors="replace")
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match is None:
            raise RuntimeError(f"the host process did not start: {line.strip()}")
        self._drain = asyncio.create_task(self._proc.stderr.read())  # keep the pipe empty
        return int(match.group(1))

    async def stop_host(self, crash: bool = False) -> None:
        """Stop the host: SIGKILL (`crash`) or a graceful SIGTERM."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
            await proc.wait()
            if self._drain is not None:
                await self._drain
        if self._server is not None and self._committer is not None:
            await self._server.stop(grace_s=0.0 if crash else 2.0)
            await self._committer.stop()
            self._server = self._committer = None

    def host_db(self) -> Database:
        """A fresh connection to the host database (close it after use)."""
        return connect(self.host_url)

    def host_write(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        db = self.host_db()
        try:
            with db.transaction() as tx:
                tx.execute(sql, params)
        finally:
            db.close()

    async def start_proxy(self) -> int:
        self.proxy = FaultProxy("127.0.0.1", self.port)
        return await self.proxy.start()

    # -- terminals ---------------------------------------------------------------------

    def till(
        self,
        tid: str,
        port: int | None = None,
        home: Path | None = None,
        clock: Clock = SYSTEM,
        settings: Mapping[str, str] | None = None,
    ) -> Till:
        """An in-process terminal over TCP to the host (or to `port`, e.g. the proxy)."""
        home = home or self.base / f"terminal-{tid}"
        journal = open_journal(home)
        config = journal.config()
        values = {"tid": tid, "mid": MID, "merchant_name": "演练商户",
                  "hosts": f"127.0.0.1:{port or self.port}", "connect_timeout_ms": "1000",
                  "response_timeout_ms": "3000", **(settings or {})}  # fmt: skip
        for key, value in values.items():
            config = config.updated(key, value)
        journal.save_config(config)
        journal.set_tmk(bytes.fromhex(TMK_HEX))
        journal.put(operator="01")
        terminal = Terminal(journal, make_link(config), clock, receipts=PrintingReceipts(journal))
        till = Till(tid, home, terminal, clock)
        self.tills.append(till)
        return till

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k != POWER_CUT_ENV}
        return {**base, "KASSA_HOME": str(home), **extra}

    async def pos(self, till: Till, *args: str, stdin: str = "",
                  power_cut: str | None = None) -> tuple[int, dict[str, Any], str]:  # fmt: skip
        """Run `kassa pos --json ARGS` for `till` as a process: (exit status, JSON, stderr)."""
        extra = {POWER_CUT_ENV: power_cut} if power_cut else {}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *_CLI, "pos", "--home", str(till.home), "--json", *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=self.env(till.home, **extra),
        )  # fmt: skip
        async with asyncio.timeout(process_timeout_s):
            out, err = await proc.communicate(stdin.encode())
        assert proc.returncode is not None
        text = out.decode(errors="replace").strip()
        doc: dict[str, Any] = json.loads(text.splitlines()[-1]) if text else {}
        return proc.returncode, doc, err.decode(errors="replace")

    async def close(self) -> None:
        for till in self.tills:
            await till.close()
        if self.proxy is not None:
            await self.proxy.stop()
        await self.stop_host()
        if self._runtime is not None:
            self._runtime.close()
        for cleanup in reversed(self.cleanups):
            cleanup()


def _terminals(tids: tuple[str, ...]) -> str:
    return "".join(
        f'\n[[terminal]]\ntid = "{tid}"\nmid = "{MID}"\ntmk = "{TMK_HEX}"\n' for tid in tids
    )


def power_cut_env_set() -> bool:
    return bool(os.environ.get(POWER_CUT_ENV))
