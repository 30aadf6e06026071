"""`kassa host serve --workers N` as an operator runs it: a supervisor and worker processes
on one SO_REUSEPORT address, real terminals on real TCP, on SQLite and PostgreSQL.

Which worker serves a connection is read from /proc: the host side of an accepted
connection is a socket (an inode in /proc/net/tcp) that one worker holds among its file
descriptors. So the tests know, rather than hope, that both workers took terminals, and
can send one request to each worker on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scale"))  # nodes
from nodes import Node, host_facts, load, open_terminal, sale, tid

from kassa.host.workers import RestartPolicy, ServeSpec
from kassa.iso8583 import decode
from kassa.iso8583.transactions import TxnType
from kassa.terminal import requests as rq
from kassa.terminal.pos import Terminal
from kassa.terminal.states import State

TERMINALS = 16  # each with its own connection: all 16 on one worker has odds 2**-15
CARDS = 64
RESPONSE_TIMEOUT_S = 4.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(db_url: str, home: Path, workers: int = 2) -> Node:
    listen = f"127.0.0.1:{free_port()}"  # the last --listen given is the one taken
    return Node.start(db_url, home, ("--listen", listen, "--workers", str(workers)))


# -- who serves what: /proc ---------------------------------------------------------------


def worker_pids(supervisor: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == supervisor:
                    out.append(int(entry.name))
    return sorted(out)


def socket_inodes(pid: int) -> set[int]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                out.add(int(link[8:-1]))
    return out


def host_sides(port: int) -> dict[int, int]:
    """Client port -> inode of the host's socket, for the accepted connections to `port`."""
    out = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if local.endswith(f":{port:04X}") and state == "01" and inode:
            out[int(remote.rpartition(":")[2], 16)] = inode
    return out


def connections_per_worker(port: int, pids: list[int]) -> dict[int, int]:
    accepted = set(host_sides(port).values())
    return {pid: len(socket_inodes(pid) & accepted) for pid in pids}


async def connection_to(pid: int, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that worker `pid` accepted (new ones until the kernel picks it)."""
    for _ in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client_port = writer.get_extra_info("sockname")[1]
        for _ in range(100):  # the worker's event loop accepts it soon
            inode = host_sides(port).get(client_port)
            if inode is not None:
                break
            await asyncio.sleep(0.01)
        if inode is not None and inode in socket_inodes(pid):
            return reader, writer
        writer.close()
    raise AssertionError(f"no connection reached worker {pid}")


async def ask(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], body: bytes) -> bytes:
    reader, writer = conn
    writer.write(len(body).to_bytes(2, "big") + body)
    size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), RESPONSE_TIMEOUT_S), "big")
    return await reader.readexactly(size)


def served(node: Node) -> dict[int, int]:
    """pid -> requests, from each worker's "host worker stopped" log line."""
    out = {}
    for line in node.log:
        if line.startswith("{") and '"host worker stopped"' in line:
            doc = json.loads(line)
            out[int(doc["pid"])] = int(doc["requests"])
    return out


# -- driving terminals --------------------------------------------------------------------


async def sell(terminal: Terminal, n: int, until: float) -> None:
    result = await terminal.sign_on()
    assert result.ok, result
    k = 0
    while asyncio.get_running_loop().time() < until:
        await terminal.transact(sale(terminal, (n * 7 + k) % CARDS, 1_000 + 10 * n + k))
        k += 1
    await terminal.pending.resolve()  # anything in doubt is reversed now
    await terminal.ctx.link.close()


def terminals_of(tmp_path: Path, node: Node) -> list[Terminal]:
    return [open_terminal(tmp_path / f"t{n}.db", n, [node.address], RESPONSE_TIMEOUT_S)
            for n in range(TERMINALS)]  # fmt: skip


def assert_books_agree(db_url: str, tmp_path: Path, terminals: list[Terminal]) -> int:
    """The ledger checks out, nothing authorised twice, RRNs unique, and each terminal's
    approvals are exactly the host's; the number of approvals."""
    sales, twice, rrns, verdict = host_facts(db_url)
    assert verdict == "OK"
    assert twice == [] and rrns == []
    approved = 0
    for n, terminal in enumerate(terminals):
        rows = terminal.journal.txns("txn_type = 'sale'")
        assert not [r for r in rows if r.state in (State.IN_DOUBT, State.PENDING)]
        known = {(tid(n), r.batch, r.stan) for r in rows if r.state is State.APPROVED}
        mine = {k for k, v in sales.items() if k[0] == tid(n) and v == "approved"}
        assert mine == known, tid(n)
        approved += len(known)
    return approved


# -- the tests ----------------------------------------------------------------------------


async def load_then_replay(
    node: Node, terminals: list[Terminal], terminal: Terminal
) -> dict[int, int]:
    """Every terminal sells for 2 s (the spread of their connections taken meanwhile),
    then `terminal` seals one sale and sends it to worker A, then the same bytes to B."""
    pids = worker_pids(node.proc.pid)
    until = asyncio.get_running_loop().time() + 2.0
    tasks = [asyncio.create_task(sell(t, n, until)) for n, t in enumerate(terminals)]
    await asyncio.sleep(1.0)
    spread = connections_per_worker(node.port, pids)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)

    assert (await terminal.sign_on()).ok
    await terminal.ctx.link.close()
    keys = terminal.journal.keys()
    assert keys is not None
    req = sale(terminal, 1, 4_321)
    with terminal.journal.db.transaction() as tx:
        stan = terminal.journal.next_stan(tx)
    msg = rq.financial(TxnType.SALE, terminal.ctx.who, stan, terminal.ctx.batch,
                       req.amount_fen, req.card, req.pin_block)  # fmt: skip
    body = terminal.ctx.frame(msg, keys)
    to_a, to_b = [await connection_to(pid, node.port) for pid in pids]
    first = decode((await ask(to_a, body))[11:])
    again = decode((await ask(to_b, body))[11:])
    for _, writer in (to_a, to_b):
        writer.close()
    assert first[39] == "00", first
    assert (again[39], again.get(37), again.get(38)) == (first[39], first[37], first[38])
    return spread


