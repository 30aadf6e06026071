"""What the doctor concludes from what its probes saw (pure): one `Check` per question.

Severities, and the exit status of `kassa doctor` they add up to:

    ok       fine                                                   exit 0
    info     not applicable or not checked (said why)               exit 0
    warning  works, but degraded or about to break: act soon         exit 1 (none worse)
    failure  broken: payments fail or records are at risk; act now   exit 2

Every warning and failure names an operator-guide entry (`kassa explain CODE`): what it
means, its likely cause and what to do, in Chinese and English. This module covers the
network and the clock; `checks_local` the terminal's and the host's own state.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kassa.net import ProbeResult
from kassa.ops.ntp import NtpResult

Severity = Literal["ok", "info", "warning", "failure"]
SEVERITIES: tuple[Severity, ...] = ("ok", "info", "warning", "failure")
EXIT_OK, EXIT_WARNINGS, EXIT_FAILURES = 0, 1, 2
# A TCP connect slower than this (on top of being under the timeout) is worth a warning.
slow_connect_ms = 1_000
# F12/F13 carry whole seconds: a host time read from them is good to about a second.
_HOST_TIME_RESOLUTION_MS = 1_000

# Why a connection failed (kassa.net ConnectReason) -> the guide entry that explains it.
CONNECT_FAULTS: dict[str, str] = {
    "refused": "connect_refused",  # nothing listens there: wrong port, or the host is down
    "timeout": "firewall_suspected",  # packets silently dropped: firewall, or off the network
    "dns": "dns_failure",
    "tls": "tls_failure",
    "unreachable": "host_unreachable",  # no route: our own network is down
}


@dataclass(frozen=True, slots=True)
class Check:
    """One finding. `guide_code` names the operator-guide entry for warnings and failures."""

    name: str
    severity: Severity
    detail: str
    guide_code: str | None = None

    def __post_init__(self) -> None:
        assert self.severity in SEVERITIES, self.severity
        assert self.severity in ("ok", "info") or self.guide_code, self.name

    @property
    def ok(self) -> bool:
        return self.severity in ("ok", "info")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "severity": self.severity,
                "detail": self.detail, "guide_code": self.guide_code}  # fmt: skip


def exit_status(checks: Iterable[Check]) -> int:
    """0 when everything is fine, 1 when there are warnings only, 2 on any failure."""
    seen = {c.severity for c in checks}
    if "failure" in seen:
        return EXIT_FAILURES
    return EXIT_WARNINGS if "warning" in seen else EXIT_OK


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def dns_check(host: str, addresses: tuple[str, ...], error: str | None) -> Check:
    name = f"dns {host}"
    if is_ip_literal(host):
        return Check(name, "info", f"{host} is an IP address: nothing to resolve")
    if error is not None or not addresses:
        why = error or "no addresses"
        return Check(name, "failure", f"{host} does not resolve ({why})", "dns_failure")
    return Check(name, "ok", f"{host} -> {', '.join(addresses)}")


def reason_of(error: str) -> str:
    """The connect reason at the head of a probe's error text ("refused: ...")."""
    return error.split(":", 1)[0].strip()


def connect_check(probe: ProbeResult, other_host_ok: bool) -> Check:
    """TCP connect to one host address. A failure is only a warning while another
    configured host answers: the terminal fails over to it."""
    name = f"tcp {probe.address}"
    if probe.tcp_ms is None:
        error = probe.error or "unknown error"
        code = CONNECT_FAULTS.get(reason_of(error), "host_unreachable")
        explain = {
            "connect_refused": "connection refused: nothing listens on that port "
            "(wrong port, or the host service is down)",
            "firewall_suspected": "no answer to the TCP connect: a firewall drops the "
            "packets, or the host is off the network",
            "dns_failure": "the host name does not resolve",
            "host_unreachable": "no route to the host: check the terminal's own network",
        }.get(code, error)
        severity: Severity = "warning" if other_host_ok else "failure"
        backup = "; another configured host answers (failover)" if other_host_ok else ""
        return Check(name, severity, f"{explain} [{error}]{backup}", code)
    took = f"connected in {probe.tcp_ms:.0f} ms"
    if probe.tcp_ms > slow_connect_ms:
        return Check(name, "warning", f"{took}: slow link, expect timeouts", "response_timeout")
    return Check(name, "ok", took)


