"""Receipt printers by URL, with a real status query (I/O shell).

    usb://04b8:0202               a USB printer by vendor:product id (Linux usblp, /dev/usb/lp*)
    tcp://192.0.2.7:9100          a network printer (raw port 9100)
    serial:///dev/ttyS0?baud=9600 a serial printer
    file:///var/kassa/out.bin     append the bytes to a file (tests, demo, drills)
    none://                       no printer: printing succeeds and prints nothing

tcp, usb and serial take ``?timeout_ms=`` (how long to wait for each status answer,
default 500). The status is asked with DLE EOT 1, 2 and 4 and decoded by
`kassa.terminal.escpos.decode_status`: a printer that does not answer is offline with
paper "unknown", never "ok" (python-escpos's `paper_status` says paper adequate then).

`print` asks the status first and sends nothing unless the printer is ready: bytes sent to
a printer out of paper wait in its buffer and come out after the roll is changed, and the
print queue would then print the same receipt a second time. Failures are data: a
`PrintResult` naming an operator-guide fault. A file printer's drill state comes from
``?paper=ok|near_end|out`` or from a sibling ``<path>.status`` file holding one of ok,
near_end, out, offline, cover_open, wrong_model (the file wins; it can change while running).
"""

from __future__ import annotations

import os
import re
import select
import socket
import termios
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from kassa.errors import ConfigError
from kassa.terminal.escpos import (
    QUERY_OFFLINE_CAUSE,
    QUERY_PAPER,
    QUERY_PRINTER,
    PrinterStatus,
    decode_status,
)

__all__ = ["PrintResult", "Printer", "PrinterStatus", "open_printer"]

_EXAMPLES = (
    "use usb://04b8:0202, tcp://host:9100, serial:///dev/ttyS0?baud=9600, file:///path or none://"
)
_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
_DRILLS: dict[str, PrinterStatus] = {
    "ok": PrinterStatus(True, "ok"),
    "near_end": PrinterStatus(True, "near_end"),
    "out": PrinterStatus(False, "out", "printer_no_paper"),
    "offline": PrinterStatus(False, "unknown", "printer_not_connected"),
    "cover_open": PrinterStatus(False, "unknown", "printer_cover_open"),
    "wrong_model": PrinterStatus(False, "unknown", "printer_wrong_model"),
}
_NOT_CONNECTED = PrinterStatus(False, "unknown", "printer_not_connected")
timeout_default_ms = 500
timeout_max_ms = 10_000
write_timeout_ms = 10_000  # a receipt is a few KiB; a printer that takes longer is stuck


@dataclass(frozen=True, slots=True)
class PrintResult:
    """The outcome of one print: `error` is None when the bytes went to the printer."""

    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Printer(Protocol):
    url: str

    def print(self, data: bytes) -> PrintResult: ...

    def status(self) -> PrinterStatus: ...


class _Port(Protocol):
    def write(self, data: bytes) -> None: ...

    def read(self, size: int, timeout_ms: int) -> bytes: ...

    def close(self) -> None: ...


class _SocketPort:
    def __init__(self, host: str, port: int, timeout_ms: int) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout_ms / 1000)
        self._timeout_ms = timeout_ms

    def write(self, data: bytes) -> None:
        self._sock.settimeout(write_timeout_ms / 1000)
        self._sock.sendall(data)

    def read(self, size: int, timeout_ms: int) -> bytes:
        self._sock.settimeout(timeout_ms / 1000)
        try:
            return self._sock.recv(size)
        except (TimeoutError, BlockingIOError):  # a zero timeout makes the socket non-blocking
            return b""

    def close(self) -> None:
        # Closing with unread bytes (a late status answer) makes Linux send RST and drop
        # what is still in the send queue: the end of a receipt. So send FIN and read
        # until the printer closes its side, for one status timeout at most.
        try:
            self._sock.shutdown(socket.SHUT_WR)
            while self.read(256, self._timeout_ms):
                pass
        except OSError:
            pass
        finally:
            self._sock.close()


