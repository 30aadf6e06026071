"""A pre-forked `kassa` command line for chaos runs (shell): the same processes, faster.

Starting a `kassa` process costs about a second of imports; a chaos cycle is mostly that.
`Zygote` starts one helper process that imports the command line once and then forks one
child per command: the child sets its environment, points stdin/stdout/stderr at files,
runs `kassa.cli.main()` with the command's arguments (in `cwd`, by default its own
scratch directory) and exits with its status. Each
child is a real process with its own pid: SIGKILL and the drill's power cuts hit it
exactly as they hit an exec'd `kassa`. The helper imports and nothing else (no thread,
no connection, no event loop), so a child starts from the state a fresh process has.

Protocol on the helper's pipes, one JSON line each: request {id, argv, env, dir, stdin};
replies {id, pid} when forked and {id, status} when the child has ended (status as
`Popen.returncode`: negative for a signal).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kassa.sim.chaos_rig import Ran, child_env, process_timeout_s

_poll_s = 0.005


def _child(request: dict[str, Any]) -> int:
    """In the forked child: become `kassa ARGV` and return its exit status."""
    work = Path(request["dir"])
    os.chdir(request.get("cwd") or work)
    os.environ.clear()
    os.environ.update(request["env"])
    (work / "stdin").write_text(request["stdin"], encoding="utf-8")
    for fd, name, flags in ((0, "stdin", os.O_RDONLY), (1, "stdout", os.O_WRONLY | os.O_CREAT),
                            (2, "stderr", os.O_WRONLY | os.O_CREAT)):  # fmt: skip
        opened = os.open(work / name, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.argv = ["kassa", *request["argv"]]
    from kassa.cli import main

    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()  # what an exec'd interpreter would print, then status 1
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def serve() -> None:
    """The helper: import once, then fork a child per request until stdin closes."""
    import kassa.cli  # noqa: F401  # the whole point: paid once, shared by every child

    children: dict[int, int] = {}
    pending = b""  # read from the raw fd: a buffered reader would hide lines from select
    open_input = True
    while open_input or children:
        readable, _, _ = select.select([0] if open_input else [], [], [], _poll_s)
        if readable:
            data = os.read(0, 1 << 16)
            open_input = bool(data)
            pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            _fork(json.loads(line), children)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _reply({"id": children.pop(pid), "status": os.waitstatus_to_exitcode(status)})


def _fork(request: dict[str, Any], children: dict[int, int]) -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(_child(request))
    children[pid] = request["id"]
    _reply({"id": request["id"], "pid": pid})


def _reply(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()  # flushed before the next fork: a child inherits no pending bytes


@dataclass
class _Call:
    pid: int = 0
    status: int | None = None
    started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


class Zygote:
    """The client: `run` is `chaos_rig.run_cli` through the helper; safe from any thread."""

    def __init__(self, scratch: Path, cwd: Path | None = None) -> None:
        self.scratch = scratch
        self.cwd = cwd
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from kassa.sim.chaos_fork import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        self._calls: dict[int, _Call] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            doc = json.loads(line)
            with self._lock:
                call = self._calls[doc["id"]]
            if "pid" in doc:
                call.pid = doc["pid"]
                call.started.set()
            else:
                call.status = doc["status"]
                call.ended.set()

    def run(self, home: Path, args: tuple[str, ...], stdin: str = "",
            kill_after_s: float | None = None, env: dict[str, str] | None = None) -> Ran:  # fmt: skip
        call = _Call()
        with self._lock:
            self._next += 1
            ident = self._next
            self._calls[ident] = call
            work = self.scratch / f"call{ident}"
            work.mkdir(parents=True)
            request = {"id": ident, "argv": list(args), "env": child_env(home, **(env or {})),
                       "dir": str(work), "stdin": stdin,
                       "cwd": str(self.cwd) if self.cwd else None}  # fmt: skip
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        if not call.started.wait(process_timeout_s):
            raise RuntimeError("the chaos fork helper does not answer")
        if not call.ended.wait(kill_after_s or process_timeout_s):
            with contextlib.suppress(ProcessLookupError):  # it may have ended just now
                os.kill(call.pid, signal.SIGKILL)  # a child of our helper, not yet reaped
            call.ended.wait(process_timeout_s)
        out = (work / "stdout").read_text(encoding="utf-8", errors="replace")
        err = (work / "stderr").read_text(encoding="utf-8", errors="replace")
        shutil.rmtree(work, ignore_errors=True)  # its stdin held a swipe and a PIN
        with self._lock:
            del self._calls[ident]
        status = call.status if call.status is not None else -signal.SIGKILL
        return Ran(status, out, err, status == -signal.SIGKILL and kill_after_s is not None)

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=process_timeout_s)
        self._reader.join(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
