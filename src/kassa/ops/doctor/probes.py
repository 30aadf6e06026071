"""The doctor's probes (I/O shell): each one looks at one thing and returns plain facts
for `checks` / `checks_local` to judge. Probes never change the journal or the host."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from pathlib import Path

from kassa.errors import KassaError
from kassa.net import BadFrame, ConnectFailed, HostAddress, HostLink, LinkError, ResponseTimeout
from kassa.ops.doctor.checks import (
    CONNECT_FAULTS,
    Check,
    EchoFacts,
    connect_check,
    dns_check,
    is_ip_literal,
    tls_check,
)
from kassa.ops.doctor.checks_local import JournalFacts, Queue
from kassa.store import Database
from kassa.terminal import requests as rq
from kassa.terminal.context import Ctx
from kassa.terminal.journal import Journal
from kassa.terminal.printer import open_printer
from kassa.terminal.signon import host_time_ms
from kassa.terminal.states import State
from kassa.terminal.verdict import judge

dns_timeout_s = 5.0
_TABLE_EXISTS = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
    "postgresql": "SELECT 1 FROM information_schema.tables WHERE table_name = ?",
}


async def resolve(host: str, port: int) -> tuple[tuple[str, ...], str | None]:
    """The addresses `host` resolves to, or the resolver's complaint."""
    if is_ip_literal(host):
        return (host,), None
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(dns_timeout_s):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        return (), f"no answer from the resolver within {dns_timeout_s:g} s"
    except socket.gaierror as exc:
        return (), exc.strerror or str(exc)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos)), None


async def network(link: HostLink) -> list[Check]:
    """DNS, TCP (timed) and TLS for every configured host address, primary first."""
    probes = [await link.probe(address) for address in link.addresses]
    names = [await resolve(a.host, a.port) for a in link.addresses]
    checks: list[Check] = []
    for index, (address, probe) in enumerate(zip(link.addresses, probes, strict=True)):
        others_ok = any(
            p.tcp_ms is not None and p.tls_ok is not False
            for i, p in enumerate(probes)
            if i != index
        )
        checks.append(dns_check(address.host, *names[index]))
        checks.append(connect_check(probe, others_ok))
        tls = tls_check(probe, others_ok)
        if tls is not None:
            checks.append(tls)
    return checks


async def echo(ctx: Ctx, timeout_s: float) -> EchoFacts:
    """One 0820 echo test (60.3 = 301) over the terminal's link; the host's clock from the
    answer's F12/F13, read against our system clock at the moment the answer came."""
    msg = rq.echo(ctx.who, ctx.batch)
    started = ctx.clock.monotonic_s()
    try:
        body = await ctx.link.exchange(ctx.frame(msg, None), timeout_s=timeout_s)
    except ConnectFailed as exc:
        return EchoFacts(CONNECT_FAULTS.get(exc.reason, "host_unreachable"), detail=str(exc))
    except ResponseTimeout as exc:
        return EchoFacts("response_timeout", detail=str(exc))
    except BadFrame as exc:
        return EchoFacts("malformed_response", detail=str(exc))
    except LinkError as exc:  # the host hung up without answering
        return EchoFacts("response_timeout", detail=str(exc))
    system_ms = ctx.clock.now_ms()
    rtt_ms = int((ctx.clock.monotonic_s() - started) * 1000)
    address = ctx.link.current_address if isinstance(ctx.link, HostLink) else None
    verdict = judge(msg, body, None, ctx.header_mode)
    if verdict.reply is None:
        return EchoFacts("malformed_response", rtt_ms, str(address), detail=verdict.why)
    host_ms = host_time_ms(verdict.reply, system_ms, ctx.config.utc_offset_minutes)
    skew = None if host_ms is None else host_ms - system_ms
    return EchoFacts(verdict.code or "malformed_response", rtt_ms, str(address), skew)


def journal_users(path: Path) -> tuple[int, ...]:
    """Other processes that have `path` open (Linux /proc; empty where there is none)."""
    target = str(path.resolve())
    users: list[int] = []
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue  # gone meanwhile, or not ours to look at
        if target in links:
            users.append(int(proc.name))
    return tuple(users)


def _ids(journal: Journal, where: str) -> tuple[int, ...]:
    with journal.db.transaction(write=False) as tx:
        rows = tx.fetchall(f"SELECT id FROM txns WHERE {where} ORDER BY id")
    return tuple(int(r[0]) for r in rows)


def journal_facts(journal: Journal, path: Path) -> JournalFacts:
    """Integrity and the journal's invariants, read in a few queries."""
    with journal.db.transaction(write=False) as tx:
        said = [str(r[0]) for r in tx.fetchall("PRAGMA integrity_check")]
        step = tx.fetchone("SELECT step FROM settlement_runs WHERE step <> 'done' "
                           "ORDER BY started_ms DESC LIMIT 1")  # fmt: skip
    states = ", ".join(f"'{s.value}'" for s in State)
    return JournalFacts(
        integrity="ok" if said == ["ok"] else "; ".join(said[:5]),
        bad_states=_ids(journal, f"state NOT IN ({states})"),
        pending=_ids(journal, "state = 'pending'"),
        users=journal_users(path),
        in_doubt_unsealed=_ids(
            journal, "state = 'in_doubt' AND reversible = 1 AND reversal_sealed IS NULL"
        ),
        offline_unsealed=_ids(journal, "state = 'offline' AND request_sealed IS NULL"),
        resend_unsealed=_ids(journal, "state = 'resend' AND request_sealed IS NULL"),
        settlement_step=str(step[0]) if step else None,
        tz_missing=_ids(journal, "tz IS NULL OR tz = ''"),
    )


def queue(journal: Journal, state: State) -> Queue:
    with journal.db.transaction(write=False) as tx:
        row = tx.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0), MIN(created_ms) FROM txns"
            " WHERE state = ?",
            (state.value,),
        )
    assert row is not None
    return Queue(int(row[0]), int(row[1]), int(row[2]) if row[2] is not None else None)


def printer(url: str) -> tuple[bool | None, str, str | None, str]:
    """(ready, paper, guide fault, note) from the printer's own status answer."""
    try:
        status = open_printer(url).status()
    except KassaError as exc:  # a printer URL or drill file that makes no sense
        return None, "unknown", "printer_not_connected", str(exc)
    return status.ready, status.paper, status.error, ""


def disk(path: Path) -> tuple[int, int, bool]:
    """(free bytes for us, total bytes, writable) of the file system holding `path`."""
    usage = shutil.disk_usage(path)
    return usage.free, usage.total, _writable(path)


def _writable(path: Path) -> bool:
    # os.access says yes to root even on a read-only mount; only a real write tells.
    probe = path / f".doctor-{os.getpid()}"
    try:
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError:
        return False
    return True


def address_list(hosts: tuple[str, ...]) -> list[HostAddress]:
    return [HostAddress.parse(h.removeprefix("tcp://")) for h in hosts]


def schema_version(db: Database, component: str) -> int:
    """A component's schema version, 0 when there is none (read only, unlike `migrate`)."""
    with db.transaction(write=False) as tx:
        if tx.fetchone(_TABLE_EXISTS[db.dialect], ("schema_migrations",)) is None:
            return 0
        row = tx.fetchone(
            "SELECT MAX(version) FROM schema_migrations WHERE component = ?", (component,)
        )
    return int(row[0]) if row and row[0] is not None else 0