def test_workers_share_the_terminals_and_replay_each_others_answers(
    db_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    load(db_url, home, TERMINALS + 1, CARDS)
    node = start(db_url, home)
    terminals = terminals_of(tmp_path, node)
    replayer = open_terminal(tmp_path / "replay.db", TERMINALS, [node.address], 4.0)
    try:
        pids = worker_pids(node.proc.pid)
        assert len(pids) == 2, pids
        spread = asyncio.run(load_then_replay(node, terminals, replayer))
        node.stop()
        assert node.proc.returncode == 0, node.log[-5:]
        assert all(spread[pid] > 0 for pid in pids), spread  # both took terminals
        requests = served(node)
        assert set(requests) == set(pids) and min(requests.values()) > 0, requests
        approved = assert_books_agree(db_url, tmp_path, terminals)
    finally:
        node.stop()
        for terminal in [*terminals, replayer]:
            terminal.journal.close()
    assert approved >= TERMINALS
    on_sqlite = any("on SQLite one worker writes at a time" in line for line in node.log)
    assert on_sqlite == db_url.startswith("sqlite")  # told that workers add no throughput
    sales, _, _, _ = host_facts(db_url)
    assert [v for k, v in sales.items() if k[0] == tid(TERMINALS)] == ["approved"]  # once


async def kill_one_mid_load(node: Node, terminals: list[Terminal]) -> tuple[int, int]:
    """2 s of sales; worker A is SIGKILLed after 0.7 s; the pid that replaced it."""
    victim, survivor = worker_pids(node.proc.pid)
    until = asyncio.get_running_loop().time() + 2.5
    tasks = [asyncio.create_task(sell(t, n, until)) for n, t in enumerate(terminals)]
    await asyncio.sleep(0.7)
    os.kill(victim, signal.SIGKILL)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for _ in range(150):  # restarted after a 0.5 s backoff, listening a moment later
        if any('"host worker listening again"' in line for line in node.log):
            break
        await asyncio.sleep(0.1)
    (newcomer,) = set(worker_pids(node.proc.pid)) - {victim, survivor}
    _, writer = await connection_to(newcomer, node.port)  # it takes connections again
    writer.close()
    return victim, newcomer


def test_a_killed_worker_is_restarted_and_nothing_is_lost_or_doubled(
    db_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    load(db_url, home, TERMINALS + 1, CARDS)
    node = start(db_url, home)
    terminals = terminals_of(tmp_path, node)
    try:
        victim, newcomer = asyncio.run(kill_one_mid_load(node, terminals))
        died = [json.loads(line) for line in node.log if '"host worker died"' in line]
        assert [(d["pid"], d["status"]) for d in died] == [(victim, "signal SIGKILL")]
        approved = assert_books_agree(db_url, tmp_path, terminals)
        assert approved >= TERMINALS
        # Without its supervisor (SIGKILL: no word to the workers) a worker stops by
        # itself: the end of its stdin says the supervisor is gone.
        workers = worker_pids(node.proc.pid)
        node.kill()
        deadline = time.monotonic() + 15
        while any(Path(f"/proc/{pid}").exists() for pid in workers):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.1)
        assert newcomer in workers
    finally:
        node.stop()
        for terminal in terminals:
            terminal.journal.close()


def kassa_serve(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from kassa.cli import main; main()",
                             "host", "serve", "--home", str(home), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "KASSA_HOME": str(home)})  # fmt: skip


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'host.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        cases = {
            "--workers 0": ("--workers", "0"),
            "--workers 65": ("--workers", "65"),
            "port 0": ("--workers", "2", "--listen", "127.0.0.1:0"),
            "port taken": ("--workers", "2", "--listen", f"127.0.0.1:{busy}", "--db", db),
            "bad db": ("--workers", "2", "--listen", f"127.0.0.1:{free_port()}",
                       "--db", "postgresql://nobody@127.0.0.1:1/none"),
        }  # fmt: skip
        procs = {name: kassa_serve(tmp_path / "home", *args) for name, args in cases.items()}
        done = {name: (proc.wait(60), *proc.communicate()) for name, proc in procs.items()}
    for name, (code, out, err) in done.items():
        assert code == 2, (name, err)
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("kassa: "), (name, err)
    assert "--workers needs a fixed port in --listen" in done["port 0"][2]
    assert f"--workers {os.cpu_count()}" in done["--workers 0"][2]
    assert "in use" in done["port taken"][2]


def test_restart_policy_backs_off_then_gives_up() -> None:
    policy = RestartPolicy(deaths_max=5, window_s=30.0, backoff_s=0.5, backoff_max_s=8.0)
    assert [policy.died(t) for t in (0.0, 1.0, 2.0, 3.0)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.died(29.0) is None  # five deaths within 30 s
    calm = RestartPolicy(deaths_max=3, window_s=10.0)
    assert calm.died(0.0) == 0.5 and calm.died(5.0) == 1.0
    assert calm.died(100.0) == 0.5  # the old deaths left the window


def test_each_worker_has_its_own_log_and_metrics_port() -> None:
    spec = ServeSpec("sqlite:///h.db", None, "0.0.0.0", 5000, log_file="/var/log/host.log",
                     metrics_port=9100, slot=3)  # fmt: skip
    assert spec.worker_log() == Path("/var/log/host-w3.log")
    assert spec.worker_metrics_port() == 9103
    assert ServeSpec.from_json(spec.to_json()) == spec
