"""Printers by URL against real loopback sockets, pseudo-terminals and files.

The fake printers answer the ESC/POS real-time status queries DLE EOT 1/2/4 with the bytes
the Epson reference gives (fixed bits 0x12; DLE EOT 1 bit 3 offline; DLE EOT 2 bit 2 cover
open, bit 5 stopped by paper end; DLE EOT 4 bits 2-3 near end, bits 5-6 paper end), or
never answer at all.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
from escpos.printer import Dummy

from kassa.errors import ConfigError
from kassa.terminal.printer import PrinterStatus, PrintResult, open_printer

HEALTHY = {1: b"\x12", 2: b"\x12", 4: b"\x12"}
PAPER_OUT = {1: b"\x1a", 2: b"\x32", 4: b"\x72"}  # offline, stopped by paper end, paper end
NEAR_END = {1: b"\x12", 2: b"\x12", 4: b"\x1e"}
COVER_OPEN = {1: b"\x1a", 2: b"\x16", 4: b"\x12"}
NOT_ESCPOS = {1: b"?", 2: b"?", 4: b"?"}
RECEIPT = "签购单 RMB 128.00\n".encode("gb18030") + b"\x1dV\x01"
WAIT_S = 3.0


class Responder:
    """The printer's side of the wire: answers DLE EOT n, keeps every other byte."""

    def __init__(self, answers: dict[int, bytes] | None) -> None:
        self.answers = answers  # None: never answers
        self.received = bytearray()
        self.queries: list[int] = []
        self._pending = b""
        self.lock = threading.Lock()

    def feed(self, chunk: bytes) -> bytes:
        reply = b""
        data = self._pending + chunk
        with self.lock:
            while (at := data.find(b"\x10\x04")) >= 0 and len(data) >= at + 3:
                self.received += data[:at]
                self.queries.append(data[at + 2])
                if self.answers is not None:
                    reply += self.answers.get(data[at + 2], b"")
                data = data[at + 3 :]
            keep = 2 if data.endswith(b"\x10\x04") else 1 if data.endswith(b"\x10") else 0
            self.received += data[: len(data) - keep]
            self._pending = data[len(data) - keep :]
        return reply

    def wait_for(self, size: int) -> bytes:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= size:
                    return bytes(self.received)
            time.sleep(0.01)
        return bytes(self.received)


class TcpPrinter:
    """A loopback server on an ephemeral port that plays a network printer."""

    def __init__(self, answers: dict[int, bytes] | None) -> None:
        self.responder = Responder(answers)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.05)
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return
            reply = self.responder.feed(chunk)
            if reply:
                conn.sendall(reply)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(WAIT_S)
        self.server.close()


@pytest.fixture
def tcp_printer() -> Iterator[type[TcpPrinter]]:
    started: list[TcpPrinter] = []

    class Started(TcpPrinter):
        def __init__(self, answers: dict[int, bytes] | None) -> None:
            super().__init__(answers)
            started.append(self)

    yield Started
    for printer in started:
        printer.close()


def url_of(fake: TcpPrinter, timeout_ms: int = 300) -> str:
    return f"tcp://127.0.0.1:{fake.port}?timeout_ms={timeout_ms}"


def test_tcp_paper_out(tcp_printer: type[TcpPrinter]) -> None:
    fake = tcp_printer(PAPER_OUT)
    printer = open_printer(url_of(fake))
    assert printer.status() == PrinterStatus(False, "out", "printer_no_paper")
    assert printer.print(RECEIPT) == PrintResult("printer_no_paper")
    # Nothing but status queries reached the printer: no receipt waits in its buffer to
    # come out after the roll is changed and then again from the queue.
    assert fake.responder.wait_for(0) == b""
    assert set(fake.responder.queries) == {1, 2, 4}


