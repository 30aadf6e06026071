"""`kassa doctor`: examine a terminal home and/or a host database, in that order.

A home with `terminal/journal.db` is examined as a terminal: network (DNS, TCP, TLS per
host address), the 0820 echo test, the clock against the host and NTP, keys, sign-on,
follow-ups, store-and-forward, printer, disk and journal. A host database (`--host-db`,
or `host/host.db` in the home) is examined as a host: reachable, schema version, the
ledger proof (`check_host`), terminals last seen, master key, disk. Either way, the remote
copy of the backups when backup.toml configures one (`backup_remote`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kassa import __version__
from kassa.clock import SYSTEM, Clock
from kassa.errors import ConfigError
from kassa.home import kassa_home
from kassa.ops import ntp as sntp
from kassa.ops.doctor import checks_local as local
from kassa.ops.doctor import probes
from kassa.ops.doctor.backup_remote import remote_checks
from kassa.ops.doctor.checks import (
    Check,
    clock_host_check,
    clock_ntp_check,
    echo_check,
    exit_status,
)
from kassa.ops.doctor.host import examine_host
from kassa.store import connect
from kassa.terminal.config import TerminalConfig
from kassa.terminal.context import Ctx
from kassa.terminal.journal import Journal
from kassa.terminal.runtime import make_link
from kassa.terminal.schema import COMPONENT as TERMINAL
from kassa.terminal.schema import MIGRATIONS as TERMINAL_MIGRATIONS
from kassa.terminal.states import State

echo_timeout_max_s = 10.0  # the doctor does not wait a whole 30 s response timeout


@dataclass(frozen=True, slots=True)
class DoctorReport:
    examined: tuple[str, ...]  # "terminal", "host"
    checks: tuple[Check, ...]

    @property
    def status(self) -> int:
        """The exit status: 0 all fine, 1 warnings only, 2 failures."""
        return exit_status(self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"version": __version__, "examined": list(self.examined),
                "status": self.status, "ok": self.status == 0,
                "checks": [c.to_json() for c in self.checks]}  # fmt: skip


def parse_ntp(text: str) -> tuple[str, int]:
    """`HOST` or `HOST:PORT` ([v6]:PORT) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and (not host.count(":") or host.startswith("[")):
        return host.strip("[]"), int(port)
    if not text or text.startswith(":"):
        raise ConfigError(f"--ntp {text!r}: give an NTP server, e.g. ntp.aliyun.com or host:123")
    return text.strip("[]"), sntp.PORT


def software_check() -> Check:
    return Check("software", "info", f"kassa {__version__}")


async def examine_terminal(
    home: Path | None,
    ntp: str | None = None,
    timeout_s: float | None = None,
    clock: Clock = SYSTEM,
) -> list[Check]:
    """Every terminal check, against the terminal home `home` (its journal must exist)."""
    base = kassa_home(home) / "terminal"
    path = base / "journal.db"
    if not path.is_file():
        raise ConfigError(f"no terminal journal at {path}: give --home of a terminal")
    # Read only: no migration, no device key (the doctor never unseals anything).
    journal = Journal(connect(f"sqlite:///{path}"), bytes(32))
    try:
        version = probes.schema_version(journal.db, TERMINAL)
        found = [local.schema_check(TERMINAL, version, len(TERMINAL_MIGRATIONS))]
        try:
            config = journal.config()
        except ConfigError as exc:
            found.append(Check("config", "failure", str(exc), "journal_corrupt"))
            return found
        found += await _online_checks(journal, config, ntp, timeout_s, clock)
        found += _state_checks(journal, config, clock, base)
    finally:
        journal.close()
    return found


