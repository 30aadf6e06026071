"""Tests for kassa.card.tlv: strict BER-TLV for field 55 on top of pyemv."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyemv import tlv as pyemv_tlv

from kassa.card.tlv import (
    REVERSAL_TAGS,
    TAG_NAMES,
    decode_tlv,
    decode_tlv_items,
    encode_tlv,
    find_tlv,
    reversal_subset,
)
from kassa.errors import CardError

# An ARQC request F55 laid out as reference §2 lists it, values of the EMV lengths.
REQUEST_ITEMS = {
    "9F26": bytes.fromhex("1122334455667788"),
    "9F27": b"\x80",
    "9F10": bytes.fromhex("07010103A0A000010A0100000000003F7B6E2A"),
    "9F37": bytes.fromhex("CAFEBABE"),
    "9F36": b"\x00\x2a",
    "95": bytes.fromhex("0080008000"),
    "9A": bytes.fromhex("260315"),
    "9C": b"\x00",
    "9F02": bytes.fromhex("000000001250"),
    "5F2A": b"\x01\x56",
    "82": b"\x7c\x00",
    "9F1A": b"\x01\x56",
    "9F03": bytes(6),
    "9F33": bytes.fromhex("E0E1C8"),
    "9F34": bytes.fromhex("420300"),
    "9F35": b"\x22",
    "9F1E": b"12345678",
    "84": bytes.fromhex("A000000333010101"),
    "9F09": b"\x00\x30",
    "9F41": bytes.fromhex("00000123"),
    "DF31": bytes.fromhex("2000000000"),
}


def test_request_field55_matches_pyemv_encoding_and_decodes_back() -> None:
    encoded = encode_tlv(REQUEST_ITEMS)
    assert encoded == pyemv_tlv.encode(REQUEST_ITEMS)
    assert decode_tlv(encoded) == REQUEST_ITEMS
    assert list(decode_tlv(encoded)) == list(REQUEST_ITEMS), "order is kept"


def test_every_field55_tag_of_the_reference_has_a_name() -> None:
    reference_f55 = {
        *("9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C", "9F02", "5F2A", "82"),
        *("9F1A", "9F03", "9F33", "9F34", "9F35", "9F1E", "84", "9F09", "9F41", "9F63"),
        *("9F74", "8A", "91", "71", "72", "DF31"),
    }
    assert set(reference_f55) <= set(TAG_NAMES)
    assert TAG_NAMES["9F26"] == "Application Cryptogram"
    assert all(tag == tag.upper() for tag in TAG_NAMES)


def test_reversal_subset_keeps_only_the_five_tags_in_order() -> None:
    subset = decode_tlv(reversal_subset(encode_tlv(REQUEST_ITEMS)))
    assert list(subset) == ["9F10", "9F36", "95", "9F1E", "DF31"]
    assert set(subset) == set(REVERSAL_TAGS)
    assert all(subset[tag] == REQUEST_ITEMS[tag] for tag in subset)
    assert reversal_subset(b"") == b""


def test_response_with_two_scripts_keeps_repeated_commands() -> None:
    script = encode_tlv([("9F18", b"\x00\x00\x00\x01"), ("86", b"\x84\x24"), ("86", b"\x84\x1e")])
    response = encode_tlv([("91", bytes(10)), ("71", script), ("72", script)])
    assert decode_tlv(response) == {"91": bytes(10), "71": script, "72": script}
    assert decode_tlv_items(script)[1:] == [("86", b"\x84\x24"), ("86", b"\x84\x1e")]
    twice = encode_tlv([("71", script), ("71", script)])
    assert [tag for tag, _ in decode_tlv_items(twice)] == ["71", "71"]
    with pytest.raises(CardError, match="71 appears twice"):
        decode_tlv(twice)


@pytest.mark.parametrize(
    ("hex_data", "says"),
    [
        ("9F", "byte 0"),
        ("9F2608112233", "byte 2: value of 8 bytes runs past"),
        ("9C", "byte 1"),  # no length
        ("9C030101", "byte 1: value of 3 bytes runs past"),
        ("9C80", "indefinite"),
        ("9C810101", "shortest form"),
        ("9C82000101", "shortest form"),
        ("9C830000010100", "too long"),
        ("9C0101009F0201", "padding"),
        ("00", "padding"),
        ("9C01019C0102", "9C appears twice"),
        ("71039C0201", "byte 3: value of 2 bytes runs past"),  # inside a template
        ("71049C810101", "shortest form"),  # non-minimal inside a template
        ("9F808080800100", "longer than 3"),
    ],
)
def test_malformed_input_is_a_card_error_with_its_offset(hex_data: str, says: str) -> None:
    with pytest.raises(CardError, match=says) as caught:
        decode_tlv(bytes.fromhex(hex_data))
    assert "\n" not in str(caught.value)


def test_deep_nesting_is_refused() -> None:
    data = b"\x9c\x01\x01"
    for _ in range(20):
        data = b"\xe0" + bytes([len(data)]) + data
    with pytest.raises(CardError, match="nested"):
        decode_tlv(data)


def test_very_deep_nesting_does_not_escape_as_recursion_error() -> None:
    data = b""
    for _ in range(600):
        length = len(data)
        prefix = bytes([length]) if length < 0x80 else b"\x82" + length.to_bytes(2, "big")
        data = b"\xe0" + prefix + data
    with pytest.raises(CardError):
        decode_tlv(data, size_max_bytes=len(data))


def test_size_limit() -> None:
    big = encode_tlv({"9F10": bytes(260)})
    with pytest.raises(CardError, match="at most 255"):
        decode_tlv(big)
    assert decode_tlv(big, size_max_bytes=300) == {"9F10": bytes(260)}


@pytest.mark.parametrize(
    ("items", "says"),
    [
        ({"9G": b""}, "hex"),
        ({"": b""}, "hex"),
        ({"9F": b""}, "not one BER-TLV tag"),
        ({"9C01": b""}, "not one BER-TLV tag"),
        ({"00": b""}, "not one BER-TLV tag"),
        ({"9F 26": b""}, "hex"),
        ({"9C": "01"}, "must be bytes"),  # pyemv would read the str as hex
        ({"71": b"\x9c\x05"}, "runs past"),
    ],
)
def test_encode_refuses_bad_items(items: dict[str, object], says: str) -> None:
    with pytest.raises(CardError, match=says):
        encode_tlv(items)  # type: ignore[arg-type]


def test_encode_normalises_tag_case_and_uses_long_lengths() -> None:
    encoded = encode_tlv({"9f10": bytes(200)})
    assert encoded[:4] == bytes.fromhex("9F1081C8")
    assert decode_tlv(encoded, size_max_bytes=300) == {"9F10": bytes(200)}
    assert encode_tlv({"5A": bytes(300)})[:4] == bytes.fromhex("5A82012C")


def test_find_tlv_looks_inside_templates() -> None:
    record = encode_tlv({"70": encode_tlv({"5A": b"\x62\x00", "5F24": b"\x26\x12\x31"})})
    assert find_tlv(record, "5f24") == b"\x26\x12\x31"
    assert find_tlv(record, "57") is None


# Primitive tags: first byte with b6 clear; one-byte (low bits not all 1) or two-byte.
one_byte_tags = st.integers(0x01, 0xFF).filter(lambda b: not b & 0x20 and b & 0x1F != 0x1F)
two_byte_tags = st.tuples(
    st.integers(0x00, 0xFF).filter(lambda b: not b & 0x20).map(lambda b: b | 0x1F),
    st.integers(0x01, 0x7F),
)
tags = st.one_of(
    one_byte_tags.map(lambda b: f"{b:02X}"),
    two_byte_tags.map(lambda pair: f"{pair[0]:02X}{pair[1]:02X}"),
)
items = st.dictionaries(tags, st.binary(max_size=300), max_size=6)


@given(items)
def test_round_trip_and_agreement_with_pyemv(mapping: dict[str, bytes]) -> None:
    encoded = encode_tlv(mapping)
    assert encoded == pyemv_tlv.encode(mapping)
    assert decode_tlv(encoded, size_max_bytes=len(encoded)) == mapping
    assert list(decode_tlv(encoded, size_max_bytes=len(encoded))) == list(mapping)


@given(st.lists(st.tuples(tags, st.binary(max_size=20)), max_size=6), tags)
def test_constructed_values_round_trip_byte_for_byte(
    inner: list[tuple[str, bytes]], outer: str
) -> None:
    content = encode_tlv(inner)
    constructed = f"{int(outer[:2], 16) | 0x20:02X}{outer[2:]}"
    encoded = encode_tlv({constructed: content})
    assert decode_tlv(encoded, size_max_bytes=len(encoded)) == {constructed: content}
    assert encode_tlv(decode_tlv(encoded, size_max_bytes=len(encoded))) == encoded


@given(st.binary(max_size=300))
def test_junk_only_ever_raises_card_error(data: bytes) -> None:
    try:
        decoded = decode_tlv_items(data, size_max_bytes=300)
    except CardError as error:
        assert "\n" not in str(error)
        return
    assert encode_tlv(decoded) == data, "whatever is accepted is canonical"


@given(st.binary(max_size=300))
def test_reversal_subset_of_junk_only_raises_card_error(data: bytes) -> None:
    try:
        subset = reversal_subset(data)
    except CardError:
        return
    assert set(decode_tlv(subset)) <= set(REVERSAL_TAGS)
