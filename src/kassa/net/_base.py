"""What every terminal link shares: host addresses, the `Link` interface, link errors.

The one thing a caller must read from a `LinkError` is `sent`:

* `sent is False` (`ConnectFailed`): the request never left the terminal. The customer was
  not charged; it is safe to say so and to try again later.
* `sent is True` (`ResponseTimeout`, `ConnectionLost`, `BadFrame`): the request may have
  reached the host and the outcome is UNKNOWN. The terminal must treat the transaction as
  in doubt and reverse it (reference §3.6), never simply retry it as new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from kassa.errors import ConfigError, KassaError

ConnectReason = Literal["refused", "timeout", "dns", "tls", "unreachable"]


@dataclass(frozen=True, slots=True)
class HostAddress:
    """One acquirer host endpoint; `tls` says whether to wrap the TCP connection in TLS."""

    host: str
    port: int
    tls: bool = False

    def __post_init__(self) -> None:
        if not self.host or not 0 < self.port < 65536:
            raise ConfigError(f"host address {self.host!r}:{self.port}: need a host and a port")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls://' if self.tls else ''}{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> HostAddress:
        """Read `host:port`, `[v6]:port` or `tls://host:port` (as `str()` writes it)."""
        tls = text.startswith("tls://")
        rest = text.removeprefix("tls://")
        host, sep, port = rest.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not port.isdigit():
            raise ConfigError(f"host address {text!r}: write it as host:port or tls://host:port")
        return cls(host, int(port), tls)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One failed connection attempt: where, why (a `ConnectReason`) and the OS's words."""

    address: HostAddress
    reason: ConnectReason
    detail: str

    def __str__(self) -> str:
        return f"{self.address} {self.reason} ({self.detail})"


class LinkError(KassaError):
    """An exchange that did not produce a response. See the module docstring for `sent`."""

    sent: bool = True

    def __init__(self, message: str, address: HostAddress | None) -> None:
        super().__init__(message)
        self.address = address


class ConnectFailed(LinkError):
    """No host could be reached, every address tried in order; nothing was sent."""

    sent = False

    def __init__(self, attempts: tuple[Attempt, ...]) -> None:
        if not attempts:
            raise ValueError("ConnectFailed needs at least one attempt")
        tried = "; ".join(str(attempt) for attempt in attempts)
        super().__init__(f"could not connect to any host: {tried}", attempts[-1].address)
        self.attempts = attempts
        self.reason: ConnectReason = attempts[-1].reason


class ResponseTimeout(LinkError):
    """The request was sent and no response came within the timeout: outcome unknown."""

    def __init__(self, address: HostAddress | None, timeout_s: float) -> None:
        super().__init__(f"no response from {address} within {timeout_s:g} s", address)
        self.timeout_s = timeout_s


class ConnectionLost(LinkError):
    """The connection broke after the request was sent: outcome unknown."""

    def __init__(self, address: HostAddress | None, detail: str) -> None:
        super().__init__(f"connection to {address} lost after sending: {detail}", address)


class BadFrame(LinkError):
    """The host answered with bytes that are not a frame: outcome unknown."""

    def __init__(self, address: HostAddress | None, detail: str) -> None:
        super().__init__(f"bad frame from {address}: {detail}", address)


@runtime_checkable
class Link(Protocol):
    """A terminal's channel to its host: one request body in, one response body out.

    `exchange` raises only `LinkError` subclasses (and `EncodeError` for a body outside
    the frame bounds, a programming error). Exchanges on one link are serialised.
    """

    @property
    def current_address(self) -> HostAddress | None: ...

    async def exchange(self, body: bytes, *, timeout_s: float | None = None) -> bytes: ...

    async def close(self) -> None: ...
