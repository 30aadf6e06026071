"""Slips as ESC/POS bytes for Chinese receipt printers, and the printer's status bytes (pure).

`to_escpos` drives python-escpos's in-memory `Dummy` printer for the commands (ESC @ to
initialise, ESC E bold, GS ! character size, ESC d feed, GS V cut) but writes the text
bytes itself through ``_raw``. python-escpos 3.1's MagicEncode is wrong for Chinese
printers: it never sends FS & (enter Chinese mode); it takes the GB18030 path only for text
holding a character in U+4E00-U+9FA5, so a line of full-width punctuation ("：") or an em
dash goes through single-byte code pages, switching them with ESC t and printing '?' or a
CP1252 byte that a printer in Chinese mode reads as the first half of a double-byte
character, swallowing the next one. Here every text byte is GB18030 (GBK for every
character the slips use), after FS &.

Text is refused when it holds a control character other than the newline: a stray ESC or
GS in a merchant name would otherwise be a printer command. GB18030 multi-byte sequences
never contain bytes below 0x30, so encoded text cannot contain one either.

Title and amount lines print bold and double height with GS ! (which, unlike ESC !, also
enlarges the Chinese characters); double height keeps the column layout. Each copy starts
with ESC @ and ends with a feed and a partial cut (GS V 1).

`decode_status` reads the printer's answers to the real-time status queries DLE EOT 1
(printer), 2 (offline cause) and 4 (roll paper sensor) as the Epson ESC/POS reference
defines them: in each answer byte bit 1 and bit 4 are fixed on and bits 0 and 7 fixed off;
DLE EOT 1 bit 3 = offline; DLE EOT 2 bit 2 = cover open, bit 5 = stopped by paper end;
DLE EOT 4 bits 2-3 = paper near end, bits 5-6 = paper end (so 0x12 adequate, 0x1E near end,
0x72 out, 0x7E both).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from escpos.printer import Dummy

from kassa.errors import InputError
from kassa.terminal.receipt import (
    Copy,
    Lang,
    Line,
    SaleSlip,
    SettlementSlip,
    Style,
    render_lines,
)

__all__ = [
    "CHINESE_MODE",
    "QUERY_OFFLINE_CAUSE",
    "QUERY_PAPER",
    "QUERY_PRINTER",
    "Paper",
    "PrinterStatus",
    "decode_status",
    "encode_text",
    "to_escpos",
]

Paper = Literal["ok", "near_end", "out", "unknown"]

CHINESE_MODE = b"\x1c\x26"  # FS &: select Kanji (Chinese) character mode
QUERY_PRINTER = b"\x10\x04\x01"  # DLE EOT 1
QUERY_OFFLINE_CAUSE = b"\x10\x04\x02"  # DLE EOT 2
QUERY_PAPER = b"\x10\x04\x04"  # DLE EOT 4
copies_max = 2

_FIXED_MASK = 0x93  # bits 0, 1, 4, 7 ...
_FIXED_BITS = 0x12  # ... are 0, 1, 1, 0 in every real-time status byte
_OFFLINE = 0x08
_COVER_OPEN = 0x04
_PAPER_END_STOP = 0x20
_NEAR_END = 0x0C
_PAPER_END = 0x60
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer said. `error` is an operator-guide fault name (kassa.guide)."""

    online: bool
    paper: Paper
    error: str | None = None

    @property
    def ready(self) -> bool:
        """True when a receipt may be sent now."""
        return self.online and self.error is None and self.paper != "out"


def _status_byte(answer: bytes) -> int | None:
    if len(answer) == 1 and answer[0] & _FIXED_MASK == _FIXED_BITS:
        return answer[0]
    return None


def _paper(answer: bytes) -> Paper:
    value = _status_byte(answer)
    if value is None:
        return "unknown"
    if value & _PAPER_END:
        return "out"
    return "near_end" if value & _NEAR_END else "ok"


def decode_status(printer: bytes, offline_cause: bytes = b"", paper: bytes = b"") -> PrinterStatus:
    """The status from the answers to DLE EOT 1, 2 and 4 (each one byte, or empty when the
    printer did not answer in time). No answer to DLE EOT 1 is never "ok": it is offline
    with paper unknown (python-escpos reports paper adequate then). An answer that is not a
    status byte means the device does not speak ESC/POS real-time status: the wrong model."""
    if not printer:
        return PrinterStatus(False, "unknown", "printer_not_connected")
    printer_byte = _status_byte(printer)
    if printer_byte is None:
        return PrinterStatus(False, "unknown", "printer_wrong_model")
    online = not printer_byte & _OFFLINE
    paper_state = _paper(paper)
    cause = _status_byte(offline_cause) or 0
    if cause & _PAPER_END_STOP:
        paper_state = "out"
    if cause & _COVER_OPEN:
        return PrinterStatus(online, paper_state, "printer_cover_open")
    if paper_state == "out":
        return PrinterStatus(online, paper_state, "printer_no_paper")
    return PrinterStatus(online, paper_state, None if online else "printer_not_connected")


def encode_text(text: str) -> bytes:
    """`text` as the bytes a printer in Chinese mode prints: GB18030; InputError when it
    holds a control character other than newline or cannot be encoded."""
    bad = _CONTROL.search(text)
    if bad is not None:
        raise InputError(f"receipt text has control character {bad.group()!r}; remove it")
    try:
        return text.encode("gb18030")
    except UnicodeEncodeError as exc:
        raise InputError(f"receipt text has a character GB18030 cannot hold: {exc.reason}") from exc


def _set_style(printer: Any, style: Style) -> None:
    printer.set(custom_size=True, width=1, height=2 if style == "large" else 1)
    printer.set(bold=style != "normal")


def _write_copy(printer: Any, lines: Sequence[Line] | str) -> None:
    printer.hw("INIT")  # ESC @
    printer._raw(CHINESE_MODE)
    if isinstance(lines, str):
        printer._raw(encode_text(lines))
    else:
        style: Style = "normal"
        for line in lines:
            if line.style != style:
                _set_style(printer, line.style)
                style = line.style
            printer._raw(encode_text(line.text + "\n"))
        if style != "normal":
            _set_style(printer, "normal")
    printer.cut(mode="PART")  # ESC d 6 (feed past the cutter), GS V 1


def _copies_of(
    source: str | SaleSlip | SettlementSlip, width: int, lang: Lang, copies: int
) -> list[Sequence[Line] | str]:
    if isinstance(source, str):
        return [source] * copies
    if isinstance(source, SettlementSlip):
        return [render_lines(source, width, lang)] * copies
    stubs = (
        [source] if copies == 1 else [source.as_copy(c) for c in (Copy.MERCHANT, Copy.CARDHOLDER)]
    )
    return [render_lines(stub, width, lang) for stub in stubs]


def to_escpos(
    source: str | SaleSlip | SettlementSlip,
    *,
    width: int = 32,
    lang: Lang = "zh",
    copies: int | None = None,
) -> bytes:
    """The ESC/POS bytes that print `source`, each copy initialised and cut.

    A `SaleSlip` prints both stubs by default (merchant copy, then cardholder copy); with
    `copies=1` only the stub the slip names. Text and settlement slips print once by
    default, or `copies` times. Text is printed as given, without styles.
    """
    count = copies if copies is not None else (2 if isinstance(source, SaleSlip) else 1)
    if not 1 <= count <= copies_max:
        raise InputError(f"receipt copies {count} is not 1 or 2; a slip has two stubs")
    printer = Dummy()
    for lines in _copies_of(source, width, lang, count):
        _write_copy(printer, lines)
    return bytes(printer.output)