def tls_check(probe: ProbeResult, other_host_ok: bool) -> Check | None:
    """The TLS handshake of a tls:// address (certificate checked); None for plain TCP."""
    if not probe.address.tls:
        return None
    name = f"tls {probe.address}"
    if probe.tcp_ms is None:
        return Check(name, "info", "not tried: TCP connect failed")
    if probe.tls_ok:
        return Check(name, "ok", "handshake done, host certificate verified")
    severity: Severity = "warning" if other_host_ok else "failure"
    return Check(name, severity, f"handshake failed: {probe.error}", "tls_failure")


@dataclass(frozen=True, slots=True)
class EchoFacts:
    """What one 0820 echo test (60.3 = 301) came back with."""

    code: str  # "00", a response code, or a guide fault name
    rtt_ms: int | None = None
    address: str | None = None
    skew_ms: int | None = None  # the host's clock (F12/F13) minus our system clock
    detail: str = ""


def echo_check(echo: EchoFacts) -> Check:
    name = "echo 0820"
    if echo.code == "00":
        return Check(name, "ok", f"host {echo.address} answered 00 in {echo.rtt_ms} ms")
    if echo.code == "response_timeout":
        text = "connected, but no answer in time: the host is hung or overloaded, or a "
        text += "middlebox swallows the messages"
        return Check(name, "failure", f"{text} ({echo.detail})", echo.code)
    if echo.code in CONNECT_FAULTS.values():
        return Check(name, "failure", echo.detail, echo.code)
    what = f"host answered {echo.code}" if len(echo.code) <= 2 else echo.code
    return Check(name, "failure", f"{what} {echo.detail}".strip(), echo.code)


def _seconds(ms: int) -> str:
    return f"{ms / 1000:+.1f} s"


def clock_host_check(skew_ms: int | None, adopted_offset_ms: int, drift_max_ms: int) -> Check:
    """The terminal's clock against the host's. The terminal keeps time as system clock +
    the offset adopted at sign-on; `skew_ms` is the host's clock minus the system clock
    as the echo just saw it (None when the echo brought no time)."""
    name = "clock vs host"
    if skew_ms is None:
        text = f"at sign-on the system clock was {_seconds(-adopted_offset_ms)} off the host"
        if abs(adopted_offset_ms) > drift_max_ms:
            return Check(name, "warning", text + " (corrected by the adopted offset)",
                         "clock_skew")  # fmt: skip
        return Check(name, "ok", text + " (no host time from the echo)")
    residual, raw = skew_ms - adopted_offset_ms, skew_ms
    if abs(residual) > drift_max_ms + _HOST_TIME_RESOLUTION_MS:
        text = f"terminal time is {_seconds(-residual)} off the host's (limit "
        text += f"{drift_max_ms / 1000:g} s): receipts and journal carry a wrong time"
        return Check(name, "failure", text, "clock_skew")
    if abs(raw) > drift_max_ms + _HOST_TIME_RESOLUTION_MS:
        text = f"system clock is {_seconds(-raw)} off the host's; the terminal corrects it "
        text += "with the offset taken at sign-on, but set the system clock right (NTP)"
        return Check(name, "warning", text, "clock_skew")
    return Check(name, "ok", f"terminal time within {_seconds(-residual)} of the host's")


def clock_ntp_check(ntp: NtpResult | None, adopted_offset_ms: int, drift_max_ms: int) -> Check:
    """The clock against an NTP server: the system clock, and the time actually used
    (system + `adopted_offset_ms`; 0 at the host)."""
    name = "clock vs NTP"
    if ntp is None:
        return Check(name, "info", "not checked: give --ntp HOST to compare with an NTP server")
    if ntp.error is not None or ntp.offset_ms is None:
        return Check(name, "warning", f"NTP server {ntp.server}: {ntp.error}", "clock_skew")
    used_error = adopted_offset_ms - ntp.offset_ms
    about = f"(server {ntp.server}, stratum {ntp.stratum}, delay {ntp.delay_ms} ms)"
    if abs(used_error) > drift_max_ms:
        return Check(name, "failure", f"time in use is {_seconds(used_error)} off NTP {about}",
                     "clock_skew")  # fmt: skip
    if abs(ntp.offset_ms) > drift_max_ms:
        text = f"system clock is {_seconds(-ntp.offset_ms)} off NTP, corrected by the "
        return Check(name, "warning", text + f"host offset {about}", "clock_skew")
    return Check(name, "ok", f"time in use within {_seconds(used_error)} of NTP {about}")
