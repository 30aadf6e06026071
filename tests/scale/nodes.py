"""Helpers of the scale-out tests: `kassa host serve` processes on one database, and real
terminals (journal on disk, `HostLink` with several host addresses) driving them."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kassa.card import CardInput
from kassa.host.admin import load_reference
from kassa.host.check import check_host
from kassa.host.loader import parse_reference
from kassa.host.runtime import open_host
from kassa.iso8583.pinblock import make_pin_block
from kassa.iso8583.transactions import TxnType
from kassa.net import HostAddress, HostLink
from kassa.store import connect
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal
from kassa.terminal.pos import Terminal
from kassa.terminal.service import TxnRequest

TMK_HEX = "11111111111111111111111111111111"
DEVICE_KEY = bytes(range(100, 132))
MID = "898310048990001"
PIN = "1234"
_LISTENING = re.compile(r"kassa host listening on [0-9.]+:(\d+)")
_KASSA = Path(sys.executable).with_name("kassa")


def tid(n: int) -> str:
    return f"{n + 1:08d}"


def pan(n: int) -> str:
    body = f"621226{n:012d}"
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return body + str((10 - total % 10) % 10)


def reference(terminals: int, cards: int) -> str:
    out = [f'[[merchant]]\nmid = "{MID}"\nname = "扩展测试商户"\nmcc = "5411"\n'
           'fee_rate = "0.0038"\ntxn_limit = "50000.00"\n']  # fmt: skip
    out += [f'[[terminal]]\ntid = "{tid(t)}"\nmid = "{MID}"\ntmk = "{TMK_HEX}"\n'
            for t in range(terminals)]  # fmt: skip
    out += [f'[[card]]\npan = "{pan(c)}"\nexpiry = "3012"\npin = "{PIN}"\n'
            'balance = "100000.00"\n' for c in range(cards)]  # fmt: skip
    return "\n".join(out)


@dataclass
class Node:
    """One `kassa host serve` process."""

    proc: subprocess.Popen[str]
    port: int
    log: list[str]
    pump: threading.Thread

    @classmethod
    def start(cls, db_url: str, home: Path, extra: tuple[str, ...] = ()) -> Node:
        cmd = [str(_KASSA), "host", "serve", "--db", db_url, "--listen", "127.0.0.1:0",
               "--home", str(home), *extra]  # fmt: skip
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                text=True, env={**os.environ, "KASSA_HOME": str(home)})  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        log: list[str] = []

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                log.append(line.rstrip())
                lines.put(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if match := _LISTENING.search(line):
                return cls(proc, int(match.group(1)), log, reader)
        proc.kill()
        proc.wait(timeout=10)
        reader.join(5)
        assert proc.stderr is not None
        proc.stderr.close()
        raise AssertionError(f"kassa host serve did not start: {log[-5:]}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (graceful), then collect the process and its stderr pipe."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.pump.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def load(db_url: str, home: Path, terminals: int, cards: int) -> None:
    """`reference(terminals, cards)` loaded into the host database at `db_url`."""
    ref, problems = parse_reference(reference(terminals, cards), "scale.toml")
    assert not problems, problems
    runtime = open_host(db_url, home)
    try:
        with runtime.db.transaction() as tx:
            load_reference(tx, runtime.secrets, ref, int(time.time() * 1000), os.urandom)
    finally:
        runtime.close()


def open_terminal(path: Path, n: int, hosts: list[str], response_timeout_s: float) -> Terminal:
    """A real terminal; its link tries `hosts` in order (primary first)."""
    journal = Journal.open(str(path), DEVICE_KEY)
    if journal.get("config") is None:
        journal.save_config(TerminalConfig(tid=tid(n), mid=MID, merchant_name="扩展测试商户",
                                           hosts=tuple(hosts)))  # fmt: skip
        journal.set_tmk(bytes.fromhex(TMK_HEX))
    addresses = [HostAddress.parse(h) for h in hosts]
    link = HostLink(addresses, connect_timeout_s=1.0, response_timeout_s=response_timeout_s)
    return Terminal(journal, link)


def sale(terminal: Terminal, card: int, amount_fen: int) -> TxnRequest:
    keys = terminal.journal.keys()
    assert keys is not None
    entry = CardInput.from_swipe(f";{pan(card)}=30121010000012345?")
    return TxnRequest(TxnType.SALE, amount_fen, entry, make_pin_block(keys.pik, PIN, pan(card)))


async def send_raw(port: int, body: bytes, timeout_s: float) -> bytes | str:
    """One frame body to a host on a connection of its own: the answer body, or "silent"
    (no answer in time, connection left open) or "closed"."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(len(body).to_bytes(2, "big") + body)
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), timeout_s), "big")
        return await reader.readexactly(size)
    except TimeoutError:
        return "silent"
    except (asyncio.IncompleteReadError, ConnectionError):
        return "closed"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def host_facts(db_url: str) -> tuple[dict[tuple[str, str, str], str], list[tuple[object, ...]],
                                     list[tuple[object, ...]], str]:  # fmt: skip
    """(status of each 0200 sale by identity, identities approved twice, RRNs used twice,
    check_host verdict)."""
    db = connect(db_url)
    try:
        with db.transaction(write=False) as tx:
            sales = {(r[0], r[1], r[2]): str(r[3]) for r in tx.fetchall(
                "SELECT tid, batch, stan, status FROM txns WHERE mti = '0200'"
                " AND txn_type = 'sale'")}  # fmt: skip
            twice = tx.fetchall(
                "SELECT tid, batch, stan, COUNT(*) FROM txns WHERE txn_type <> 'balance'"
                " AND mti IN ('0100', '0200', '0220') AND status IN ('approved', 'voided')"
                " GROUP BY tid, batch, stan HAVING COUNT(*) > 1"
            )
            rrns = tx.fetchall(
                "SELECT rrn, COUNT(*) FROM txns WHERE rrn IS NOT NULL GROUP BY rrn"
                " HAVING COUNT(*) > 1"
            )
            report = check_host(tx)
    finally:
        db.close()
    verdict = "OK" if report.ok else "; ".join(report.problems[:3])
    return sales, twice, rrns, verdict
