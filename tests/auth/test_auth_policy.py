"""Password rules: strength problems as data, policy bounds, age."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kassa.auth import (
    CONSOLE_POLICY,
    TERMINAL_POLICY,
    PasswordPolicy,
    check_password_strength,
    password_length_max,
    problem_text,
)
from kassa.errors import ConfigError

DAY_MS = 24 * 60 * 60 * 1000


@pytest.mark.parametrize("password", ["739155", "8461 20", "40719382", "k3x9q2"])
def test_terminal_policy_takes_six_keypad_characters(password: str) -> None:
    assert check_password_strength(password, TERMINAL_POLICY, "01") == []


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("73915", "too_short"),
        ("", "too_short"),
        ("123456", "sequence"),
        ("987654", "sequence"),
        ("qwerty", "sequence"),
        ("111111", "repeated"),
        ("121212", "repeated"),
        ("520520", "repeated"),
        ("5201314", "common"),
        ("woaini1314", "common"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16", "sequence"),  # full-width 123456 (NFKC)
    ],
)
def test_terminal_policy_refuses(password: str, problem: str) -> None:
    assert problem in check_password_strength(password, TERMINAL_POLICY, "01")


def test_short_operator_numbers_refuse_only_themselves() -> None:
    # A two-digit operator number is in half of all 6-digit passwords; only "the id" is bad.
    assert check_password_strength("901738", TERMINAL_POLICY, "01") == []
    policy = PasswordPolicy(min_length=2, require_classes=1, max_age_days=None, history=0)
    assert "contains_user_id" in check_password_strength("01", policy, "01")


@pytest.mark.parametrize(
    "password", ["Harbour-lamp-47", "tea8Kettle!moon", "七月流火 fire 2024", "lamp9harbour3x"]
)
def test_console_policy_accepts_long_mixed_passwords(password: str) -> None:
    assert check_password_strength(password, CONSOLE_POLICY, "zhangwei") == []


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("Harbour-47", ["too_short"]),
        ("483920175561", ["only_digits"]),
        ("harbourlampmoon", ["too_few_classes"]),
        ("abcdefghijklm", ["too_few_classes", "sequence"]),
        ("xZhangWei!2024", ["contains_user_id"]),
        ("tea8iewgnahz!", ["contains_user_id"]),  # the id backwards
        ("Password1234", ["common"]),
        ("kassa-2024-POS", ["common"]),
        ("ab1ab1ab1ab1", ["repeated"]),
        ("Harbour\x00lamp47", ["control_character"]),
    ],
)
def test_console_policy_problems(password: str, problems: list[str]) -> None:
    assert check_password_strength(password, CONSOLE_POLICY, "zhangwei") == problems


def test_too_long() -> None:
    long = "Harbour-lamp-" * 10 + "x"  # 131 characters, not a pure repeat
    assert len(long) > password_length_max
    assert check_password_strength(long, CONSOLE_POLICY, "zhangwei") == ["too_long"]


def test_four_classes_when_asked() -> None:
    policy = PasswordPolicy(min_length=8, require_classes=4, max_age_days=None, history=0)
    assert check_password_strength("harbour7Lamp", policy, "u1") == ["too_few_classes"]
    assert check_password_strength("harbour7Lamp!", policy, "u1") == []


@given(st.text(min_size=0, max_size=40))
def test_too_short_exactly_below_min_length(password: str) -> None:
    problems = check_password_strength(password, CONSOLE_POLICY, "zhangwei")
    short = len(unicodedata.normalize("NFKC", password)) < CONSOLE_POLICY.min_length
    assert ("too_short" in problems) == short


@pytest.mark.parametrize(
    "fields",
    [
        {"min_length": 0, "require_classes": 1, "max_age_days": 90, "history": 4},
        {"min_length": 129, "require_classes": 1, "max_age_days": 90, "history": 4},
        {"min_length": 6, "require_classes": 0, "max_age_days": 90, "history": 4},
        {"min_length": 6, "require_classes": 5, "max_age_days": 90, "history": 4},
        {"min_length": 6, "require_classes": 1, "max_age_days": 0, "history": 4},
        {"min_length": 6, "require_classes": 1, "max_age_days": 90, "history": -1},
        {"min_length": 6, "require_classes": 1, "max_age_days": 90, "history": 25},
    ],
)
def test_policy_bounds(fields: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        PasswordPolicy(**fields)


def test_defaults_follow_pci_dss() -> None:
    # PCI DSS v4: 8.3.6 twelve characters, letters and digits; 8.3.7 last four; 8.3.9 90 days.
    assert (CONSOLE_POLICY.min_length, CONSOLE_POLICY.require_classes) == (12, 2)
    assert (TERMINAL_POLICY.min_length, TERMINAL_POLICY.require_classes) == (6, 1)
    for policy in (CONSOLE_POLICY, TERMINAL_POLICY):
        assert (policy.max_age_days, policy.history) == (90, 4)


def test_expiry_at_max_age() -> None:
    set_ms = 1_700_000_000_000
    assert not TERMINAL_POLICY.expired(set_ms, set_ms + 90 * DAY_MS - 1)
    assert TERMINAL_POLICY.expired(set_ms, set_ms + 90 * DAY_MS)
    never = PasswordPolicy(min_length=6, require_classes=1, max_age_days=None, history=0)
    assert not never.expired(set_ms, set_ms + 10_000 * DAY_MS)


def test_every_problem_has_words_in_both_languages() -> None:
    codes = {"too_short", "too_long", "control_character", "only_digits", "too_few_classes",
             "contains_user_id", "repeated", "sequence", "common", "reused"}  # fmt: skip
    for code in codes:
        zh, en = problem_text(code, CONSOLE_POLICY, "zh"), problem_text(code, CONSOLE_POLICY, "en")
        assert code not in (zh, en)
        assert zh != en
    assert "12" in problem_text("too_short", CONSOLE_POLICY, "en")
    assert "6" in problem_text("too_short", TERMINAL_POLICY, "zh")
    assert problem_text("no_such_problem", CONSOLE_POLICY, "en") == "no_such_problem"
