"""The terminal's configuration: who it is, where the hosts are, its limits (pure).

Kept in the journal's `settings` table as JSON; every value is checked when set, and a
wrong one is a one-line ConfigError saying what is expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from kassa import limits
from kassa.errors import AmountError, ConfigError
from kassa.money import Amount

_HOST = re.compile(r"(tls://|tcp://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}")


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    tid: str = ""
    mid: str = ""
    merchant_name: str = ""
    hosts: tuple[str, ...] = ("127.0.0.1:5000",)
    tpdu: str = "6000030000"
    header: str = "603100310000"  # "" when the acquirer sends no message header
    tls_ca: str = ""  # PEM file to check a tls:// host's certificate against
    key_mode: str = "004"
    connect_timeout_ms: int = limits.connect_timeout_ms
    response_timeout_ms: int = limits.response_timeout_ms
    reversal_attempts_max: int = limits.reversal_attempts_max
    printer: str = "none://"
    language: str = "zh"
    utc_offset_minutes: int = 480
    floor_limit_fen: int = 0  # store-and-forward off until a floor limit is set
    saf_txn_max_fen: int = 50_000
    saf_total_max_fen: int = 500_000
    saf_count_max: int = 50
    saf_age_max_ms: int = 24 * 3600 * 1000
    clock_drift_max_ms: int = 120_000
    operator_idle_ms: int = 30 * 60 * 1000

    def check(self) -> TerminalConfig:
        """Raise ConfigError for the first wrong value; return self."""
        if self.tid and not re.fullmatch(r"[0-9A-Za-z]{8}", self.tid):
            raise ConfigError(f"tid {self.tid!r}: must be 8 letters or digits, e.g. 12345678")
        if self.mid and not re.fullmatch(r"[0-9A-Za-z]{15}", self.mid):
            raise ConfigError(f"mid {self.mid!r}: must be 15 letters or digits")
        for host in self.hosts:
            if not _HOST.fullmatch(host):
                raise ConfigError(f"host {host!r}: expected HOST:PORT or tls://HOST:PORT")
        if not self.hosts:
            raise ConfigError("hosts: give at least one host address (primary first)")
        if not re.fullmatch(r"[0-9A-Fa-f]{10}", self.tpdu):
            raise ConfigError(f"tpdu {self.tpdu!r}: must be 10 hex digits, e.g. 6000030000")
        if self.header and not re.fullmatch(r"[0-9A-Fa-f]{12}", self.header):
            raise ConfigError(f"header {self.header!r}: 12 hex digits, or empty for none")
        if self.key_mode not in ("001", "003", "004"):
            raise ConfigError("key_mode: 001 (DES), 003 (3DES) or 004 (3DES with TDK)")
        if self.language not in ("zh", "en"):
            raise ConfigError("language: zh or en")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"{f.name}: must not be negative")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> TerminalConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        if "hosts" in data:
            data["hosts"] = tuple(data["hosts"])
        return cls(**data).check()

    def updated(self, key: str, value: str) -> TerminalConfig:
        """A copy with `key` set from command-line text (ints parsed, hosts comma-separated)."""
        names = {f.name: f for f in fields(self)}
        if key not in names:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(names))}")
        current = getattr(self, key)
        parsed: Any = value
        if key == "hosts":
            parsed = tuple(h.strip() for h in value.split(",") if h.strip())
        elif key.endswith("_fen"):
            try:
                parsed = Amount.parse(value, positive=False).fen
            except AmountError as exc:
                raise ConfigError(f"{key.removesuffix('_fen')} (yuan): {exc}") from None
        elif isinstance(current, int):
            if not re.fullmatch(r"\d+", value):
                raise ConfigError(f"{key}: expected a whole number, got {value!r}")
            parsed = int(value)
        return replace(self, **{key: parsed}).check()
