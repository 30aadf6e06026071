"""Finding entries: by code, by words, and rendering one as text."""

from __future__ import annotations

from kassa.errors import InputError
from kassa.guide._codes import RESPONSE_CODES
from kassa.guide._faults import FAULTS
from kassa.guide._model import (
    CAUSE_LABELS,
    OUTCOME_LABELS,
    Cause,
    GuideEntry,
    Lang,
    Outcome,
    make,
)

_ALL: tuple[GuideEntry, ...] = RESPONSE_CODES + FAULTS
_BY_CODE: dict[str, GuideEntry] = {entry.code: entry for entry in _ALL}
# Two tables sharing one name would make lookup ambiguous; catch it at import.
assert len(_BY_CODE) == len(_ALL), "duplicate code in the guide tables"

_TEXT_SLOTS = ("meaning", "screen", "cashier", "action")


def entries() -> tuple[GuideEntry, ...]:
    """Every entry: the response codes in table order, then the local faults."""
    return _ALL


def _response_key(code: str) -> str:
    return "".join(code.split()).upper()


def _fault_key(code: str) -> str:
    return "_".join(code.strip().lower().replace("-", " ").split())


def find(code: str) -> GuideEntry | None:
    """The entry for a response code ("51", "a0") or fault name ("host_unreachable"), or None.

    Case and surrounding spaces do not matter; a fault name may use spaces or hyphens.
    """
    return _BY_CODE.get(_response_key(code)) or _BY_CODE.get(_fault_key(code))


def lookup(code: str) -> GuideEntry:
    """The entry for `code`; an unknown code gets the generic "transaction failed" entry.

    Never raises: a host may send proprietary codes, and the screen must still say something.
    """
    return find(code) or generic(code)


def generic(code: str) -> GuideEntry:
    """The entry shown for a code the guide does not know, with that code filled in."""
    response_code = _response_key(code)
    is_response = len(response_code) <= 2
    shown = response_code if is_response else _fault_key(code)
    return make(
        "response" if is_response else "fault",
        shown,
        Outcome.DO_NOT_RETRY,
        Cause.THIRD_PARTY if is_response else Cause.SOFTWARE,
        meaning=(
            f"交易失败（代码 {shown} 不在指南中）",
            f"Transaction failed (code {shown} unknown)",
        ),
        screen=("交易失败", "Transaction failed"),
        cashier=(
            "交易未成功，请稍后再试或改用其他方式付款",
            "The payment did not go through; please try later or pay another way",
        ),
        action=(
            f"记下代码 {shown}、时间和凭证号，先查流水确认未扣款，再联系收单机构查询",
            f"Note code {shown}, the time and trace number, check the journal that nothing "
            "was charged, then ask the acquirer",
        ),
    )


def is_known(code: str) -> bool:
    """True when the guide has an entry of its own for `code`."""
    return find(code) is not None


def is_approved(code: str) -> bool:
    """True when `code` means the transaction went through (class A)."""
    return lookup(code).approved


def forces_sign_on(code: str) -> bool:
    """True when `code` obliges the terminal to sign on again before the next transaction."""
    return lookup(code).resign_on


def screen_text(code: str, lang: Lang = "zh") -> str:
    """The short text the terminal screen shows for `code`."""
    return lookup(code).pick("screen", _checked(lang))


def _checked(lang: str) -> Lang:
    if lang == "zh":
        return "zh"
    if lang == "en":
        return "en"
    raise InputError(f"language {lang!r} is not supported; use zh or en")


def _haystacks(entry: GuideEntry) -> tuple[str, str]:
    """(headline, everything): the texts search looks in, case-folded."""
    headline = " ".join(
        entry.pick(slot, lang) for slot in ("meaning", "screen") for lang in ("zh", "en")
    )
    rest = " ".join(entry.pick(slot, lang) for slot in _TEXT_SLOTS for lang in ("zh", "en"))
    labels = " ".join((*CAUSE_LABELS[entry.cause], *OUTCOME_LABELS[entry.outcome]))
    return headline.casefold(), f"{rest} {labels} {entry.cause} {entry.outcome}".casefold()