def test_tcp_healthy_printer_gets_the_bytes(tcp_printer: type[TcpPrinter]) -> None:
    fake = tcp_printer(HEALTHY)
    printer = open_printer(url_of(fake))
    assert printer.status() == PrinterStatus(True, "ok", None)
    assert printer.print(RECEIPT).ok
    assert printer.print(RECEIPT).ok
    assert fake.responder.wait_for(2 * len(RECEIPT)) == RECEIPT * 2


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (NEAR_END, PrinterStatus(True, "near_end", None)),
        (COVER_OPEN, PrinterStatus(False, "ok", "printer_cover_open")),
        (NOT_ESCPOS, PrinterStatus(False, "unknown", "printer_wrong_model")),
    ],
)
def test_tcp_status_states(
    tcp_printer: type[TcpPrinter], answers: dict[int, bytes], expected: PrinterStatus
) -> None:
    assert open_printer(url_of(tcp_printer(answers))).status() == expected


def test_tcp_printer_that_never_answers_is_offline_not_ok(tcp_printer: type[TcpPrinter]) -> None:
    fake = tcp_printer(None)
    printer = open_printer(url_of(fake, timeout_ms=200))
    began = time.monotonic()
    status = printer.status()
    assert status == PrinterStatus(False, "unknown", "printer_not_connected")
    assert not status.ready
    assert time.monotonic() - began < 2  # one timeout, not one per query
    assert printer.print(RECEIPT) == PrintResult("printer_not_connected")
    time.sleep(0.1)
    assert fake.responder.received == b""  # the receipt was not sent


def test_tcp_nobody_listening() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    printer = open_printer(f"tcp://127.0.0.1:{port}?timeout_ms=200")
    assert printer.status().error == "printer_not_connected"
    assert printer.print(RECEIPT).error == "printer_not_connected"


def test_python_escpos_calls_a_silent_printer_paper_adequate() -> None:
    """Why printer.py asks for the status itself: with a read that times out empty (as a
    serial port does), python-escpos says the paper is adequate (2)."""

    class SilentDummy(Dummy):  # type: ignore[misc]
        def _read(self) -> bytes:
            return b""

    assert SilentDummy().paper_status() == 2


# Serial and USB through a pseudo-terminal --------------------------------------------


class PtyPrinter:
    """A pseudo-terminal whose master side plays the printer."""

    def __init__(self, answers: dict[int, bytes] | None) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # a printer's device node neither echoes nor buffers lines
        self.path = os.ttyname(self.slave)
        self.responder = Responder(answers)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            reply = self.responder.feed(chunk)
            if reply:
                os.write(self.master, reply)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(WAIT_S)
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def pty_printer() -> Iterator[type[PtyPrinter]]:
    started: list[PtyPrinter] = []

    class Started(PtyPrinter):
        def __init__(self, answers: dict[int, bytes] | None) -> None:
            super().__init__(answers)
            started.append(self)

    yield Started
    for printer in started:
        printer.close()


def test_serial_printer_status_and_print(pty_printer: type[PtyPrinter]) -> None:
    fake = pty_printer(NEAR_END)
    printer = open_printer(f"serial://{fake.path}?baud=19200&timeout_ms=300")
    assert printer.status() == PrinterStatus(True, "near_end", None)
    assert printer.print(RECEIPT).ok
    assert fake.responder.wait_for(len(RECEIPT)) == RECEIPT


def test_serial_printer_silent(pty_printer: type[PtyPrinter]) -> None:
    fake = pty_printer(None)
    printer = open_printer(f"serial://{fake.path}?timeout_ms=150")
    assert printer.status() == PrinterStatus(False, "unknown", "printer_not_connected")


def _fake_usb(root: Path, name: str, usb_id: str, device: Path | None) -> None:
    """A sysfs usblp entry (class/usbmisc/lpN -> interface of a device with idVendor and
    idProduct) and its /dev/usb/lpN node, pointing at `device` when given."""
    vendor, product = usb_id.split(":")
    interface = root / "sys" / "devices" / "usb1" / f"1-{name}" / f"1-{name}:1.0"
    interface.mkdir(parents=True)
    (interface.parent / "idVendor").write_text(vendor + "\n")
    (interface.parent / "idProduct").write_text(product + "\n")
    entry = root / "sys" / "class" / "usbmisc" / name
    entry.mkdir(parents=True)
    (entry / "device").symlink_to(interface)
    if device is not None:
        (root / "dev" / "usb").mkdir(parents=True, exist_ok=True)
        (root / "dev" / "usb" / name).symlink_to(device)


