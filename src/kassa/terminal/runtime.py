"""Opening a terminal from its home directory: journal, device key, host link (shell)."""

from __future__ import annotations

from pathlib import Path

from kassa.audit import AuditLog, ChainKey
from kassa.home import kassa_home
from kassa.keyfile import load_or_create_key
from kassa.net import HostAddress, HostLink
from kassa.net.tls import client_context
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal
from kassa.terminal.pending import Receipts
from kassa.terminal.pos import Terminal
from kassa.terminal.printing import PrintingReceipts

DEVICE_KEY_ENV = "KASSA_DEVICE_KEY"


def terminal_dir(home: Path | None) -> Path:
    path = kassa_home(home) / "terminal"
    path.mkdir(parents=True, exist_ok=True)
    return path


def device_key(home: Path | None) -> bytes:
    return load_or_create_key(terminal_dir(home) / "device.key", DEVICE_KEY_ENV)


def open_journal(home: Path | None) -> Journal:
    return Journal.open(str(terminal_dir(home) / "journal.db"), device_key(home))


def audit_log(journal: Journal, home: Path | None) -> AuditLog:
    """The terminal's audit log, in its journal, chained under a key from the device key."""
    return AuditLog(journal.db, "terminal", ChainKey.from_master(device_key(home)))


def make_link(config: TerminalConfig) -> HostLink:
    addresses = [HostAddress.parse(h.removeprefix("tcp://")) for h in config.hosts]
    tls = any(a.tls for a in addresses)
    return HostLink(
        addresses,
        # The host's certificate is always checked: against tls_ca when set (a private
        # acquirer CA or a lab host's self-signed certificate), else the system store.
        ssl_context=client_context(config.tls_ca or None, verify=True) if tls else None,
        connect_timeout_s=config.connect_timeout_ms / 1000,
        response_timeout_s=config.response_timeout_ms / 1000,
    )


def open_terminal(home: Path | None, receipts: Receipts | None = None) -> Terminal:
    journal = open_journal(home)
    receipts = receipts if receipts is not None else PrintingReceipts(journal)
    return Terminal(journal, make_link(journal.config()), receipts=receipts,
                    audit=audit_log(journal, home))  # fmt: skip
