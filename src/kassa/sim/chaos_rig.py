"""Real processes for chaos runs (shell): `kassa host serve`, `kassa pos` and a FaultProxy.

The host is a child process on a loopback port that survives its own SIGKILL: `restart`
serves the same database on the same port. Every terminal operation is one `kassa pos
--json` child process, which the caller may kill at any moment. The proxy runs in an
event loop on a thread of this process, so its counters are read directly.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kassa.auth import AuthSettings, Role
from kassa.auth.store import OperatorStore
from kassa.card import luhn_digit
from kassa.errors import ConfigError
from kassa.net.proxy import FaultProxy
from kassa.terminal.runtime import DEVICE_KEY_ENV, open_journal

CLI = (sys.executable, "-c", "from kassa.cli import main; main()")
# Lab secrets of the chaos rig only: the host it starts holds nothing but test cards.
MASTER_KEY_HEX = "ab" * 32
TMK_HEX = "11" * 16
MID = "123456789012345"
CASHIER = "01"
PASSWORD = "Ch4os!Cashier#Pw"
PIN = "1234"
EXPIRY = "3012"
CARD_BALANCE_FEN = 100_000_000
process_timeout_s = 120.0
host_ready_timeout_s = 30.0
host_bind_attempts = 20
_READY = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
# No risk rules: the chaos run asks whether money is kept, not whether velocity rules fire.
_RULES = "[state]\nkeys_max = 1000\n"


def tid_of(index: int) -> str:
    return f"{77000001 + index:08d}"


def pan_of(index: int) -> str:
    """A Luhn-valid 19-digit test PAN, one card per terminal (no shared velocity)."""
    partial = f"621226400{index:09d}"
    return partial + luhn_digit(partial)


def swipe_of(index: int) -> str:
    return f";{pan_of(index)}={EXPIRY}1010000012345?"


def reference_toml(terminals: int) -> str:
    cards = "".join(
        f'[[card]]\npan = "{pan_of(i)}"\nexpiry = "{EXPIRY}"\npin = "{PIN}"\n'
        f'balance = "{CARD_BALANCE_FEN // 100}.00"\n'
        for i in range(terminals)
    )
    tids = "".join(
        f'[[terminal]]\ntid = "{tid_of(i)}"\nmid = "{MID}"\ntmk = "{TMK_HEX}"\n'
        for i in range(terminals)
    )
    merchant = (
        f'[[merchant]]\nmid = "{MID}"\nname = "混沌测试商户"\nmcc = "5411"\n'
        'fee_rate = "0.0038"\ncredit_allowed = true\ntxn_limit = "50000.00"\n'
    )
    return merchant + cards + tids


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any KASSA_ setting, plus the rig's own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    return {**base, "KASSA_HOME": str(home), "KASSA_HOST_MASTER_KEY": MASTER_KEY_HEX, **extra}


@dataclass(frozen=True, slots=True)
class Ran:
    """How one child process ended; `killed` when we killed it ourselves."""

    returncode: int
    stdout: str
    stderr: str
    killed: bool


def run_cli(home: Path, args: tuple[str, ...], stdin: str = "", kill_after_s: float | None = None,
            env: dict[str, str] | None = None) -> Ran:  # fmt: skip
    """Run `kassa ARGS`; with `kill_after_s`, SIGKILL it if it is still running by then."""
    proc = subprocess.Popen(
        [*CLI, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=child_env(home, **(env or {})),
    )  # fmt: skip
    killed = False
    try:
        out, err = proc.communicate(stdin, timeout=kill_after_s or process_timeout_s)
    except subprocess.TimeoutExpired:
        killed = kill_after_s is not None
        proc.kill()
        out, err = proc.communicate()
    return Ran(proc.returncode, out, err, killed)


class Runner(Protocol):
    """How a `kassa` command is started: `run_cli` (exec) or a `chaos_fork.Zygote`."""

    def __call__(self, home: Path, args: tuple[str, ...], stdin: str = "",
                 kill_after_s: float | None = None, env: dict[str, str] | None = None) -> Ran: ...  # fmt: skip


def pos(run: Runner, home: Path, *args: str, stdin: str = "", kill_after_s: float | None = None,
        env: dict[str, str] | None = None) -> Ran:  # fmt: skip
    """`kassa pos --home HOME --json ARGS` through `run`."""
    return run(home, ("pos", "--home", str(home), "--json", *args), stdin, kill_after_s, env)


def setup_terminal(home: Path, tid: str, port: int, **extra: str) -> None:
    """Configure a terminal home with the TMK and a cashier who may sign on; `extra`
    settings as `kassa pos config` takes them (printer="file:///...")."""
    if os.environ.get(DEVICE_KEY_ENV):
        raise ConfigError(f"unset {DEVICE_KEY_ENV}: the rig's terminals keep their own keys")
    journal = open_journal(home)
    try:
        config = journal.config()
        settings = {"tid": tid, "mid": MID, "hosts": f"127.0.0.1:{port}",
                    "response_timeout_ms": "5000", **extra}  # fmt: skip
        for key, value in settings.items():
            config = config.updated(key, value)
        journal.save_config(config)
        journal.set_tmk(bytes.fromhex(TMK_HEX))
        store = OperatorStore(
            journal.db, settings=AuthSettings(),
            seal=lambda data, aad: journal.seal(data, "totp:" + aad.hex()),
            open_sealed=lambda blob, aad: journal.unseal(blob, "totp:" + aad.hex()),
            rand=os.urandom,
        )  # fmt: skip
        store.add(CASHIER, Role.CASHIER, PASSWORD, int(time.time() * 1000), temporary=False)
    finally:
        journal.close()


class HostProcess:
    """`kassa host serve` as a child; SIGKILL it and restart it on the same port."""

    def __init__(self, home: Path, db_url: str) -> None:
        self.home = home
        self.db_url = db_url
        self.port = 0
        self.starts = 0
        self.stderr_lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        home.mkdir(parents=True, exist_ok=True)
        self.rules = home / "chaos-rules.toml"
        self.rules.write_text(_RULES, encoding="utf-8")

    def load(self, terminals: int) -> None:
        ref = self.home / "chaos-ref.toml"
        ref.write_text(reference_toml(terminals), encoding="utf-8")
        done = run_cli(self.home, ("host", "load", str(ref), "--db", self.db_url))
        ref.unlink()  # test PANs and PINs in the clear: not left where a leak scan looks
        if done.returncode != 0:
            raise ConfigError(f"host load failed: {done.stderr.strip()}")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> int:
        """Serve (on the port of the last start, if any); the bound port."""
        for _ in range(host_bind_attempts if self.port else 1):
            if self._spawn():
                self.starts += 1
                return self.port
            time.sleep(0.25)  # the old socket may still hold the port for a moment
        raise ConfigError(f"host did not come up on port {self.port}: {self.stderr_lines[-3:]}")

    def _spawn(self) -> bool:
        proc = subprocess.Popen(
            [*CLI, "host", "serve", "--db", self.db_url, "--listen", f"127.0.0.1:{self.port}",
             "--log-file", str(self.home / "host.log"), "--risk-rules", str(self.rules)],
            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True, env=child_env(self.home),
        )  # fmt: skip
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], host_ready_timeout_s)
        line = proc.stderr.readline() if ready else ""
        match = _READY.search(line)
        if match is None:
            proc.kill()
            self.stderr_lines += [line, *proc.stderr.readlines()]
            proc.wait()
            proc.stderr.close()
            return False
        self.port = int(match.group(1))
        self._proc = proc
        threading.Thread(target=self._drain, args=(proc,), daemon=True).start()
        return True

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:  # a host traceback lands here; the run reports it
            self.stderr_lines.append(line)
        proc.stderr.close()

    def kill(self) -> None:
        """SIGKILL: no drain, no flush, like pulling the plug."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


class ProxyThread:
    """A FaultProxy in its own event loop thread; faults switched from any thread."""

    def __init__(self, target_port: int) -> None:
        self.proxy = FaultProxy("127.0.0.1", target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> int:
        self._thread.start()
        return self._call(self.proxy.start())

    def _call(self, coro: Coroutine[Any, Any, int | None]) -> int:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return int(future.result(timeout=30) or 0)

    def refuse(self, on: bool) -> None:
        self._loop.call_soon_threadsafe(setattr, self.proxy, "refusing", on)

    def cut(self, count: int) -> None:
        self._loop.call_soon_threadsafe(self.proxy.cut_next_response, count)

    def faults(self) -> Counter[str]:
        async def snapshot() -> Counter[str]:
            return Counter({str(k): v for k, v in self.proxy.faults.items()})

        return asyncio.run_coroutine_threadsafe(snapshot(), self._loop).result(timeout=30)

    def stop(self) -> None:
        self._call(self.proxy.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


T = TypeVar("T")


def each(homes: list[Path], work: Callable[[Path], T]) -> list[T]:
    """`work` on every terminal home at once, one thread each; results in order."""
    results: list[T | None] = [None] * len(homes)

    def one(index: int) -> None:
        results[index] = work(homes[index])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(homes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]