def _usb(root: Path, usb_id: str) -> object:
    from kassa.terminal.printer import _DevicePrinter

    sys_root, dev_root = str(root / "sys"), str(root / "dev")
    return _DevicePrinter(f"usb://{usb_id}", 300, usb_id=usb_id, sys_root=sys_root,
                          dev_root=dev_root)  # fmt: skip


def test_usb_printer_found_by_vendor_and_product(
    tmp_path: Path, pty_printer: type[PtyPrinter]
) -> None:
    fake = pty_printer(PAPER_OUT)
    _fake_usb(tmp_path, "lp0", "0416:5011", None)
    _fake_usb(tmp_path, "lp1", "04b8:0202", Path(fake.path))
    printer = _usb(tmp_path, "04B8:0202")
    assert printer.status() == PrinterStatus(False, "out", "printer_no_paper")  # type: ignore[attr-defined]


def test_usb_other_printer_is_wrong_model_and_none_is_not_connected(tmp_path: Path) -> None:
    assert _usb(tmp_path, "04b8:0202").status().error == "printer_not_connected"  # type: ignore[attr-defined]
    _fake_usb(tmp_path, "lp0", "0416:5011", None)
    assert _usb(tmp_path, "04b8:0202").status().error == "printer_wrong_model"  # type: ignore[attr-defined]
    assert open_printer("usb://04b8:0202").status().error in (
        "printer_not_connected",
        "printer_wrong_model",
    )


# File printer and its drills ---------------------------------------------------------


def test_file_printer_appends(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    printer = open_printer(f"file://{out}")
    assert printer.status() == PrinterStatus(True, "ok", None)
    assert printer.print(b"one").ok and printer.print(b"two").ok
    assert out.read_bytes() == b"onetwo"


@pytest.mark.parametrize(
    ("word", "error"),
    [
        ("out", "printer_no_paper"),
        ("offline", "printer_not_connected"),
        ("cover_open", "printer_cover_open"),
        ("wrong_model", "printer_wrong_model"),
    ],
)
def test_file_printer_status_drill(tmp_path: Path, word: str, error: str) -> None:
    out = tmp_path / "out.bin"
    printer = open_printer(f"file://{out}")
    drill = tmp_path / "out.bin.status"
    drill.write_text(f"{word.upper()}\n")
    assert printer.status().error == error
    assert printer.print(b"slip") == PrintResult(error)
    assert not out.exists()
    drill.write_text("near_end")
    assert printer.status() == PrinterStatus(True, "near_end", None)
    drill.unlink()
    assert printer.print(b"slip").ok
    assert out.read_bytes() == b"slip"


def test_file_printer_paper_option_and_bad_drill(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    assert open_printer(f"file://{out}?paper=out").status().paper == "out"
    assert open_printer(f"file://{out}?paper=near_end").print(b"x").ok
    (tmp_path / "out.bin.status").write_text("jammed")
    with pytest.raises(ConfigError, match="ok, near_end, out"):
        open_printer(f"file://{out}").status()
    missing = tmp_path / "no" / "such" / "out.bin"
    assert open_printer(f"file://{missing}").print(b"x").error == "printer_not_connected"


def test_none_printer_swallows_everything() -> None:
    printer = open_printer("none://")
    assert printer.print(b"anything").ok
    assert printer.status().ready


@pytest.mark.parametrize(
    "url",
    [
        "lpt://1",
        "printer",
        "",
        "tcp://",
        "tcp://host:99999",
        "tcp://host:9100?timeout_ms=0",
        "tcp://host:9100?timeout_ms=abc",
        "tcp://host:9100?speed=1",
        "usb://04b8",
        "usb://epson:tm88",
        "serial://",
        "serial:///dev/ttyS0?baud=1234",
        "serial:///tmp/ttyS0",
        "file://",
        "file:///tmp/out.bin?paper=low",
        "file://host/tmp/out.bin",
    ],
)
def test_bad_urls_say_what_to_write(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_printer(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "e.g." in message or "use " in message or "is not" in message or "known" in message
