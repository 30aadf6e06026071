"""The shape of one operator-guide entry: what a code means and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Kind = Literal["response", "fault"]
Lang = Literal["zh", "en"]
Pair = tuple[str, str]  # (Chinese, English)


class Cause(StrEnum):
    """The likely cause of a code, as the operator guides group them.

    `NONE` is for approvals: nothing went wrong, so nothing caused it.
    """

    HARDWARE = "hardware"
    SOFTWARE = "software"
    NETWORK = "network"
    INPUT = "input"
    SECURITY = "security"
    HOST_MAINTENANCE = "host_maintenance"
    THIRD_PARTY = "third_party"
    NONE = "none"


class Outcome(StrEnum):
    """The result classes A-E of the UnionPay terminal tables (reference §5)."""

    APPROVED = "approved"  # A 交易成功
    RETRY = "retry"  # B 交易失败可重试
    DO_NOT_RETRY = "do_not_retry"  # C 交易失败不需要重试
    OPERATOR_ACTION = "operator_action"  # D 交易失败终端操作员处理
    SYSTEM_FAULT = "system_fault"  # E 交易失败系统故障不需要重试

    @property
    def letter(self) -> str:
        """The class letter A-E used by the terminal tables."""
        return _OUTCOME_LETTERS[self]


_OUTCOME_LETTERS: dict[Outcome, str] = {
    Outcome.APPROVED: "A",
    Outcome.RETRY: "B",
    Outcome.DO_NOT_RETRY: "C",
    Outcome.OPERATOR_ACTION: "D",
    Outcome.SYSTEM_FAULT: "E",
}

CAUSE_LABELS: dict[Cause, Pair] = {
    Cause.HARDWARE: ("硬件故障", "Hardware"),
    Cause.SOFTWARE: ("软件或参数", "Software"),
    Cause.NETWORK: ("网络", "Network"),
    Cause.INPUT: ("输入错误", "Input error"),
    Cause.SECURITY: ("安全设置或风控", "Security setting or fraud control"),
    Cause.HOST_MAINTENANCE: ("主机维护", "Host maintenance"),
    Cause.THIRD_PARTY: ("第三方（发卡行或银联）", "Third party (issuer or card network)"),
    Cause.NONE: ("无（交易成功）", "None (approved)"),
}

OUTCOME_LABELS: dict[Outcome, Pair] = {
    Outcome.APPROVED: ("A 交易成功", "A approved"),
    Outcome.RETRY: ("B 交易失败，可重试", "B failed, may retry"),
    Outcome.DO_NOT_RETRY: ("C 交易失败，不要重试", "C failed, do not retry"),
    Outcome.OPERATOR_ACTION: ("D 交易失败，需操作员处理", "D failed, operator must act"),
    Outcome.SYSTEM_FAULT: ("E 系统故障，不要重试", "E system fault, do not retry"),
}


@dataclass(frozen=True, slots=True)
class GuideEntry:
    """One host response code (kind "response") or local fault (kind "fault").

    `screen_*` is the short text the terminal screen shows; `cashier_*` what the cashier
    tells the customer; `action_*` what the operator does next. `resign_on`: the terminal
    must sign on again before the next transaction. `reverse`: the transaction's outcome
    is unknown or cannot be completed, so the terminal must send a reversal. `retain_card`:
    the issuer asks the merchant to keep the card.
    """

    code: str
    kind: Kind
    meaning_zh: str
    meaning_en: str
    screen_zh: str
    screen_en: str
    cause: Cause
    outcome: Outcome
    cashier_zh: str
    cashier_en: str
    action_zh: str
    action_en: str
    resign_on: bool = False
    reverse: bool = False
    retain_card: bool = False

    def __post_init__(self) -> None:
        assert self.kind in ("response", "fault"), self.kind
        # An approval never needs a reversal or a retained card; a table that says so is a bug.
        assert not (self.approved and (self.reverse or self.retain_card)), self.code

    @property
    def approved(self) -> bool:
        """True when the transaction went through (class A)."""
        return self.outcome is Outcome.APPROVED

    def pick(self, slot: str, lang: Lang) -> str:
        """The text of one slot ("meaning", "screen", "cashier", "action") in one language."""
        value = getattr(self, f"{slot}_{lang}")
        assert isinstance(value, str), slot
        return value


def make(
    kind: Kind,
    code: str,
    outcome: Outcome,
    cause: Cause,
    *,
    meaning: Pair,
    screen: Pair,
    cashier: Pair,
    action: Pair,
    resign_on: bool = False,
    reverse: bool = False,
    retain_card: bool = False,
) -> GuideEntry:
    """Build an entry from (zh, en) pairs: the row format of the data tables."""
    return GuideEntry(
        code=code,
        kind=kind,
        meaning_zh=meaning[0],
        meaning_en=meaning[1],
        screen_zh=screen[0],
        screen_en=screen[1],
        cause=cause,
        outcome=outcome,
        cashier_zh=cashier[0],
        cashier_en=cashier[1],
        action_zh=action[0],
        action_en=action[1],
        resign_on=resign_on,
        reverse=reverse,
        retain_card=retain_card,
    )
