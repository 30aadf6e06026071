"""Framing (reference §1): 2-byte binary length, 5-byte TPDU, optional 6-byte header.

`FrameBuffer` is sans-I/O: feed it bytes in any chunking, take whole frames out. It never
holds more than one bounded frame, and a length prefix out of bounds is a DecodeError
(the connection cannot be resynchronised after that: the caller closes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kassa import limits
from kassa.errors import DecodeError

LENGTH_SIZE = limits.length_prefix_size_bytes
TPDU_SIZE = limits.tpdu_size_bytes
HEADER_SIZE = limits.header_size_bytes
_HEADER_APP_CLASSES = frozenset({0x60, 0x61, 0x62, 0x63})


class HeaderMode(StrEnum):
    """Whether frames carry the 6-byte UnionPay message header."""

    PRESENT = "present"
    ABSENT = "absent"
    AUTO = "auto"  # decide per frame: a header starts 0x60-0x63, an MTI starts 0x0X


@dataclass(frozen=True, slots=True)
class Header:
    """The 6-byte message header (12 nibbles; the vendor suffix may hold hex, not BCD)."""

    raw: bytes

    DEFAULT_HEX = "603100310000"

    @classmethod
    def parse_hex(cls, text: str) -> Header:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise DecodeError(f"header {text!r} is not hex", "header") from None
        if len(raw) != HEADER_SIZE:
            raise DecodeError(f"header must be {HEADER_SIZE} bytes, got {len(raw)}", "header")
        return cls(raw)

    @property
    def app_class(self) -> str:
        return self.raw[:1].hex()

    @property
    def version(self) -> str:
        return self.raw[1:2].hex()

    @property
    def terminal_status(self) -> str:
        return self.raw.hex()[4]

    @property
    def processing(self) -> str:
        """处理要求: set by the host; `3` means sign on again (reference §1.3)."""
        return self.raw.hex()[5]

    def with_processing(self, nibble: str) -> Header:
        text = self.raw.hex()
        return Header(bytes.fromhex(text[:5] + nibble + text[6:]))

    def hex(self) -> str:
        return self.raw.hex().upper()


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame without its length prefix: TPDU, optional header, message bytes."""

    tpdu: bytes
    header: Header | None
    message: bytes

    def to_bytes(self) -> bytes:
        """The frame with its 2-byte length prefix, ready to send."""
        body = self.tpdu + (self.header.raw if self.header else b"") + self.message
        if len(body) > limits.message_size_max_bytes:
            raise DecodeError(f"frame of {len(body)} bytes exceeds the bound", "length")
        return len(body).to_bytes(LENGTH_SIZE, "big") + body

    @property
    def message_offset(self) -> int:
        """Byte offset of the MTI within the prefixed frame (for error reports)."""
        return LENGTH_SIZE + TPDU_SIZE + (HEADER_SIZE if self.header else 0)


def split_body(body: bytes, mode: HeaderMode = HeaderMode.AUTO) -> Frame:
    """Split a frame body (after the length prefix) into TPDU, header and message."""
    if len(body) < TPDU_SIZE:
        raise DecodeError(f"frame of {len(body)} bytes is shorter than a TPDU", "tpdu", 2)
    tpdu, rest = body[:TPDU_SIZE], body[TPDU_SIZE:]
    has_header = mode is HeaderMode.PRESENT or (
        mode is HeaderMode.AUTO and bool(rest) and rest[0] in _HEADER_APP_CLASSES
    )
    if not has_header:
        return Frame(tpdu, None, rest)
    if len(rest) < HEADER_SIZE:
        raise DecodeError("frame ends inside the message header", "header", 2 + TPDU_SIZE)
    return Frame(tpdu, Header(rest[:HEADER_SIZE]), rest[HEADER_SIZE:])


class FrameBuffer:
    """Accumulates bytes from a stream and yields whole frame bodies.

    Raises DecodeError for a length prefix of zero or above `max_frame_bytes`.
    """

    __slots__ = ("_buf", "_max")

    def __init__(self, max_frame_bytes: int = limits.message_size_max_bytes) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return every frame body now complete (possibly none)."""
        self._buf += data
        frames: list[bytes] = []
        while len(self._buf) >= LENGTH_SIZE:
            size = int.from_bytes(self._buf[:LENGTH_SIZE], "big")
            if size == 0 or size > self._max:
                raise DecodeError(f"length prefix {size} is outside 1..{self._max}", "length", 0)
            if len(self._buf) < LENGTH_SIZE + size:
                break
            frames.append(bytes(self._buf[LENGTH_SIZE : LENGTH_SIZE + size]))
            del self._buf[: LENGTH_SIZE + size]
        return frames

    @property
    def pending_bytes(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buf)