class _FdPort:
    """A character device (usblp node or serial tty) with select-based timeouts."""

    def __init__(self, path: str, baud: int | None) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        if baud is not None:
            tty.setraw(self._fd)
            attrs = termios.tcgetattr(self._fd)
            attrs[4] = attrs[5] = getattr(termios, f"B{baud}")
            termios.tcsetattr(self._fd, termios.TCSANOW, attrs)

    def write(self, data: bytes) -> None:
        deadline = time.monotonic() + write_timeout_ms / 1000
        view = memoryview(data)
        while view:
            if not select.select([], [self._fd], [], max(0, deadline - time.monotonic()))[1]:
                raise TimeoutError("printer did not take the data in time")
            view = view[os.write(self._fd, view) :]

    def read(self, size: int, timeout_ms: int) -> bytes:
        if not select.select([self._fd], [], [], timeout_ms / 1000)[0]:
            return b""
        return os.read(self._fd, size)

    def close(self) -> None:
        os.close(self._fd)


def _ask(port: _Port, query: bytes, timeout_ms: int) -> bytes:
    while port.read(64, 0):  # drop a late answer to an earlier query
        pass
    port.write(query)
    return port.read(1, timeout_ms)


def _query(port: _Port, timeout_ms: int) -> PrinterStatus:
    printer = _ask(port, QUERY_PRINTER, timeout_ms)
    if not printer:  # do not wait twice more for a printer that is not there
        return decode_status(printer)
    cause = _ask(port, QUERY_OFFLINE_CAUSE, timeout_ms)
    return decode_status(printer, cause, _ask(port, QUERY_PAPER, timeout_ms))


class _PortPrinter:
    """A printer reached through a port opened afresh for every status or print."""

    def __init__(self, url: str, timeout_ms: int) -> None:
        self.url = url
        self._timeout_ms = timeout_ms

    def _open(self) -> _Port | PrinterStatus:
        raise NotImplementedError

    def status(self) -> PrinterStatus:
        port = self._open()
        if isinstance(port, PrinterStatus):
            return port
        try:
            return _query(port, self._timeout_ms)
        except OSError:
            return _NOT_CONNECTED
        finally:
            port.close()

    def print(self, data: bytes) -> PrintResult:
        port = self._open()
        if isinstance(port, PrinterStatus):
            return PrintResult(port.error or "printer_not_connected")
        try:
            status = _query(port, self._timeout_ms)
            if not status.ready:
                return PrintResult(status.error or "printer_not_connected")
            port.write(data)
            return PrintResult()
        except OSError:
            return PrintResult("printer_not_connected")
        finally:
            port.close()


class _TcpPrinter(_PortPrinter):
    def __init__(self, url: str, host: str, port: int, timeout_ms: int) -> None:
        super().__init__(url, timeout_ms)
        self._address = (host, port)

    def _open(self) -> _Port | PrinterStatus:
        try:
            return _SocketPort(*self._address, self._timeout_ms)
        except OSError:
            return _NOT_CONNECTED


class _DevicePrinter(_PortPrinter):
    """usb:// (found through sysfs by vendor and product id) or serial://."""

    def __init__(self, url: str, timeout_ms: int, *, path: str = "", usb_id: str = "",
                 baud: int | None = None, sys_root: str = "/sys", dev_root: str = "/dev") -> None:  # fmt: skip
        super().__init__(url, timeout_ms)
        self._path, self._usb_id, self._baud = path, usb_id, baud
        self._roots = (sys_root, dev_root)

    def _open(self) -> _Port | PrinterStatus:
        path = self._path or _usb_node(self._usb_id, *self._roots)
        if isinstance(path, PrinterStatus):
            return path
        try:
            return _FdPort(path, self._baud)
        except OSError:
            return _NOT_CONNECTED


def _usb_node(usb_id: str, sys_root: str, dev_root: str) -> str | PrinterStatus:
    """The usblp device node of the printer `usb_id` ("vvvv:pppp"), or why there is none:
    no USB printer at all is not connected; only printers of other ids is the wrong model."""
    nodes = sorted(Path(sys_root, "class", "usbmisc").glob("lp*"))
    for node in nodes:
        device = (node / "device").resolve().parent
        try:
            found = (device / "idVendor").read_text().strip() + ":"
            found += (device / "idProduct").read_text().strip()
        except OSError:
            continue
        if found.lower() == usb_id.lower():
            return str(Path(dev_root, "usb", node.name))
    return _DRILLS["wrong_model"] if nodes else _NOT_CONNECTED


