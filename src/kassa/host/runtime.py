"""Opening a host: database, schema, master key, core. Shared by the CLI and tests."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kassa.audit import AuditLog, ChainKey
from kassa.clock import SYSTEM
from kassa.errors import ConfigError
from kassa.home import kassa_home
from kassa.host.core import HostConfig, HostCore
from kassa.host.masterkey import load_master_key
from kassa.host.riskfeed import RiskFeed
from kassa.host.schema import COMPONENT, MIGRATIONS
from kassa.host.secrets import HostSecrets
from kassa.risk import RiskEngine, load_default_rules, load_rules
from kassa.store import Database, connect, migrate


@dataclass
class HostRuntime:
    db: Database
    core: HostCore
    secrets: HostSecrets
    audit: AuditLog

    def record(self, action: str, target: str, detail: dict[str, Any]) -> None:
        """An administrative action at the host, in the hash-chained audit log."""
        actor = os.environ.get("USER") or os.environ.get("LOGNAME") or "host-admin"
        self.audit.record(actor, "admin", action, target, detail, SYSTEM.now_ms())

    def close(self) -> None:
        self.db.close()


def default_db_url(home: Path) -> str:
    return f"sqlite:///{home / 'host' / 'host.db'}"


def risk_engine(rules_file: Path | None) -> RiskEngine:
    """The risk rules: a TOML file when given, else the shipped defaults."""
    if rules_file is None:
        return RiskEngine(load_default_rules())
    try:
        text = rules_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--risk-rules {rules_file}: {exc.strerror}") from None
    return RiskEngine(load_rules(text))


def open_host(
    db_url: str | None,
    home: Path | None = None,
    risk_rules: Path | None = None,
    *,
    share_risk: bool = False,
) -> HostRuntime:
    """Connect, bring the schema up to date, unlock the keys, load the risk rules.

    `share_risk`: other host processes write this database too (`kassa host serve
    --workers N` on SQLite), so the risk counters follow theirs; always so on PostgreSQL.
    """
    base = kassa_home(home)
    url = db_url or default_db_url(base)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    db = connect(url)
    try:
        migrate(db, COMPONENT, MIGRATIONS)
        master = load_master_key(base / "host" / "master.key")
        secrets = HostSecrets.from_master(master)
        audit = AuditLog(db, "host", ChainKey.from_master(master))
    except BaseException:
        db.close()
        raise
    engine = risk_engine(risk_rules)
    core = HostCore(secrets, HostConfig(), os.urandom, engine)
    # Risk counters go through the database: shared by the nodes on PostgreSQL and by the
    # worker processes of one host, kept across restarts on both (`kassa.host.riskfeed`).
    node = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
    share = share_risk or db.dialect == "postgresql"
    core.financial.feed = RiskFeed(engine, node, share=share)
    return HostRuntime(db, core, secrets, audit)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `:PORT`) -> (host, port); ConfigError with an example otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:5000")
    return host.strip("[]") or "0.0.0.0", int(port)
