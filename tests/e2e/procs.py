"""Real processes for end-to-end tests: `kassa host serve` on loopback and `kassa pos`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kassa.auth import Role
from kassa.cli.pos_operator import _store
from kassa.terminal.runtime import open_journal

MASTER_KEY = "ab" * 32
CASHIER_PASSWORD = "N3w!Cashier#Pw"
SWIPE = ";6212264000001899463=26121010000012345?"
MERCHANT = """
[[merchant]]
mid = "123456789012345"
name = "测试商户"
mcc = "5411"
fee_rate = "0.0038"
credit_allowed = true
txn_limit = "50000.00"
[[card]]
pan = "6212264000001899463"
expiry = "2612"
pin = "1234"
balance = "100000.00"
"""
TERMINAL = """
[[terminal]]
tid = "{tid}"
mid = "123456789012345"
tmk = "11111111111111111111111111111111"
"""


def env(home: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KASSA_")}
    return {**base, "KASSA_HOME": str(home), "KASSA_HOST_MASTER_KEY": MASTER_KEY, **extra}


def kassa(
    home: Path, *args: str, stdin: str = "", **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from kassa.cli import main; main()", *args],
        input=stdin, capture_output=True, text=True, timeout=120, env=env(home, **extra),
        check=False,
    )  # fmt: skip


@contextmanager
def host_process(home: Path, db_url: str, tids: tuple[str, ...]) -> Iterator[int]:
    """Load reference data and serve on a free loopback port; stop gracefully after."""
    home.mkdir(parents=True, exist_ok=True)
    ref = home / "ref.toml"
    ref.write_text(MERCHANT + "".join(TERMINAL.format(tid=t) for t in tids))
    loaded = kassa(home, "host", "load", str(ref), "--db", db_url)
    assert loaded.returncode == 0, loaded.stderr
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kassa.cli import main; main()", "host", "serve",
         "--db", db_url, "--listen", "127.0.0.1:0", "--log-file", str(home / "host.log")],
        stderr=subprocess.PIPE, text=True, env=env(home),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # logs go to the file: stderr has the ready line only
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield int(match.group(1))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def make_terminal(home: Path, tid: str, port: int, **settings: str) -> None:
    """Configure a terminal home (as `kassa pos config` does) with a cashier who may sign on."""
    os.environ.pop("KASSA_DEVICE_KEY", None)
    journal = open_journal(home)
    try:
        config = journal.config()
        for key, value in {"tid": tid, "mid": "123456789012345", "hosts": f"127.0.0.1:{port}",
                           "response_timeout_ms": "5000", **settings}.items():  # fmt: skip
            config = config.updated(key, value)
        journal.save_config(config)
        journal.set_tmk(bytes.fromhex("11111111111111111111111111111111"))
        _store(journal).add(
            "01", Role.CASHIER, CASHIER_PASSWORD, int(time.time() * 1000), temporary=False
        )
    finally:
        journal.close()


def pos(home: Path, *args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
    return kassa(home, "pos", "--home", str(home), "--json", *args, stdin=stdin, **extra)


def sign_on(home: Path) -> None:
    done = pos(home, "signon", stdin=f"01\n{CASHIER_PASSWORD}\n")
    assert done.returncode == 0, done.stdout + done.stderr
