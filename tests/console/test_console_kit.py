"""Shared by the console tests (no tests here): a real host with a day of real
transactions, console users of every role, a settable clock, and logged-in clients.

The day (terminal 12345678, card 6212 **** 9463 unless said otherwise), one every 20 s:
  five sales of 100.00, 20.00, 30.00, 40.00, 50.00 ... the fifth is held by the risk rule
      card_velocity_short (more than 4 approvals in an hour)
  a sale with the wrong PIN ................................ declined 55
  a sale on a card reported lost ........................... declined (guide: lost card)
  a sale of 12.34 on the credit card ....................... whatever the host says
"""

from __future__ import annotations

import random
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "host"))

import httpx
import uvicorn
from fastapi import FastAPI
from hostkit import CREDIT_PAN, LOST_PAN, PAN, T0_MS, Term, open_host

from kassa.auth import HASH_FAST, AuthSettings, Role, totp_code, totp_step
from kassa.clock import FixedClock
from kassa.console import create_app
from kassa.host.core import HostConfig, HostCore
from kassa.iso8583.transactions import TxnType
from kassa.risk import RiskEngine, load_default_rules
from kassa.store import Database

__all__ = ["PAN"]
MASTER = bytes(range(32))  # hostkit's host master key
PASSWORD = "Console-Pass-2026"
STAFF = {
    "view01": Role.VIEWER,
    "ops01": Role.OPERATOR,
    "sup01": Role.SUPERVISOR,
    "sup02": Role.SUPERVISOR,
    "adm01": Role.ADMIN,
}
SALES_FEN = (10_000, 2_000, 3_000, 4_000, 5_000)
NOW_MS = T0_MS + 10 * 60_000
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class World:
    """A host database with a day on it, and the console over it."""

    db: Database
    home: Path
    clock: FixedClock
    app: FastAPI
    core: HostCore
    term: Term
    base_url: str = ""
    clients: list[httpx.Client] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    rrns: list[str] = field(default_factory=list)

    def code(self, who: str) -> str:
        """The operator's one-time code now, as the authenticator app shows it."""
        return totp_code(self.secrets[who], totp_step(self.clock.now_ms()))

    def tick(self) -> None:
        """Half a minute later: a new one-time code step (a used code never works again)."""
        self.clock.advance(30_000)

    def sale(self, amount_fen: int) -> str:
        """One more sale from the terminal, now; its response code."""
        self.term.now_ms = self.clock.now_ms()
        return self.term.send(self.term.request(TxnType.SALE, amount_fen))[39]

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.db.close()


def _seed(db: Database, core: HostCore) -> tuple[Term, list[str]]:
    term = Term(db, core)
    term.sign_on()
    rrns = []
    for amount in SALES_FEN:
        term.now_ms += 20_000
        reply = term.send(term.request(TxnType.SALE, amount))
        assert reply[39] == "00", reply[39]
        rrns.append(reply[37])
    term.now_ms += 20_000
    assert term.send(term.request(TxnType.SALE, 1_500, pin="9999"))[39] == "55"
    term.now_ms += 20_000
    assert term.send(term.request(TxnType.SALE, 1_000, pin="1111", pan=LOST_PAN))[39] != "00"
    term.now_ms += 20_000
    term.send(term.request(TxnType.SALE, 1_234, pin="4321", pan=CREDIT_PAN))
    return term, rrns


def build_world(tmp_path: Path, db_url: str | None = None, poll_ms: int = 5_000) -> World:
    """The day on a new host database (SQLite in `tmp_path` unless `db_url`), and users."""
    db, plain = open_host(db_url or f"sqlite:///{tmp_path / 'host.db'}")
    core = HostCore(
        plain.secrets, HostConfig(), random.Random(9).randbytes, RiskEngine(load_default_rules())
    )
    term, rrns = _seed(db, core)
    clock = FixedClock(NOW_MS)
    home = tmp_path / "home"
    home.mkdir()
    app = create_app(
        db,
        home,
        clock=clock,
        settings=AuthSettings(hash_params=HASH_FAST),
        master=MASTER,
        poll_ms=poll_ms,
    )
    world = World(db, home, clock, app, core, term, rrns=rrns)
    store = app.state.services.store
    for who, role in STAFF.items():
        _, secret = store.add(who, role, PASSWORD, clock.now_ms(), temporary=False)
        if secret:
            world.secrets[who] = secret
    return world


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@contextmanager
def running(tmp_path: Path, db_url: str | None = None, poll_ms: int = 5_000) -> Iterator[World]:
    """A world with its console served on loopback, stopped and closed afterwards."""
    world = build_world(tmp_path, db_url, poll_ms)
    try:
        with serving(world.app) as url:
            world.base_url = url
            try:
                yield world
            finally:
                for c in world.clients:
                    c.close()
    finally:
        world.close()


@contextmanager
def serving(app: FastAPI, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread (over TLS with a
    (certificate, key) pair); its base URL."""
    cert, key = (str(tls[0]), str(tls[1])) if tls else (None, None)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
    )
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def client(world: World) -> httpx.Client:
    """A browser-like HTTP client of the running console (keeps its cookies)."""
    made = httpx.Client(base_url=world.base_url, timeout=10)
    world.clients.append(made)
    return made


def login(world: World, who: str, browser: httpx.Client | None = None) -> httpx.Client:
    """A client logged in as `who` (with a fresh one-time code when the role needs one)."""
    client_ = browser or client(world)
    token = csrf_of(client_.get("/login").text)
    code = ""
    if who in world.secrets:
        world.tick()
        code = world.code(who)
    answer = client_.post(
        "/login", data={"csrf": token, "operator_id": who, "password": PASSWORD, "code": code}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/"
    return client_


def token(browser: httpx.Client, page: str = "/") -> str:
    """The CSRF token of the logged-in session, read off `page`."""
    return csrf_of(browser.get(page).text)
