"""Card data that must never rest anywhere: scans database files and logs.

Every byte of every SQLite file (main file, WAL and shared memory) and every log line is
searched for the simulator's card numbers in the clear (ASCII digits or packed BCD), for
any Luhn-valid digit run (`kassa.card.find_pans`) that starts with one of their BINs,
for a track 2 (a Luhn-valid PAN, separator, expiry, service code), and for each test PIN as a clear ISO format-0
PIN field or clear PIN block (raw bytes or hex text).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from kassa.card import find_pans, luhn_ok
from kassa.iso8583.pinblock import pin_block
from kassa.logs import JsonFormatter
from kassa.sim.reference import CARDS

_PAN_DIGITS_MIN = 13
_DIGIT_MASK = bytes(0x31 if 0x30 <= i <= 0x39 else 0x30 for i in range(256))  # digit: "1"
# After the PAN: separator, expiry YYMM (a real month), service code.
_TRACK2_TAIL = re.compile(rb"[=D][0-9]{2}(0[1-9]|1[0-2])[0-9]{3}")
_BINS_TEXT = frozenset(card.pan[:6] for card in CARDS)
_BINS = frozenset(b.encode() for b in _BINS_TEXT)


def _needles() -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for card in CARDS:
        masked = f"{card.pan[:6]}…{card.pan[-4:]}"
        found[card.pan.encode()] = f"clear PAN {masked}"
        found[bytes.fromhex(card.pan[: len(card.pan) // 2 * 2])] = f"BCD PAN {masked}"
        field = f"0{len(card.pin)}{card.pin}".ljust(16, "F")
        block = pin_block(card.pin, card.pan, 0)
        for what, raw in (("PIN field", bytes.fromhex(field)), ("clear PIN block", block)):
            found[raw] = f"{what} of {masked}"
            found[raw.hex().upper().encode()] = f"{what} of {masked} (hex)"
            found[raw.hex().encode()] = f"{what} of {masked} (hex)"
    return found


_NEEDLES = _needles()


def _digit_runs(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of every run of 13 or more ASCII digits, found with C-speed searches."""
    mask = data.translate(_DIGIT_MASK)
    least = b"1" * _PAN_DIGITS_MIN
    start = mask.find(least)
    while start != -1:
        end = mask.find(b"0", start)
        end = len(data) if end == -1 else end
        yield start, end
        start = mask.find(least, end)


def scan_bytes(data: bytes, where: str) -> list[str]:
    """What sensitive card data `data` holds, one line per kind found."""
    kinds = {what for needle, what in _NEEDLES.items() if needle in data}
    track2 = False
    ours: set[str] = set()
    for start, end in _digit_runs(data):
        run = data[start:end]
        if not track2 and _TRACK2_TAIL.match(data, end) is not None:
            track2 = any(luhn_ok(run[-n:].decode()) for n in range(13, min(len(run), 19) + 1))
        if any(b in run for b in _BINS):  # find_pans is quadratic in the run: only ours
            ours |= {p[:6] + "…" + p[-4:] for p in find_pans(run.decode()) if p[:6] in _BINS_TEXT}
    problems = [f"{where}: {what}" for what in sorted(kinds)]
    if track2:
        problems.append(f"{where}: track 2 data")
    return problems + [f"{where}: Luhn-valid card number {p}" for p in sorted(ours)]


def scan_databases(paths: Iterable[Path]) -> list[str]:
    problems: list[str] = []
    for path in paths:
        for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if part.exists():
                problems += scan_bytes(part.read_bytes(), part.name)
    return problems


class LogCapture(logging.Handler):
    """Keeps every `kassa` log line as the JSON log file would get it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self._logger = logging.getLogger("kassa")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def __enter__(self) -> LogCapture:
        self._logger.addHandler(self)  # at the level the program runs with: warnings up
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)

    def scan(self) -> list[str]:
        return scan_bytes("\n".join(self.lines).encode(), "log")