class _FilePrinter:
    def __init__(self, url: str, path: Path, paper: str) -> None:
        self.url = url
        self._path = path
        self._paper = paper

    def status(self) -> PrinterStatus:
        drill = self._path.with_name(self._path.name + ".status")
        try:
            word = drill.read_text(encoding="utf-8").strip().lower()
        except FileNotFoundError:
            word = self._paper
        if word not in _DRILLS:
            raise ConfigError(f"{drill} says {word!r}; write one of {', '.join(_DRILLS)}")
        if not self._path.parent.is_dir():
            return _NOT_CONNECTED
        return _DRILLS[word]

    def print(self, data: bytes) -> PrintResult:
        status = self.status()
        if not status.ready:
            return PrintResult(status.error)
        try:
            with self._path.open("ab") as out:
                out.write(data)
        except OSError:
            return PrintResult("printer_not_connected")
        return PrintResult()


class _NullPrinter:
    def __init__(self, url: str) -> None:
        self.url = url

    def status(self) -> PrinterStatus:
        return PrinterStatus(True, "unknown")

    def print(self, data: bytes) -> PrintResult:
        return PrintResult()


def _options(url: str, query: str, allowed: set[str]) -> dict[str, str]:
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(options) - allowed
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(f"printer URL {url!r} has unknown option {min(unknown)}; known: {known}")
    return options


def _number(url: str, text: str, what: str, low: int, high: int) -> int:
    if re.fullmatch(r"[0-9]{1,6}", text) is None or not low <= int(text) <= high:
        raise ConfigError(f"printer URL {url!r}: {what} {text!r} is not {low} to {high}")
    return int(text)


def _open_file(url: str, path: str, netloc: str, query: str) -> Printer:
    paper = _options(url, query, {"paper"}).get("paper", "ok")
    if not path or netloc or paper not in ("ok", "near_end", "out"):
        raise ConfigError(f"printer URL {url!r} is not file:///path[?paper=ok|near_end|out]")
    return _FilePrinter(url, Path(unquote(path)), paper)


def _open_tcp(url: str, hostname: str | None, port: int, timeout_ms: int) -> Printer:
    if not hostname:
        raise ConfigError(f"printer URL {url!r} is not tcp://host:port, e.g. tcp://192.0.2.7:9100")
    return _TcpPrinter(url, hostname, port, timeout_ms)


def _open_serial(url: str, path: str, netloc: str, baud: int, timeout_ms: int) -> Printer:
    if netloc or not path.startswith("/dev/") or baud not in _BAUDS:
        raise ConfigError(
            f"printer URL {url!r} is not serial:///dev/ttyS0?baud=9600 "
            f"(baud one of {', '.join(map(str, _BAUDS))})"
        )
    return _DevicePrinter(url, timeout_ms, path=path, baud=baud)


def open_printer(url: str) -> Printer:
    """The printer `url` names (see the module docstring); ConfigError for a bad URL.
    Nothing is opened yet: each status and print connects on its own."""
    parts = urlsplit(url.strip())
    if parts.scheme == "none":
        return _NullPrinter(url)
    if parts.scheme == "file":
        return _open_file(url, parts.path, parts.netloc, parts.query)
    if parts.scheme not in ("tcp", "usb", "serial"):
        raise ConfigError(f"printer URL {url!r} has no known scheme; {_EXAMPLES}")
    allowed = {"timeout_ms", "baud"} if parts.scheme == "serial" else {"timeout_ms"}
    options = _options(url, parts.query, allowed)
    timeout = options.get("timeout_ms", str(timeout_default_ms))
    timeout_ms = _number(url, timeout, "timeout_ms", 1, timeout_max_ms)
    if parts.scheme == "tcp":
        try:
            port = parts.port or 9100
        except ValueError as exc:
            raise ConfigError(f"printer URL {url!r} has a bad port; e.g. tcp://host:9100") from exc
        return _open_tcp(url, parts.hostname, port, timeout_ms)
    if parts.scheme == "usb":
        if re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", parts.netloc) is None:
            raise ConfigError(
                f"printer URL {url!r} is not usb://VID:PID in hex, e.g. usb://04b8:0202"
            )
        return _DevicePrinter(url, timeout_ms, usb_id=parts.netloc)
    baud = _number(url, options.get("baud", "9600"), "baud", 1, 115200)
    return _open_serial(url, parts.path, parts.netloc, baud, timeout_ms)