async def _online_checks(journal: Journal, config: TerminalConfig, ntp: str | None,
                         timeout_s: float | None, clock: Clock) -> list[Check]:  # fmt: skip
    """Network, echo and clock: everything that talks to the host or NTP."""
    try:
        link = make_link(config)
    except ConfigError as exc:  # e.g. the tls_ca file is gone
        return [Check("host link", "failure", str(exc), "tls_failure")]
    ctx = Ctx(journal, link, clock)
    ctx.reload()
    try:
        found = await probes.network(link)
        wait = timeout_s or min(config.response_timeout_ms / 1000, echo_timeout_max_s)
        echo = await probes.echo(ctx, wait)
    finally:
        await link.close()
    found.append(echo_check(echo))
    adopted = int(journal.get("clock_offset_ms", "0") or 0)
    found.append(clock_host_check(echo.skew_ms, adopted, config.clock_drift_max_ms))
    found.append(await ntp_check(ntp, adopted, config.clock_drift_max_ms, clock))
    return found


async def ntp_check(ntp: str | None, adopted_ms: int, drift_max_ms: int, clock: Clock) -> Check:
    if ntp is None:
        return clock_ntp_check(None, adopted_ms, drift_max_ms)
    host, port = parse_ntp(ntp)
    result = await asyncio.to_thread(sntp.query, host, port, sntp.timeout_default_s, clock)
    return clock_ntp_check(result, adopted_ms, drift_max_ms)


def _state_checks(journal: Journal, config: TerminalConfig, clock: Clock,
                  base: Path) -> list[Check]:  # fmt: skip
    now = clock.now_ms() + int(journal.get("clock_offset_ms", "0") or 0)
    signon = journal.get("signon_ms")
    has_keys = journal.get("keys") is not None
    signed_on = journal.get("signed_on") == "1" and has_keys
    found = [
        local.keys_check(journal.get("tmk") is not None, has_keys,
                         int(signon) if signon else None, now),
        local.signed_on_check(signed_on, journal.get("batch", "000001") or "000001"),
        local.followups_check(probes.queue(journal, State.IN_DOUBT),
                              probes.queue(journal, State.RESEND), now),
        local.saf_check(probes.queue(journal, State.OFFLINE), config, now),
    ]  # fmt: skip
    ready, paper, error, note = probes.printer(config.printer)
    queued = len(journal.queued_prints())
    found.append(local.printer_check(config.printer, ready, paper, error, queued, note))
    found.append(local.disk_check(str(base), *probes.disk(base)))
    found += local.journal_checks(probes.journal_facts(journal, base / "journal.db"))
    return found


def _roles(home: Path | None, host_db: str | None) -> tuple[bool, str | None]:
    base = kassa_home(home)
    terminal = (base / "terminal" / "journal.db").is_file()
    db = host_db
    if db is None and (base / "host" / "host.db").is_file():
        db = f"sqlite:///{base / 'host' / 'host.db'}"
    if not terminal and db is None:
        raise ConfigError(
            f"nothing to examine in {base}: no terminal/journal.db and no host/host.db; "
            "give --home DIR of a terminal or host, or --host-db URL"
        )
    return terminal, db


async def doctor(
    home: Path | None = None,
    host_db: str | None = None,
    ntp: str | None = None,
    timeout_s: float | None = None,
    clock: Clock = SYSTEM,
) -> DoctorReport:
    """Examine what `home` / `host_db` hold; ConfigError when there is nothing to examine."""
    terminal, db = _roles(home, host_db)
    if ntp is not None:
        parse_ntp(ntp)  # a bad --ntp is a usage error before any probe runs
    found = [software_check()]
    examined: list[str] = []
    if terminal:
        examined.append("terminal")
        found += await examine_terminal(home, ntp, timeout_s, clock)
    if db is not None:
        examined.append("host")
        found += await asyncio.to_thread(examine_host, db, kassa_home(home), clock.now_ms())
        if not terminal:
            found.append(await ntp_check(ntp, 0, TerminalConfig().clock_drift_max_ms, clock))
    found += remote_checks(kassa_home(home), clock.now_ms())
    return DoctorReport(tuple(examined), tuple(found))
