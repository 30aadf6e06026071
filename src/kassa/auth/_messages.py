"""The words of a login or password-change outcome, in Chinese and English (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kassa.guide import find

# Unknown operator and wrong password must read the same, so neither says which was wrong.
_OWN: dict[str, tuple[str, str]] = {
    "ok": ("登录成功", "Logged in"),
    "wrong_password": ("操作员号或密码错误", "Wrong operator number or password"),
    "password_temporary": (
        "首次登录，请修改密码",
        "First login with this password: change it",
    ),
    "otp_required": ("请输入动态口令", "Enter your one-time code"),
    "otp_not_enrolled": (
        "动态口令未设置，请管理员为您设置",
        "No one-time code is set up: ask an administrator to enrol one",
    ),
    "operator_disabled": ("操作员已停用，请联系主管", "Operator disabled: ask a supervisor"),
    "password_changed": ("密码已修改", "Password changed"),
    "password_rejected": (
        "新密码不符合密码规则",
        "The new password breaks the password rules",
    ),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def message(reason_code: str) -> tuple[str, str]:
    """The (zh, en) text of `reason_code`: ours, else the guide's screen text."""
    own = _OWN.get(reason_code)
    if own is not None:
        return own
    entry = find(reason_code)
    assert entry is not None, f"no text for reason {reason_code!r}"
    return entry.screen_zh, entry.screen_en


def locked_message(locked_until_ms: int, now_ms: int, utc_offset_minutes: int) -> tuple[str, str]:
    """The (zh, en) text of a locked operator, saying when the lock ends.

    Both the wall-clock time (in the shop's zone) and the minutes left, rounded up, so
    "in 1 minute" is never said of a lock that still has 61 seconds to run.
    """
    local = _EPOCH + timedelta(milliseconds=locked_until_ms, minutes=utc_offset_minutes)
    clock = local.strftime("%H:%M")
    minutes = max(1, -(-(locked_until_ms - now_ms) // 60_000))
    return (
        f"操作员已锁定，{clock} 解锁（约 {minutes} 分钟后），或请主管解锁",
        f"Operator locked until {clock} (in {minutes} min), or a supervisor unlocks it",
    )
