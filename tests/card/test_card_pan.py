"""Tests for kassa.card.pan: Luhn, validation, masking and the PAN finder loggers rely on."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.card.pan import find_pans, luhn_digit, luhn_ok, mask_in_text, mask_pan, validate_pan
from kassa.errors import CardError

# Published test card numbers: Stripe's UnionPay test cards (6200000000000005,
# 6205500000000000004), Visa 4111111111111111 and 4222222222222 (13 digits), Amex
# 378282246310005 (15 digits); plus the 19-digit UnionPay debit card of the team brief.
KNOWN_PANS = [
    "6200000000000005",
    "6205500000000000004",
    "4111111111111111",
    "4222222222222",
    "378282246310005",
    "6212264000001899463",
]


def reference_luhn(digits: str) -> bool:
    """Luhn written differently from the module: double as text, sum the characters."""
    total = 0
    for index, char in enumerate(digits[::-1]):
        term = str(int(char) * (2 if index % 2 else 1))
        total += sum(int(c) for c in term)
    return total % 10 == 0


def with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if reference_luhn(body + d))


digit_text = st.text(alphabet="0123456789", min_size=1, max_size=40)
pans = st.text(alphabet="0123456789", min_size=12, max_size=18).map(with_check_digit)


@pytest.mark.parametrize("pan", KNOWN_PANS)
def test_known_pans_pass(pan: str) -> None:
    assert luhn_ok(pan)
    assert validate_pan(pan) == pan
    assert luhn_digit(pan[:-1]) == pan[-1]


@given(digit_text)
def test_luhn_ok_agrees_with_reference(digits: str) -> None:
    assert luhn_ok(digits) == reference_luhn(digits)


@given(st.text(alphabet="0123456789", max_size=30))
def test_luhn_digit_completes_a_number(partial: str) -> None:
    check = luhn_digit(partial)
    assert len(check) == 1
    assert reference_luhn(partial + check)


@given(pans, st.data())
def test_luhn_catches_every_single_digit_error(pan: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(pan) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != pan[index]]))
    assert not luhn_ok(pan[:index] + wrong + pan[index + 1 :])


@pytest.mark.parametrize("text", ["", "12a4", "１２３", "+123", "4111 1111"])
def test_luhn_ok_is_false_for_non_digits(text: str) -> None:
    assert not luhn_ok(text) or text == ""  # "" has nothing to check


def test_luhn_ok_empty_is_false() -> None:
    assert not luhn_ok("")


def test_luhn_digit_rejects_non_digits() -> None:
    with pytest.raises(CardError):
        luhn_digit("12x")


def test_validate_pan_accepts_groups_and_spaces() -> None:
    assert validate_pan(" 6212 2640 0000 1899 463\n") == "6212264000001899463"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("6212-2640-0000-1899", "digits 0-9 only"),
        ("６２００００００００００００００５", "digits 0-9 only"),
        ("422222222222", "12 digits"),
        ("62055000000000000004", "20 digits"),
        ("6200000000000006", "Luhn"),
    ],
)
def test_validate_pan_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(CardError, match=says) as caught:
        validate_pan(text)
    assert "\n" not in str(caught.value)
    assert "00000000" not in str(caught.value), "the message must not repeat the card number"


@pytest.mark.parametrize(
    ("pan", "masked"),
    [
        ("6212264000001899463", "621226*********9463"),
        ("6200000000000005", "620000******0005"),
        ("378282246310005", "37828******0005"),
        ("4222222222222", "422******2222"),
        ("1234567", "******7"),
        ("123456", "******"),
        ("", ""),
    ],
)
def test_mask_pan(pan: str, masked: str) -> None:
    assert mask_pan(pan) == masked


@given(st.text(alphabet="0123456789", max_size=25))
def test_mask_pan_never_shows_too_much(pan: str) -> None:
    masked = mask_pan(pan)
    assert len(masked) == len(pan)
    shown = [i for i, char in enumerate(masked) if char != "*"]
    assert len(shown) <= 10
    assert len(pan) - len(shown) >= min(6, len(pan)), "at least as much hidden as 6/4 on 16"
    assert all(masked[i] == pan[i] for i in shown)
    assert len(masked) - len(masked.lstrip("0123456789")) <= 6
    assert len(masked) - len(masked.rstrip("0123456789")) <= 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 6212264000001899463 declined", "card 621226*********9463 declined"),
        (
            ";6212264000001899463=26121010000012345678?",
            ";621226*********9463=********************?",
        ),
        ("6212264000001899463D26121010000012345678", "621226*********9463D" + "*" * 20),
        ("pan=6200000000000005,", "pan=620000******0005,"),
        ("stan 000123 rrn 123456789012", "stan 000123 rrn 123456789012"),
        ("4111111111111113", "4111111111111113"),  # no Luhn-valid window: not a PAN
        ("", ""),
    ],
)
def test_mask_in_text_examples(text: str, expected: str) -> None:
    assert mask_in_text(text) == expected


def test_a_long_run_with_a_luhn_valid_window_is_masked_there() -> None:
    # 16 digits, not Luhn-valid as a whole, but its last 13 digits are ("1111111111112").
    assert not reference_luhn("4111111111111112")
    assert mask_in_text("4111111111111112") == "411" + "111******1112"
    assert find_pans("4111111111111112") == ["1111111111112"]


def test_mask_in_text_finds_a_pan_glued_into_a_bcd_hex_dump() -> None:
    # F2 as a hex dump: LL prefix 19, the PAN, pad nibble 0, then F3 000000.
    dump = "0200702406C020C09A11" + "19" + "6212264000001899463" + "0" + "000000"
    masked = mask_in_text(dump)
    assert "6212264000001899463" not in masked
    assert "2640000018" not in masked
    assert masked.startswith("0200702406C020C09A11")
    assert "6212264000001899463" in find_pans(dump)


def luhn_windows(text: str) -> list[str]:
    """Every 13-19 digit window of every ASCII digit run that passes Luhn (brute force)."""
    found = []
    for run in re.findall(r"[0-9]+", text):
        for start in range(len(run)):
            for end in range(start + 13, min(start + 19, len(run)) + 1):
                if reference_luhn(run[start:end]):
                    found.append(run[start:end])
    return found


texts_with_pans = st.lists(
    st.one_of(
        pans,
        pans.map(lambda pan: f";{pan}=2612101123456?"),
        pans.map(lambda pan: f"{pan}D26121010000012345678"),
        st.text(alphabet="0123456789", max_size=30),
        st.text(max_size=10),
        st.sampled_from([" ", "=", "D", ";", "?", "\n", "F2:", "，"]),
    ),
    max_size=8,
).map("".join)


@given(texts_with_pans)
def test_no_pan_survives_masking(text: str) -> None:
    masked = mask_in_text(text)
    assert luhn_windows(masked) == []
    assert find_pans(masked) == []


@given(texts_with_pans)
def test_find_pans_sees_what_brute_force_sees(text: str) -> None:
    found = find_pans(text)
    assert set(found) <= set(luhn_windows(text))
    for run in re.findall(r"[0-9]{13,}", text):
        if luhn_windows(run):
            assert any(pan in run for pan in found)


@given(st.text(max_size=60))
def test_text_without_long_digit_runs_is_left_alone(text: str) -> None:
    if re.search(r"[0-9]{13}", text) is None:
        assert mask_in_text(text) == text


@given(pans, st.text(alphabet="abc xyz:", max_size=10), st.text(alphabet="abc xyz:", max_size=10))
def test_a_pan_between_words_is_masked_exactly(pan: str, before: str, after: str) -> None:
    assert mask_in_text(before + pan + after) == before + mask_pan(pan) + after
    assert find_pans(before + pan + after) == [pan]
