"""Slips as ESC/POS bytes, decoded back: commands where they belong, text in GB18030."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from escpos.printer import Dummy
from hypothesis import given
from hypothesis import strategies as st
from test_receipt import sale, settlement

from kassa.errors import InputError
from kassa.iso8583.transactions import TxnType
from kassa.terminal.escpos import decode_status, encode_text, to_escpos
from kassa.terminal.receipt import Copy, render_text

ESC, FS, GS = 0x1B, 0x1C, 0x1D
INIT = b"\x1b@"
CHINESE = b"\x1c&"
# The commands to_escpos may send, by prefix, with the number of parameter bytes.
COMMANDS = {b"\x1b@": 0, b"\x1c&": 0, b"\x1bE": 1, b"\x1d!": 1, b"\x1bd": 1, b"\x1dV": 1}


@dataclass
class Piece:
    command: bytes | None  # None: text
    data: bytes


def parse(stream: bytes) -> list[Piece]:
    """Split ESC/POS bytes into commands and text runs; unknown commands fail the test."""
    pieces: list[Piece] = []
    at = 0
    while at < len(stream):
        if stream[at] in (ESC, FS, GS, 0x10):
            prefix = stream[at : at + 2]
            assert prefix in COMMANDS, f"unexpected command {prefix!r} at byte {at}"
            end = at + 2 + COMMANDS[prefix]
            pieces.append(Piece(prefix, stream[at + 2 : end]))
            at = end
            continue
        if pieces and pieces[-1].command is None:
            pieces[-1].data += stream[at : at + 1]
        else:
            pieces.append(Piece(None, stream[at : at + 1]))
        at += 1
    return pieces


def copies_of(stream: bytes) -> list[list[Piece]]:
    """The pieces of each copy: a copy starts at ESC @."""
    out: list[list[Piece]] = []
    for piece in parse(stream):
        if piece.command == INIT:
            out.append([])
        out[-1].append(piece)
    return out


def text_of(pieces: list[Piece]) -> str:
    return b"".join(p.data for p in pieces if p.command is None).decode("gb18030")


def test_sale_prints_two_stubs_each_initialised_and_cut() -> None:
    slip = sale(TxnType.VOID, reprint=True)
    stream = to_escpos(slip)
    assert stream.startswith(INIT + CHINESE)
    assert stream.endswith(b"\x1dV\x01")  # GS V 1: partial cut, last
    merchant, cardholder = copies_of(stream)
    for pieces, copy in ((merchant, Copy.MERCHANT), (cardholder, Copy.CARDHOLDER)):
        assert pieces[0].command == INIT and pieces[1].command == CHINESE
        assert pieces[-1].command == b"\x1dV"
        assert pieces[-2].command == b"\x1bd"  # feed past the cutter before cutting
        assert text_of(pieces) == render_text(slip.as_copy(copy))


def test_one_copy_prints_the_stub_the_slip_names() -> None:
    slip = sale(copy=Copy.CARDHOLDER)
    (only,) = copies_of(to_escpos(slip, copies=1, width=48, lang="both"))
    assert text_of(only) == render_text(slip, 48, "both")


def test_title_and_amount_are_double_height_and_bold() -> None:
    pieces = copies_of(to_escpos(sale(), copies=1))[0]
    styles: dict[bytes, bytes] = {b"\x1d!": b"\x00", b"\x1bE": b"\x00"}
    seen: dict[str, dict[bytes, bytes]] = {}
    for piece in pieces:
        if piece.command is None:
            for line in piece.data.decode("gb18030").splitlines():
                seen[line.strip()] = dict(styles)
        elif piece.command in styles:
            styles[piece.command] = piece.data
    title = next(line for line in seen if "签购单" in line)
    amount = next(line for line in seen if line.startswith("金额"))
    merchant = next(line for line in seen if line.startswith("商户编号"))
    for line in (title, amount):
        assert seen[line] == {b"\x1d!": b"\x01", b"\x1bE": b"\x01"}, line
    assert seen[merchant] == {b"\x1d!": b"\x00", b"\x1bE": b"\x00"}
    assert styles == {b"\x1d!": b"\x00", b"\x1bE": b"\x00"}  # reset before the cut


def test_settlement_prints_once() -> None:
    stream = to_escpos(settlement(), width=48)
    (only,) = copies_of(stream)
    assert text_of(only) == render_text(settlement(), 48)


def test_chinese_text_is_gb18030_not_code_pages() -> None:
    text = "金额：RMB 1.00\n后台拒绝 — 请联系持卡人\n"
    (only,) = copies_of(to_escpos(text))
    assert text_of(only) == text
    assert "：—".encode("gb18030") == b"\xa3\xba\xa1\xaa"
    assert b"\xa3\xba" in to_escpos(text) and b"\xa1\xaa" in to_escpos(text)


def test_python_escpos_magic_encode_mangles_chinese_punctuation() -> None:
    """Why escpos.py writes text bytes itself. If this starts failing, python-escpos has
    changed its Chinese handling: look again."""
    printer = Dummy()
    printer.text("：—\n")
    assert b"\x1bt" in printer.output  # a single-byte code page switch
    assert b"\xa3\xba" not in printer.output  # the full-width colon is not GB18030
    assert CHINESE not in printer.output  # and it never enters Chinese mode


@pytest.mark.parametrize("text", ["SHOP\x1b@", "a\x10\x04\x01", "tab\there", "\ud800"])
def test_control_characters_and_unencodable_text_are_refused(text: str) -> None:
    with pytest.raises(InputError):
        to_escpos(text)


def test_copies_beyond_two_are_refused() -> None:
    with pytest.raises(InputError):
        to_escpos(sale(), copies=3)
    with pytest.raises(InputError):
        to_escpos("x", copies=0)


_PRINTABLE = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x85") | st.just("\n"),
    max_size=60,
)


@given(_PRINTABLE, st.integers(min_value=1, max_value=2))
def test_any_printable_text_comes_back(text: str, copies: int) -> None:
    stream = to_escpos(text, copies=copies)
    parts = copies_of(stream)
    assert len(parts) == copies
    assert all(text_of(pieces) == text for pieces in parts)
    assert encode_text(text).decode("gb18030") == text


# Real-time status bytes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("printer", "cause", "paper", "online", "paper_state", "error"),
    [
        (b"\x12", b"\x12", b"\x12", True, "ok", None),
        (b"\x16", b"\x12", b"\x12", True, "ok", None),  # drawer pin high: still fine
        (b"\x12", b"\x12", b"\x1e", True, "near_end", None),
        (b"\x1a", b"\x32", b"\x72", False, "out", "printer_no_paper"),
        (b"\x1a", b"\x32", b"\x7e", False, "out", "printer_no_paper"),
        (b"\x1a", b"\x32", b"", False, "out", "printer_no_paper"),  # stopped by paper end
        (b"\x1a", b"\x16", b"\x12", False, "ok", "printer_cover_open"),
        (b"\x1a", b"\x12", b"\x12", False, "ok", "printer_not_connected"),
        (b"\x12", b"", b"", True, "unknown", None),  # no paper sensor answer
        (b"", b"", b"", False, "unknown", "printer_not_connected"),
        (b"\x00", b"", b"", False, "unknown", "printer_wrong_model"),
        (b"\xff", b"", b"", False, "unknown", "printer_wrong_model"),
        (b"OK", b"", b"", False, "unknown", "printer_wrong_model"),
    ],
)
def test_decode_status(
    printer: bytes, cause: bytes, paper: bytes, online: bool, paper_state: str, error: str | None
) -> None:
    status = decode_status(printer, cause, paper)
    assert (status.online, status.paper, status.error) == (online, paper_state, error)
    assert status.ready == (online and error is None)
