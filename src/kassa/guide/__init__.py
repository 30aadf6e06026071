"""The operator guide: every host response code and local fault, in Chinese and English.

Each entry says what a code means, its likely cause, the text the terminal screen shows,
what the cashier tells the customer and what the operator does next, plus what the terminal
must do about it (sign on again, reverse, retain the card). Screens, receipts, the doctor,
reports and the console all read this one table.

    >>> from kassa.guide import lookup
    >>> lookup("51").screen_zh
    '可用余额不足'
    >>> lookup("a0").resign_on
    True

Pure data: no I/O. Unknown codes never raise; they get a generic "交易失败" entry.
"""

from __future__ import annotations

from kassa.guide._lookup import (
    as_dict,
    cause_label,
    entries,
    find,
    forces_sign_on,
    generic,
    heading,
    is_approved,
    is_known,
    lookup,
    outcome_label,
    screen_text,
    search,
    text,
)
from kassa.guide._model import Cause, GuideEntry, Kind, Lang, Outcome

__all__ = [
    "Cause",
    "GuideEntry",
    "Kind",
    "Lang",
    "Outcome",
    "as_dict",
    "cause_label",
    "entries",
    "find",
    "forces_sign_on",
    "generic",
    "heading",
    "is_approved",
    "is_known",
    "lookup",
    "outcome_label",
    "screen_text",
    "search",
    "text",
]
