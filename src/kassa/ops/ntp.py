"""Time from an NTP server: a Simple NTP (SNTP) client after RFC 4330, and a lab server.

`query(server)` sends one 48-byte client packet over UDP and reads one answer:

    offset = ((T2 - T1) + (T3 - T4)) / 2      the server's clock minus ours
    delay  = (T4 - T1) - (T3 - T2)            the round trip, less the server's own time

(T1 our transmit time, T2 the server's receive time, T3 its transmit time, T4 our receive
time; RFC 4330 §5). An answer counts only when it passes the checks of RFC 4330 §5: it
answers OUR request (its originate timestamp is the transmit timestamp we sent, which
carries random low bits so a blind spoofer cannot guess it), it comes from a server
(mode 4), the server is synchronised (leap indicator not 3, stratum 1-15; stratum 0 is a
"kiss-of-death" refusal) and its transmit timestamp is not zero. Failures are data: an
`NtpResult` with `error` set, never an exception.

`SntpServer` answers SNTP on loopback with a chosen skew: for tests and for the clock drill.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kassa.clock import SYSTEM, Clock

PORT = 123
PACKET_SIZE = 48
timeout_default_s = 2.0
# Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01), RFC 868.
NTP_UNIX_OFFSET_S = 2_208_988_800
_ERA_S = 1 << 32
_MODE_CLIENT, _MODE_SERVER = 3, 4
_VERSION = 4
_LEAP_ALARM = 3
_NONCE_BITS = 20  # below a millisecond (2**22 fraction units): random, never meaningful


@dataclass(frozen=True, slots=True)
class NtpResult:
    """One SNTP exchange: `offset_ms` is the server's clock minus ours; `error` when none."""

    server: str
    offset_ms: int | None = None
    delay_ms: int | None = None
    stratum: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def to_ntp(unix_ns: int) -> int:
    """A Unix time in nanoseconds as a 64-bit NTP timestamp (32.32 fixed point, mod 2**64)."""
    seconds, rest = divmod(unix_ns, 1_000_000_000)
    fraction = (rest << 32) // 1_000_000_000
    return (((seconds + NTP_UNIX_OFFSET_S) % _ERA_S) << 32) | fraction


def from_ntp(stamp: int) -> int:
    """A 64-bit NTP timestamp as Unix nanoseconds. Seconds with the top bit clear are read
    as era 1 (from 2036-02-07), as RFC 4330 §3 says: valid from 1968 to 2104."""
    seconds, fraction = stamp >> 32, stamp & 0xFFFF_FFFF
    if not seconds & 0x8000_0000:
        seconds += _ERA_S
    return (seconds - NTP_UNIX_OFFSET_S) * 1_000_000_000 + ((fraction * 1_000_000_000) >> 32)


def request_packet(transmit: int) -> bytes:
    """A client packet (LI 0, version 4, mode 3) whose transmit timestamp is `transmit`."""
    head = bytes([(_VERSION << 3) | _MODE_CLIENT]) + bytes(39)
    return head + transmit.to_bytes(8, "big")


def stamp_with_nonce(unix_ms: int, rand: Callable[[int], bytes]) -> int:
    """Our transmit time as an NTP timestamp with random bits below the millisecond."""
    noise = int.from_bytes(rand(4), "big") & ((1 << _NONCE_BITS) - 1)
    return to_ntp(unix_ms * 1_000_000) | noise


def parse_reply(data: bytes, sent: int, received_ms: int) -> tuple[int, int, int] | str:
    """Check an answer to the request stamped `sent`, received at `received_ms` (our Unix
    ms): (offset_ms, delay_ms, stratum), or the reason it cannot be trusted."""
    if len(data) < PACKET_SIZE:
        return f"answer of {len(data)} bytes, expected at least {PACKET_SIZE}"
    leap, mode, stratum = data[0] >> 6, data[0] & 0x07, data[1]
    if mode != _MODE_SERVER:
        return f"answer in mode {mode}, expected 4 (server)"
    if int.from_bytes(data[24:32], "big") != sent:
        return "answer does not match our request (originate timestamp differs)"
    if stratum == 0:
        return f"server refused (kiss-of-death {data[12:16].decode('ascii', 'replace')!r})"
    if leap == _LEAP_ALARM or stratum > 15:
        return f"server is not synchronised (leap {leap}, stratum {stratum})"
    t3_raw = int.from_bytes(data[40:48], "big")
    if t3_raw == 0:
        return "answer has no transmit timestamp"
    t1, t4 = from_ntp(sent), received_ms * 1_000_000
    t2, t3 = from_ntp(int.from_bytes(data[32:40], "big")), from_ntp(t3_raw)
    offset_ns = ((t2 - t1) + (t3 - t4)) // 2
    delay_ns = max((t4 - t1) - (t3 - t2), 0)
    return _ms(offset_ns), _ms(delay_ns), stratum


def _ms(ns: int) -> int:
    return (ns + 500_000) // 1_000_000  # to the nearest millisecond, in integers


def query(
    server: str,
    port: int = PORT,
    timeout_s: float = timeout_default_s,
    clock: Clock = SYSTEM,
    rand: Callable[[int], bytes] = os.urandom,
) -> NtpResult:
    """Ask `server` for the time once (blocking, at most about `timeout_s`)."""
    where = f"{server}:{port}"
    try:
        family, _, _, _, address = socket.getaddrinfo(server, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        return NtpResult(where, error=f"dns: {exc.strerror or exc}")
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sent = stamp_with_nonce(clock.now_ms(), rand)
        try:
            sock.sendto(request_packet(sent), address)
            while True:  # ignore stray datagrams from anyone else until the deadline
                data, peer = sock.recvfrom(512)
                if peer[:2] == address[:2]:
                    break
        except TimeoutError:
            return NtpResult(where, error=f"timeout: no answer within {timeout_s:g} s")
        except OSError as exc:
            return NtpResult(where, error=f"unreachable: {exc.strerror or exc}")
        received = clock.now_ms()
    parsed = parse_reply(data, sent, received)
    if isinstance(parsed, str):
        return NtpResult(where, error=parsed)
    offset, delay, stratum = parsed
    return NtpResult(where, offset, delay, stratum)


class SntpServer:
    """A tiny SNTP server on loopback whose clock is ours plus `skew_ms` (lab use only).

    `silent` makes it swallow requests (a server that never answers)."""

    def __init__(self, skew_ms: int = 0, stratum: int = 2, clock: Clock = SYSTEM) -> None:
        self.skew_ms = skew_ms
        self.stratum = stratum
        self.silent = False
        self.answered = 0
        self._clock = clock
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sntp-lab", daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def __enter__(self) -> SntpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def answer(self, request: bytes) -> bytes:
        """The reply to one client packet, stamped with this server's (skewed) time."""
        now = to_ntp((self._clock.now_ms() + self.skew_ms) * 1_000_000)
        version = (request[0] >> 3) & 0x07 or _VERSION
        head = bytes([(version << 3) | _MODE_SERVER, self.stratum, request[2], 0xEC])
        body = bytes(8) + b"LOCL" + now.to_bytes(8, "big")  # root delay/dispersion, ref id
        return head + body + request[40:48] + now.to_bytes(8, "big") + now.to_bytes(8, "big")

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) >= PACKET_SIZE and not self.silent:
                self._sock.sendto(self.answer(data), peer)
                self.answered += 1
