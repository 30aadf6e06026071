"""Password rules as a value, and the check of a new password against them (pure).

`check_password_strength` returns the problems as data (codes such as ``too_short``), so
a terminal screen, the console form and the CLI each say them in their own words
(`problem_text`). Passwords are compared and hashed after Unicode NFKC normalisation
(NIST SP 800-63B 5.1.1.2), so a full-width "１２３" typed by an input method is "123".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from kassa.errors import ConfigError
from kassa.guide import Lang

password_length_max = 128  # bounds the hashing work one login attempt can ask for
password_history_max = 24
day_ms = 86_400_000

_SEQUENCES = (
    "01234567890123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
# The most used passwords of Chinese and English leak lists, and words of this system.
_COMMON = frozenset(
    {"woaini", "woaini1314", "5201314", "1314520", "a123456", "a123456789", "abc123",
     "abc123456", "aa123456", "qq123456", "iloveyou", "123456a", "123456abc", "123qwe",
     "1q2w3e4r", "1q2w3e4r5t", "admin123", "letmein", "welcome", "monkey", "dragon",
     "666666", "888888", "168168", "518518", "147258", "147258369", "159357"}
)  # fmt: skip
_WORDS = ("password", "passw0rd", "qwerty", "kassa", "unionpay", "yinlian", "admin")


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The rules a password must meet.

    `min_length`: characters at least. `require_classes`: how many of the four classes
    (lower-case, upper-case, digit, other) it must mix; 1 allows a digits-only keypad
    password. `max_age_days`: after this many days the password must be changed (None:
    never). `history`: how many earlier passwords (the current one aside, which is always
    refused) a new password may not repeat.
    """

    min_length: int
    require_classes: int
    max_age_days: int | None
    history: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= password_length_max:
            raise ConfigError(
                f"password min_length must be 1 to {password_length_max}, not {self.min_length}"
            )
        if not 1 <= self.require_classes <= 4:
            raise ConfigError(
                f"password require_classes must be 1 to 4, not {self.require_classes}"
            )
        if self.max_age_days is not None and self.max_age_days < 1:
            raise ConfigError(f"password max_age_days must be at least 1, not {self.max_age_days}")
        if not 0 <= self.history <= password_history_max:
            raise ConfigError(
                f"password history must be 0 to {password_history_max}, not {self.history}"
            )

    def expired(self, password_set_ms: int, now_ms: int) -> bool:
        """Whether a password set at `password_set_ms` must be changed at `now_ms`."""
        if self.max_age_days is None:
            return False
        return now_ms - password_set_ms >= self.max_age_days * day_ms


# Terminal keypads: 6 digits or more. PCI DSS v4 8.3.7 (not any of the last four) and
# 8.3.9 (change every 90 days when the password is the only factor).
TERMINAL_POLICY = PasswordPolicy(min_length=6, require_classes=1, max_age_days=90, history=4)
# Console users: PCI DSS v4 8.3.6, at least 12 characters mixing letters and digits.
CONSOLE_POLICY = PasswordPolicy(min_length=12, require_classes=2, max_age_days=90, history=4)


def normalize_password(password: str) -> str:
    """The form a password is checked and hashed in: Unicode NFKC."""
    return unicodedata.normalize("NFKC", password)


def check_password_strength(password: str, policy: PasswordPolicy, user_id: str) -> list[str]:
    """The problem codes of `password` under `policy` for operator `user_id`; [] when fine.

    Codes: ``too_short``, ``too_long``, ``control_character``, ``only_digits``,
    ``too_few_classes``, ``contains_user_id``, ``repeated`` (one character or block over
    and over), ``sequence`` (123456, abcdef, qwerty...), ``common`` (a well-known password).
    """
    text = normalize_password(password)
    problems: list[str] = []
    if len(text) < policy.min_length:
        problems.append("too_short")
    if len(text) > password_length_max:
        problems.append("too_long")
    if any(unicodedata.category(char).startswith("C") for char in text):
        problems.append("control_character")
    if _classes(text) < policy.require_classes:
        problems.append("only_digits" if text.isdigit() else "too_few_classes")
    if _contains_user_id(text, user_id):
        problems.append("contains_user_id")
    lowered = text.lower()
    if _repeated(lowered):
        problems.append("repeated")
    elif _sequence(lowered):
        problems.append("sequence")
    if lowered in _COMMON or any(word in lowered for word in _WORDS):
        problems.append("common")
    return problems


def _classes(text: str) -> int:
    lower = any(char.islower() for char in text)
    upper = any(char.isupper() for char in text)
    digit = any(char.isdigit() for char in text)
    other = any(not (char.islower() or char.isupper() or char.isdigit()) for char in text)
    return lower + upper + digit + other


def _contains_user_id(text: str, user_id: str) -> bool:
    uid = normalize_password(user_id).strip().lower()
    if not uid:
        return False
    lowered = text.lower()
    if len(uid) < 3:  # terminal operator numbers are "01".."99": only the id itself is bad
        return lowered == uid
    return uid in lowered or uid[::-1] in lowered


def _repeated(text: str) -> bool:
    size = len(text)
    return size >= 2 and any(
        size % block == 0 and text[:block] * (size // block) == text
        for block in range(1, size // 2 + 1)
    )


def _sequence(text: str) -> bool:
    if len(text) < 3:
        return False
    return any(text in run or text in run[::-1] for run in _SEQUENCES)


_PROBLEM_TEXT: dict[str, tuple[str, str]] = {
    "too_short": ("密码至少 {min} 位", "The password needs at least {min} characters"),
    "too_long": ("密码不能超过 {max} 位", "The password may have at most {max} characters"),
    "control_character": ("密码含有不能输入的控制字符", "The password has a control character"),
    "only_digits": ("密码不能全是数字", "The password cannot be digits only"),
    "too_few_classes": (
        "密码需包含 {classes} 类字符（小写字母、大写字母、数字、符号）",
        "The password must mix {classes} kinds of characters (lower, upper, digit, symbol)",
    ),
    "contains_user_id": ("密码不能包含操作员号", "The password cannot contain the operator id"),
    "repeated": ("密码不能是重复的字符", "The password cannot be one character or block repeated"),
    "sequence": ("密码不能是连续的字符", "The password cannot be a run such as 123456 or abcdef"),
    "common": ("密码过于常见，请换一个", "The password is too common, choose another"),
    "reused": (
        "新密码不能与最近使用过的密码相同",
        "The new password cannot be one of the recently used passwords",
    ),
}


def problem_text(code: str, policy: PasswordPolicy, lang: Lang) -> str:
    """The sentence for one problem code in `lang`; an unknown code is shown as itself."""
    pair = _PROBLEM_TEXT.get(code)
    if pair is None:
        return code
    template = pair[0] if lang == "zh" else pair[1]
    return template.format(
        min=policy.min_length, max=password_length_max, classes=policy.require_classes
    )
