"""The supervisor of `kassa host serve --workers N` (see `kassa.host.workers`): starts the
worker processes, restarts one that dies, stops them all on SIGTERM / SIGINT.

A plain blocking loop (no event loop, no threads): it waits on the workers' stdout
pipes for a short while, then looks at which workers are still alive. Signals only set
a flag; the loop sees it within `_POLL_S`.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import FrameType

from kassa.host.workers import RestartPolicy, ServeSpec, status_text

log = logging.getLogger("kassa.host.workers")

start_timeout_s = 60.0  # a worker not listening by then has failed to start
stop_grace_s = 20.0  # HostServer.stop: 5 s for requests in flight, then the committer
_POLL_S = 0.2
_WORKER_CMD = ("-c", "from kassa.host._worker import main; main()")


@dataclass
class _Slot:
    """Worker number `spec.slot`: its process of the moment and its deaths."""

    spec: ServeSpec
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    proc: subprocess.Popen[bytes] | None = None
    ready: bool = False
    eof: bool = False
    restart_at_s: float | None = None
    out: bytes = b""

    def start(self) -> None:
        # A fresh interpreter, not a fork: nothing of this process (connections,
        # threads, locks) is inherited, and the worker opens the host itself.
        self.proc = subprocess.Popen(
            [sys.executable, *_WORKER_CMD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Its own session: a Ctrl-C at the terminal reaches the supervisor only, which
            # stops the workers in order (SIGTERM), not every process at once.
            start_new_session=True,
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(self.spec.to_json().encode() + b"\n")
        self.proc.stdin.flush()  # and left open: its end tells the worker we are gone
        self.ready, self.eof, self.restart_at_s, self.out = False, False, None, b""

    def read(self) -> None:
        """Take what the worker wrote on stdout ("READY <port>")."""
        assert self.proc is not None and self.proc.stdout is not None
        chunk = os.read(self.proc.stdout.fileno(), 256)
        self.eof = not chunk
        self.out = (self.out + chunk)[-256:]
        self.ready = self.ready or b"READY " in self.out

    def fields(self) -> dict[str, object]:
        pid = self.proc.pid if self.proc is not None else None
        return {"worker": self.spec.slot, "pid": pid}

    def close(self) -> None:
        if self.proc is not None:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()


class Supervisor:
    """N `_Slot`s; `run` is the whole life of `kassa host serve --workers N`."""

    def __init__(self, spec: ServeSpec, workers: int, say: Callable[[str], None]) -> None:
        self.spec = spec
        self.say = say
        self.slots = [_Slot(replace(spec, slot=i)) for i in range(workers)]
        self.stopping = False

    def run(self) -> int:
        """Start, watch, stop; the exit status."""
        signals = (signal.SIGTERM, signal.SIGINT)
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        try:
            failed = self._start_all()
            if failed is not None:
                return failed
            self.say(f"kassa host listening on {self.spec.host}:{self.spec.port}")
            pids = [slot.proc.pid for slot in self.slots if slot.proc is not None]
            log.info("host workers listening", extra={"fields": {"workers": len(pids),
                                                                  "pids": pids}})  # fmt: skip
            return self._watch()
        finally:
            self._stop_all()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    # -- starting --------------------------------------------------------------------

    def _start_all(self) -> int | None:
        """Worker 0 alone first, so that a mistake only a worker finds (the port taken)
        is said once, not N times; then the others together. None once all listen."""
        for group in (self.slots[:1], self.slots[1:]):
            for slot in group:
                slot.start()
            failed = self._until_ready(group)
            if failed is not None:
                return failed
        return None

    def _until_ready(self, group: list[_Slot]) -> int | None:
        deadline = time.monotonic() + start_timeout_s
        while not all(slot.ready for slot in group):
            if self.stopping:
                return 0
            if time.monotonic() > deadline:
                self.say(f"kassa: a host worker did not listen within {start_timeout_s:.0f} s")
                return 1
            self._pump(group)
            for slot in group:
                if not slot.ready and slot.proc is not None and slot.proc.poll() is not None:
                    return self._failed_start(slot, slot.proc.returncode)
        return None

    def _failed_start(self, slot: _Slot, code: int) -> int:
        log.error("host worker did not start", extra={"fields": {**slot.fields(),
                                                                 "status": status_text(code)}})  # fmt: skip
        if code == 2:  # a KassaError: the worker said what is wrong in one line
            return 2
        self.say(f"kassa: host worker {slot.spec.slot} stopped before listening"
                 f" ({status_text(code)}); see the log")  # fmt: skip
        return 1

    def _pump(self, slots: list[_Slot]) -> None:
        """Wait up to `_POLL_S` for what the workers write, and take it."""
        pipes = {slot.proc.stdout.fileno(): slot for slot in slots
                 if slot.proc is not None and slot.proc.stdout is not None and not slot.eof}  # fmt: skip
        readable, _, _ = select.select(list(pipes), [], [], _POLL_S)
        for fd in readable:
            slot = pipes[fd]
            was_ready = slot.ready
            slot.read()
            if slot.ready and not was_ready and slot.policy.deaths:
                log.info("host worker listening again", extra={"fields": slot.fields()})

    # -- watching --------------------------------------------------------------------

    def _watch(self) -> int:
        """Until a signal: restart the workers that die; 1 when one keeps dying."""
        while not self.stopping:
            self._pump(self.slots)
            now_s = time.monotonic()
            for slot in self.slots:
                if slot.proc is not None and slot.proc.poll() is not None:
                    if not self._died(slot, slot.proc.returncode, now_s):
                        return 1
                elif slot.proc is None and slot.restart_at_s is not None:
                    self._restart_when_due(slot, now_s)
        return 0

    def _restart_when_due(self, slot: _Slot, now_s: float) -> None:
        assert slot.restart_at_s is not None
        if now_s >= slot.restart_at_s and not self.stopping:
            slot.start()
            log.info("host worker restarted", extra={"fields": slot.fields()})

    def _died(self, slot: _Slot, code: int, now_s: float) -> bool:
        """Log the death, plan the restart; False to give up."""
        fields = {**slot.fields(), "status": status_text(code)}
        slot.close()
        slot.proc = None
        delay = slot.policy.died(now_s)
        log.error("host worker died", extra={"fields": {**fields, "restart_in_s": delay}})
        if delay is None:
            policy = slot.policy
            self.say(f"kassa: host worker {slot.spec.slot} died {policy.deaths_max} times"
                     f" within {policy.window_s:.0f} s (last: {fields['status']});"
                     " stopping the host, see the log")  # fmt: skip
            return False
        slot.restart_at_s = now_s + delay
        return True

    # -- stopping --------------------------------------------------------------------

    def _stop_all(self) -> None:
        """SIGTERM to every worker (each answers what is in flight and stops); SIGKILL
        to one still running after `stop_grace_s`."""
        live = [slot for slot in self.slots if slot.proc is not None and slot.proc.poll() is None]
        for slot in live:
            assert slot.proc is not None
            slot.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + stop_grace_s
        for slot in live:
            assert slot.proc is not None
            try:
                slot.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("host worker killed: not stopped in time",
                            extra={"fields": slot.fields()})  # fmt: skip
                slot.proc.kill()
                slot.proc.wait()
        for slot in self.slots:
            slot.close()
        if live:
            log.info("host workers stopped", extra={"fields": {"workers": len(live)}})