def _rank(entry: GuideEntry, query: str, terms: list[str]) -> int | None:
    code = entry.code.casefold()
    if code in (_response_key(query).casefold(), _fault_key(query)):
        return 0
    name = f"{code} {code.replace('_', ' ')}"
    if all(term in name for term in terms):
        return 1
    headline, everything = _haystacks(entry)
    if all(term in headline for term in terms):
        return 2
    if all(term in everything or term in name for term in terms):
        return 3
    return None


def search(words: str) -> list[GuideEntry]:
    """Entries matching every word of `words` in their code, name or any zh/en text.

    Ranked: exact code first, then code or name matches, then matches in the meaning or
    screen text, then matches anywhere else; table order breaks ties. Empty words match
    nothing.
    """
    query = words.strip().casefold()
    terms = query.split()
    if not terms:
        return []
    ranked: list[tuple[int, int, GuideEntry]] = []
    for position, entry in enumerate(_ALL):
        rank = _rank(entry, query, terms)
        if rank is not None:
            ranked.append((rank, position, entry))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in ranked]


_HEADINGS: dict[str, tuple[str, str]] = {
    "meaning": ("含义", "Meaning"),
    "screen": ("屏幕显示", "Screen"),
    "cause": ("可能原因", "Likely cause"),
    "outcome": ("结果类别", "Outcome"),
    "cashier": ("告诉顾客", "Tell the customer"),
    "action": ("下一步", "Next step"),
}

_FLAGS: dict[str, tuple[str, str]] = {
    "resign_on": ("需要重新签到", "Sign on again"),
    "reverse": ("终端须冲正", "The terminal must reverse"),
    "retain_card": ("没收卡片", "Retain the card"),
}


def heading(part: str, lang: Lang) -> str:
    """The label of one part of an entry ("meaning", "cause", "resign_on"...) in `lang`."""
    pair = _HEADINGS.get(part) or _FLAGS[part]
    return pair[0] if lang == "zh" else pair[1]


def cause_label(cause: Cause, lang: Lang) -> str:
    """The name of a cause in `lang`."""
    return CAUSE_LABELS[cause][0 if _checked(lang) == "zh" else 1]


def outcome_label(outcome: Outcome, lang: Lang) -> str:
    """The name of an outcome class, letter first, in `lang`."""
    return OUTCOME_LABELS[outcome][0 if _checked(lang) == "zh" else 1]


def text(entry: GuideEntry, lang: Lang) -> str:
    """The whole entry as plain lines in one language (for logs, reports, evidence)."""
    lang = _checked(lang)
    colon = "：" if lang == "zh" else ": "
    lines = [f"{entry.code} {entry.pick('screen', lang)}"]
    for part in _HEADINGS:
        if part == "cause":
            value = cause_label(entry.cause, lang)
        elif part == "outcome":
            value = outcome_label(entry.outcome, lang)
        else:
            value = entry.pick(part, lang)
        lines.append(f"{heading(part, lang)}{colon}{value}")
    flags = [heading(flag, lang) for flag in _FLAGS if getattr(entry, flag)]
    if flags:
        lines.append(("；" if lang == "zh" else "; ").join(flags))
    return "\n".join(lines)


def as_dict(entry: GuideEntry) -> dict[str, str | bool]:
    """The entry as plain JSON-ready values, with `approved` and `known` added."""
    return {
        "code": entry.code,
        "kind": entry.kind,
        "known": _BY_CODE.get(entry.code) == entry,
        "approved": entry.approved,
        "outcome": str(entry.outcome),
        "outcome_class": entry.outcome.letter,
        "cause": str(entry.cause),
        **{
            f"{slot}_{lang}": entry.pick(slot, lang)
            for slot in _TEXT_SLOTS
            for lang in ("zh", "en")
        },
        "resign_on": entry.resign_on,
        "reverse": entry.reverse,
        "retain_card": entry.retain_card,
    }
