"""The strict codec: round trips, exact wire layout, and only DecodeError on bad input."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import messages

from kassa.errors import DecodeError, EncodeError
from kassa.iso8583 import Message, codec, decode, encode
from kassa.iso8583.framing import Frame, FrameBuffer, HeaderMode, split_body

SALE = Message(
    "0200",
    {
        2: "6212264000001899463",
        3: "000000",
        4: "000000010000",
        11: "000123",
        14: "2612",
        22: "051",
        23: "001",
        25: "00",
        35: "6212264000001899463D2612101",
        41: "12345678",
        42: "123456789012345",
        49: "156",
        60: "22000001000",
        64: "3132333435363738",
    },
)


def test_wire_layout_matches_the_reference() -> None:
    wire = encode(SALE).hex().upper()
    assert wire.startswith("0200")
    # F2: LL = 1-byte BCD digit count (19), data left-aligned with a trailing 0 pad nibble.
    assert "196212264000001899463" + "0" in wire
    # F22 left-aligned (051 -> 05 10); F23 right-aligned (001 -> 00 01).
    assert "26120510" + "0001" in wire
    # F35: = as nibble D, 27 digits, padded to 14 bytes.
    assert "276212264000001899463D26121010" in wire
    # F60: LLL = 2-byte BCD (0011), 11 digits left-aligned, pad 0.
    assert "0011220000010000" in wire
    # F64 is the 8 raw bytes at the end.
    assert wire.endswith("3132333435363738")


def test_bitmap_names_exactly_the_fields_present() -> None:
    wire = encode(SALE)
    bitmap = int.from_bytes(wire[2:10], "big")
    present = {bit for bit in range(1, 65) if bitmap & (1 << (64 - bit))}
    assert present == set(SALE.fields)


@settings(max_examples=3000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_every_valid_message_round_trips_byte_for_byte(msg: Message) -> None:
    wire = encode(msg)
    again = decode(wire)
    assert again == msg
    assert encode(again) == wire


def test_encode_does_not_mutate_and_is_repeatable() -> None:
    before = dict(SALE.fields)
    assert encode(SALE) == encode(SALE)
    assert dict(SALE.fields) == before


@pytest.mark.parametrize(
    ("number", "value", "words"),
    [
        (4, "12.50", "digits only"),
        (4, "1", "exactly 12"),
        (2, "1" * 20, "at most 19"),
        (35, "6212X", "hex nibbles"),
        (52, "ABC", "hex"),
        (41, "1234567", "exactly 8"),
        (49, "人民币", "ASCII"),
        (65, "1", "2-64"),
    ],
)
def test_bad_values_are_refused_at_construction(number: int, value: str, words: str) -> None:
    with pytest.raises(EncodeError, match=words) as info:
        Message("0200", {number: value})
    assert info.value.field == str(number)


def test_unknown_mti_is_refused() -> None:
    with pytest.raises(EncodeError, match="MTI"):
        Message("0900", {})


def _corrupt_bcd(wire: bytes, offset: int) -> bytes:
    out = bytearray(wire)
    out[offset] = (out[offset] & 0x0F) | 0xA0
    return bytes(out)


def test_bad_bcd_digit_names_field_and_offset() -> None:
    wire = encode(SALE)
    offset = wire.index(bytes.fromhex("000000010000"))  # F4
    with pytest.raises(DecodeError) as info:
        decode(_corrupt_bcd(wire, offset + 2), base_offset=7)
    assert info.value.field == "4"
    assert info.value.offset == offset + 7


def test_truncated_field_names_field() -> None:
    wire = encode(SALE)
    with pytest.raises(DecodeError) as info:
        decode(wire[:-3])
    assert info.value.field == "64"
    assert info.value.offset is not None


def test_secondary_bitmap_and_unknown_mti_are_decode_errors() -> None:
    wire = bytearray(encode(SALE))
    wire[2] |= 0x80
    with pytest.raises(DecodeError, match="bit 1") as info:
        decode(bytes(wire))
    assert (info.value.field, info.value.offset) == ("bitmap", 2)
    with pytest.raises(DecodeError, match="MTI 0999"):
        decode(b"\x09\x99" + bytes(wire[2:]))


def test_extra_bytes_after_the_last_field_are_refused() -> None:
    with pytest.raises(DecodeError, match="xtra"):
        decode(encode(SALE) + b"\x00")


def _mutations(wire: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        data = bytearray(wire)
        op = rng.randrange(5)
        if op == 0 and data:  # flip bits
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == 1:  # truncate
            del data[rng.randrange(len(data) + 1) :]
        elif op == 2:  # insert junk
            pos = rng.randrange(len(data) + 1)
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and data:  # overwrite a run with 0xFF / 0x00 / random
            pos = rng.randrange(len(data))
            fill = rng.choice([b"\xff", b"\x00", rng.randbytes(1)])
            data[pos : pos + rng.randint(1, 6)] = fill * rng.randint(1, 6)
        elif len(data) >= 10:
            data[2 + rng.randrange(8)] |= 1 << rng.randrange(8)
        out.append(bytes(data))
    return out


@settings(max_examples=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(messages(max_fields=16), st.randoms(use_true_random=False))
def test_mutated_messages_raise_only_decode_error(msg: Message, rng: random.Random) -> None:
    # 2,000 generated messages x 50 mutations = 100,000 hostile inputs.
    for data in _mutations(encode(msg), rng, 50):
        try:
            decoded = decode(data)
        except DecodeError as exc:
            assert exc.field is not None or exc.offset is not None
        else:
            assert encode(decoded) == data  # whatever decodes is canonical


@settings(max_examples=300, derandomize=True)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


@settings(max_examples=300, derandomize=True)
@given(st.lists(messages(max_fields=8), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_frame_buffer_yields_whole_frames_in_any_chunking(
    msgs: list[Message], rng: random.Random
) -> None:
    tpdu = bytes.fromhex("6000030000")
    stream = b"".join(Frame(tpdu, None, encode(m)).to_bytes() for m in msgs)
    buf = FrameBuffer()
    got: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rng.randint(1, 40)
        got += buf.feed(stream[pos : pos + step])
        pos += step
    assert [decode(split_body(b, HeaderMode.ABSENT).message) for b in got] == msgs
    assert buf.pending_bytes == 0


def test_frame_buffer_refuses_oversized_and_empty_frames() -> None:
    with pytest.raises(DecodeError, match="length prefix"):
        FrameBuffer(max_frame_bytes=100).feed(b"\x00\x65" + b"x" * 10)
    with pytest.raises(DecodeError, match="length prefix 0"):
        FrameBuffer().feed(b"\x00\x00")


def test_header_is_detected_or_configured() -> None:
    body = bytes.fromhex("6000030000") + bytes.fromhex("603100310000") + encode(SALE)
    frame = split_body(body, HeaderMode.AUTO)
    assert frame.header is not None and frame.header.processing == "0"
    assert decode(frame.message) == SALE
    bare = split_body(bytes.fromhex("6000030000") + encode(SALE), HeaderMode.AUTO)
    assert bare.header is None and decode(bare.message) == SALE
    with pytest.raises(DecodeError, match="header"):
        split_body(bytes.fromhex("6000030000") + b"\x60\x31", HeaderMode.PRESENT)


@settings(max_examples=1500, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_the_stored_form_cut_from_the_wire_is_the_encoding_without_pan_and_mac(
    msg: Message,
) -> None:
    wire = encode(msg)
    assert codec.without_pan_and_mac(wire) == encode(msg.without(2, 64))
    slot = codec.encode_with_mac_slot(msg)
    assert slot == encode(msg.with_fields(f64="00" * 8))
    assert codec.without_pan_and_mac(slot) == encode(msg.without(2, 64))


def test_from_checked_keeps_the_values_in_field_order_and_checks_the_mti() -> None:
    fields = {39: "00", 11: "000123", 3: "000000"}
    built = Message.from_checked("0210", fields)
    assert built == Message("0210", fields)
    assert list(built.fields) == [3, 11, 39]
    with pytest.raises(EncodeError, match="MTI"):
        Message.from_checked("0299", fields)
