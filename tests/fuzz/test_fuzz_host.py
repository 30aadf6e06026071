"""The host process under a barrage of hostile bytes over real TCP: random streams,
mutated valid frames, lying length prefixes, frames left half-sent. It must stay up, log
no handler error, and keep serving a real terminal that signs on and sells during and
after the barrage."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import sys
import threading
import time
from pathlib import Path

from kassa.host.check import check_host
from kassa.iso8583.codec import encode
from kassa.iso8583.message import Message
from kassa.sim.chaos_rig import (
    CASHIER,
    MID,
    PASSWORD,
    PIN,
    HostProcess,
    pos,
    run_cli,
    setup_terminal,
    swipe_of,
    tid_of,
)
from kassa.store import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
from seed_corpus import frames

SEEDS = frames()
ATTACKERS = 4
barrage_s = 6.0


def _hostile(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randint(1, 600))
    seed = bytearray(rng.choice(SEEDS))
    if kind == 1:  # a few bits flipped inside an honest length prefix
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(2, len(seed))
            seed[at] ^= 1 << rng.randrange(8)
    elif kind == 2:  # the prefix lies: too long, zero, or far over the bound
        seed[:2] = rng.choice((b"\x00\x00", b"\xff\xff", (len(seed) + 50).to_bytes(2, "big")))
    elif kind == 3:  # truncated body behind an honest prefix
        seed = bytearray(len(seed).to_bytes(2, "big")) + seed[2 : rng.randrange(3, len(seed))]
    return bytes(seed)


def _attack(port: int, seed: int, stop: threading.Event, sent: list[int]) -> None:
    rng = random.Random(seed)
    held: list[socket.socket] = []
    while not stop.is_set():
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            continue
        try:
            for _ in range(rng.randint(1, 5)):
                conn.sendall(_hostile(rng))
                sent[0] += 1
            conn.settimeout(0.05)
            with contextlib.suppress(OSError):
                conn.recv(4096)
        except OSError:
            pass  # the host closed on us: that is its right
        if rng.random() < 0.1 and len(held) < 20:
            held.append(conn)  # left open mid-frame, as a stalled terminal would
        else:
            conn.close()
    for conn in held:
        conn.close()


# Pinned by test_a_response_mti_sent_as_a_request_is_dropped_quietly (xfail until fixed).
KNOWN_BUG = "is not one the UnionPay POS dialect uses"


def _log_errors(path: Path) -> list[str]:
    """Error-level records of a JSON-lines log (a handler that raised logs one)."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [
        f"{r['msg']} {r.get('exc', '')}" for r in records if r["level"] in ("error", "critical")
    ]


def _sale(home: Path, amount: str) -> dict[str, object]:
    done = pos(run_cli, home, "sale", amount, stdin=f"{swipe_of(0)}\n{PIN}\n")
    assert "Traceback" not in done.stderr, done.stderr
    doc = json.loads(done.stdout)
    assert isinstance(doc, dict)
    return doc


def test_host_survives_hostile_frames_and_keeps_serving(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'host' / 'host.db'}"
    host = HostProcess(tmp_path / "host", url)
    host.load(1)
    port = host.start()
    home = tmp_path / "term"
    setup_terminal(home, tid_of(0), port)
    stop, sent = threading.Event(), [0]
    attackers = [
        threading.Thread(target=_attack, args=(port, n, stop, sent)) for n in range(ATTACKERS)
    ]
    try:
        started = time.monotonic()
        for thread in attackers:
            thread.start()
        signed = pos(run_cli, home, "signon", stdin=f"{CASHIER}\n{PASSWORD}\n")
        assert signed.returncode == 0, signed.stdout + signed.stderr
        during = _sale(home, "12.34")
        time.sleep(max(0.0, barrage_s - (time.monotonic() - started)))
        stop.set()
        for thread in attackers:
            thread.join()
        after = _sale(home, "5.67")
        assert host.running, host.stderr_lines
    finally:
        stop.set()
        host.stop()
    assert during["approved"] and after["approved"], (during, after)
    assert sent[0] > 200, sent  # the barrage really happened
    assert not any("Traceback" in line for line in host.stderr_lines), host.stderr_lines
    errors = [e for e in _log_errors(tmp_path / "host" / "host.log") if KNOWN_BUG not in e]
    assert not errors, errors[:3]
    with connect(url) as db, db.transaction(write=False) as tx:
        report = check_host(tx)
    assert report.ok, report.problems


def test_a_response_mti_sent_as_a_request_is_dropped_quietly(tmp_path: Path) -> None:
    """0110/0230/0330/0410/0510/0630/0830 are answers; a peer sending one as a request
    must be dropped like a malformed frame (a warning), not crash the handler (an error
    with a traceback per frame: a log flood anyone on the network can cause)."""
    url = f"sqlite:///{tmp_path / 'host' / 'host.db'}"
    host = HostProcess(tmp_path / "host", url)
    host.load(1)
    port = host.start()
    try:
        message = encode(Message("0630", {11: "000001", 41: tid_of(0), 42: MID}))
        body = bytes.fromhex("6000030000") + bytes.fromhex("603100310000") + message
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(len(body).to_bytes(2, "big") + body)
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(4096)
    finally:
        host.stop()
    assert _log_errors(tmp_path / "host" / "host.log") == []
