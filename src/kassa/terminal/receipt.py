"""The sales slip (签购单) and the settlement slip, as values and as plain text (pure).

`SaleSlip` holds what a UnionPay slip prints. Its card number is a `MaskedPan`, a type that
refuses a clear PAN, so no code path can put one on paper (PCI DSS v4 3.4.1); the expiry
date is never carried, only printed as ``**/**``. Voids and refunds print their amount
negative, as Chinese slips do.

`render_lines` lays a slip out for a paper width and tags each line with a print style;
`render_text` joins the lines. Widths are display widths: a character that is wide or
ambiguous in East Asian text (``unicodedata.east_asian_width`` W, F or A) takes two columns,
because a printer in Chinese mode prints every double-byte GBK character two columns wide
(an em dash included). Every fixed text here is GBK, so any Chinese printer prints it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from kassa.card.pan import mask_pan
from kassa.errors import CardError, InputError
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount

__all__ = [
    "Copy", "EntryMode", "Lang", "Line", "MaskedPan", "Reconciliation", "SaleSlip",
    "SettlementSlip", "Style", "Tally", "display_width", "render_lines", "render_text",
    "wrap",
]  # fmt: skip

Lang = Literal["zh", "en", "both"]
Style = Literal["normal", "bold", "large"]  # large: bold and double height (same width)
width_min_columns = 32
width_max_columns = 64


class Copy(StrEnum):
    MERCHANT = "merchant"
    CARDHOLDER = "cardholder"


class EntryMode(StrEnum):
    """How the card was read; `from_f22` maps the first two digits of F22."""

    SWIPE = "swipe"
    INSERT = "insert"
    MANUAL = "manual"
    WAVE = "wave"

    @classmethod
    def from_f22(cls, f22: str) -> EntryMode:
        modes = {"01": cls.MANUAL, "02": cls.SWIPE, "05": cls.INSERT, "07": cls.WAVE}
        if f22[:2] not in modes:
            raise InputError(f"F22 entry mode {f22[:2]!r} is not 01, 02, 05 or 07; e.g. 051")
        return modes[f22[:2]]


class Reconciliation(StrEnum):
    """The host's answer in F48 positions 31 / 62 of the 0510 (reference §3.7)."""

    BALANCED = "1"
    UNBALANCED = "2"
    ERROR = "3"


_TEXT: dict[str, tuple[str, str]] = {
    "title": ("银联POS签购单", "POS SALES SLIP"),
    "settle_title": ("结算单", "SETTLEMENT"),
    "merchant": ("商户名称", "MERCHANT NAME"),
    "mid": ("商户编号", "MERCHANT NO."),
    "tid": ("终端编号", "TERMINAL NO."),
    "operator": ("操作员号", "OPERATOR NO."),
    "card": ("卡号", "CARD NO."),
    "card_org": ("卡组织", "CARD ORG"),
    "issuer": ("发卡行", "ISSUER"),
    "acquirer": ("收单行", "ACQUIRER"),
    "entry": ("输入方式", "ENTRY MODE"),
    "expiry": ("有效期", "EXP DATE"),
    "txn": ("交易类型", "TRANS TYPE"),
    "batch": ("批次号", "BATCH NO."),
    "trace": ("凭证号", "VOUCHER NO."),
    "rrn": ("参考号", "REF NO."),
    "auth": ("授权码", "AUTH NO."),
    "when": ("日期时间", "DATE/TIME"),
    "orig_trace": ("原凭证号", "ORIG VOUCHER NO."),
    "orig_rrn": ("原参考号", "ORIG REF NO."),
    "orig_auth": ("原授权码", "ORIG AUTH NO."),
    "amount": ("金额", "AMOUNT"),
    "balance": ("余额", "BALANCE"),
    "note": ("备注", "REFERENCE"),
    "merchant_copy": ("商户存根", "MERCHANT COPY"),
    "cardholder_copy": ("持卡人存根", "CARDHOLDER COPY"),
    "reprint": ("重打印", "REPRINT"),
    "offline": ("离线", "OFFLINE"),
    "declined": ("后台拒绝，请联系持卡人", "DECLINED BY HOST — FOLLOW UP"),
    "signature": ("持卡人签名", "CARDHOLDER SIGNATURE"),
    "no_signature": ("免签", "NO SIGNATURE REQUIRED"),
    "acknowledge": (
        "本人确认以上交易，同意将其记入本卡账户",
        "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES",
    ),
    "swipe": ("刷卡", "SWIPE"),
    "insert": ("插卡", "INSERT"),
    "manual": ("手输", "MANUAL"),
    "wave": ("挥卡", "WAVE"),
    "type": ("类型", "TYPE"),
    "count": ("笔数", "COUNT"),
    "sales": ("消费", "SALES"),
    "voids": ("撤销", "VOIDS"),
    "refunds": ("退货", "REFUNDS"),
    "completions": ("预授权完成", "COMPLETIONS"),
    "net": ("净额", "NET AMOUNT"),
    "domestic": ("内卡对账", "DOMESTIC"),
    "foreign": ("外卡对账", "FOREIGN"),
    "1": ("对账平", "BALANCED"),
    "2": ("对账不平", "UNBALANCED"),
    "3": ("对账出错", "RECONCILIATION ERROR"),
    "upload": ("批上送", "BATCH UPLOAD"),
    "upload_done": ("已完成", "DONE"),
    "upload_none": ("未上送", "NOT DONE"),
}

_TXN_TEXT: dict[TxnType, tuple[str, str]] = {
    TxnType.BALANCE: ("余额查询", "BALANCE"),
    TxnType.PREAUTH: ("预授权", "PRE-AUTH"),
    TxnType.PREAUTH_VOID: ("预授权撤销", "PRE-AUTH VOID"),
    TxnType.COMPLETION: ("预授权完成", "COMPLETION"),
    TxnType.COMPLETION_VOID: ("预授权完成撤销", "COMPLETION VOID"),
    TxnType.COMPLETION_ADVICE: ("预授权完成(通知)", "COMPLETION ADVICE"),
    TxnType.SALE: ("消费", "SALE"),
    TxnType.VOID: ("消费撤销", "VOID"),
    TxnType.REFUND: ("退货", "REFUND"),
    TxnType.OFFLINE_SALE: ("离线结算", "OFFLINE SALE"),
    TxnType.OFFLINE_UPLOAD: ("脱机消费", "OFFLINE EC SALE"),
}
# Money going back to the card prints negative; which original each type must name.
_NEGATIVE = {TxnType.VOID, TxnType.REFUND, TxnType.PREAUTH_VOID, TxnType.COMPLETION_VOID}
_NEEDS_ORIGINAL_TRACE = {TxnType.VOID, TxnType.PREAUTH_VOID, TxnType.COMPLETION_VOID}
_NEEDS_ORIGINAL_AUTH = {TxnType.COMPLETION, TxnType.COMPLETION_ADVICE}
_OFFLINE_TYPES = {TxnType.OFFLINE_SALE, TxnType.OFFLINE_UPLOAD, TxnType.COMPLETION_ADVICE}
_CURRENCY_SHOWN = {"156": "RMB"}

_MASKED = re.compile(r"[0-9*]{4,19}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_visible_max = 10  # first 6 + last 4
_hidden_min_full = 6  # a 13-19 character number hides at least what a 16-digit PAN hides


class MaskedPan(str):
    """A card number fit for paper: digits and ``*`` only, at most 10 digits visible, and
    a full-length (13-19 character) number hides at least 6. A clear PAN raises CardError."""

    __slots__ = ()

    def __new__(cls, value: str) -> MaskedPan:
        if not isinstance(value, str) or _MASKED.fullmatch(value) is None:
            raise CardError("masked card number must be 4-19 digits and '*', e.g. 621226******9946")
        visible = sum(char.isdigit() for char in value)
        hidden_enough = len(value) < 13 or len(value) - visible >= _hidden_min_full
        if visible > _visible_max or not hidden_enough:
            raise CardError("card number is not masked; mask it first (first 6, last 4 at most)")
        return super().__new__(cls, value)

    @classmethod
    def of_pan(cls, pan: str) -> MaskedPan:
        """The masked form of a clear `pan` (kassa.card.mask_pan); the clear digits stop here."""
        return cls(mask_pan(pan))


def _check(value: str | None, pattern: str, what: str, example: str) -> None:
    if value is not None and re.fullmatch(pattern, value) is None:
        raise InputError(f"slip {what} {value!r} is malformed; expected e.g. {example}")


def _check_text(value: str | None, what: str) -> None:
    # A control byte would reach the printer as an ESC/POS command (or break the layout).
    if value is not None and _CONTROL.search(value):
        raise InputError(f"slip {what} has a control character; give printable text only")


def _check_when(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise InputError("slip time must carry its timezone, e.g. datetime(..., tzinfo=...)")


@dataclass(frozen=True, slots=True)
class SaleSlip:
    """One transaction's slip. `amount` is the positive transaction (or balance) amount;
    `copy` picks the stub; `host_declined` marks an offline sale the host declined later."""

    merchant_name: str
    mid: str
    tid: str
    operator: str
    card: MaskedPan
    entry: EntryMode
    txn: TxnType
    amount: Amount
    batch: str
    trace: str
    when: datetime
    rrn: str | None = None
    auth_code: str | None = None
    card_org: str | None = None
    issuer: str | None = None
    acquirer: str | None = None
    original_trace: str | None = None
    original_rrn: str | None = None
    original_auth_code: str | None = None
    note: str | None = None
    copy: Copy = Copy.MERCHANT
    reprint: bool = False
    offline: bool = False
    host_declined: bool = False
    signature_required: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.card, MaskedPan):
            raise CardError("slip card number must be a MaskedPan; use MaskedPan.of_pan(pan)")
        _check(self.mid, r"[0-9A-Za-z]{15}", "merchant number", "898340148990001")
        _check(self.tid, r"[0-9A-Za-z]{8}", "terminal number", "12345678")
        _check(self.batch, r"[0-9]{6}", "batch number", "000001")
        _check(self.trace, r"[0-9]{6}", "trace number", "000123")
        _check(self.original_trace, r"[0-9]{6}", "original trace number", "000123")
        _check(self.rrn, r"[0-9A-Za-z]{12}", "reference number", "123456789012")
        _check(self.original_rrn, r"[0-9A-Za-z]{12}", "original reference number", "1234567890")
        _check(self.auth_code, r"[0-9A-Za-z ]{6}", "authorisation code", "A1B2C3")
        _check(self.original_auth_code, r"[0-9A-Za-z ]{6}", "original auth code", "A1B2C3")
        for what in ("merchant_name", "operator", "card_org", "issuer", "acquirer", "note"):
            _check_text(getattr(self, what), what.replace("_", " "))
        _check_when(self.when)
        if self.amount.fen < 0:
            raise InputError("slip amount must be positive; the slip prints voids negative")
        self._check_originals()

    def _check_originals(self) -> None:
        if self.txn in _NEEDS_ORIGINAL_TRACE and self.original_trace is None:
            raise InputError(f"a {self.txn} slip needs the original trace number")
        if self.txn is TxnType.REFUND and self.original_rrn is None:
            raise InputError("a refund slip needs the original reference number")
        if self.txn in _NEEDS_ORIGINAL_AUTH and self.original_auth_code is None:
            raise InputError(f"a {self.txn} slip needs the original authorisation code")

    def as_copy(self, copy: Copy) -> SaleSlip:
        """The same slip for the other stub."""
        return replace(self, copy=copy)

    @property
    def signed_amount(self) -> Amount:
        """The amount as printed: negative for voids and refunds."""
        return Amount(-self.amount.fen, self.amount.currency) if self.negative else self.amount

    @property
    def negative(self) -> bool:
        return self.txn in _NEGATIVE

    @property
    def is_offline(self) -> bool:
        return self.offline or self.txn in _OFFLINE_TYPES


@dataclass(frozen=True, slots=True)
class Tally:
    """A count of transactions and their total (positive magnitude)."""

    count: int = 0
    amount: Amount = field(default_factory=Amount.zero)

    def __post_init__(self) -> None:
        if self.count < 0 or self.amount.fen < 0 or (self.count == 0 and self.amount.fen):
            raise InputError("settlement tally must be a count >= 0 and a total >= 0")


@dataclass(frozen=True, slots=True)
class SettlementSlip:
    """The slip printed after settlement (reference §3.7). Voided transactions are excluded
    from `sales` and `completions` and listed in `voids` for information only, so
    net = sales + completions - refunds."""

    merchant_name: str
    mid: str
    tid: str
    operator: str
    batch: str
    when: datetime
    sales: Tally
    voids: Tally
    refunds: Tally
    completions: Tally
    domestic: Reconciliation
    foreign: Reconciliation | None = None
    batch_uploaded: bool = False
    reprint: bool = False

    def __post_init__(self) -> None:
        _check(self.mid, r"[0-9A-Za-z]{15}", "merchant number", "898340148990001")
        _check(self.tid, r"[0-9A-Za-z]{8}", "terminal number", "12345678")
        _check(self.batch, r"[0-9]{6}", "batch number", "000001")
        _check_text(self.merchant_name, "merchant name")
        _check_text(self.operator, "operator")
        _check_when(self.when)

    @property
    def net(self) -> Amount:
        return self.sales.amount + self.completions.amount - self.refunds.amount


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F", "A") else 1


def display_width(text: str) -> int:
    """Columns `text` takes on a slip (wide and ambiguous East Asian characters take 2)."""
    return sum(_char_width(char) for char in text)


def _rjust(text: str, width: int) -> str:
    return " " * max(0, width - display_width(text)) + text


def _tokens(text: str) -> list[str]:
    """Runs of spaces, runs of narrow non-space characters, and single wide characters."""
    tokens: list[str] = []
    for char in text:
        narrow_run = tokens and _char_width(char) == 1 and _char_width(tokens[-1][-1]) == 1
        if narrow_run and tokens[-1][-1].isspace() == char.isspace():
            tokens[-1] += char
        else:
            tokens.append(char)
    return tokens


def _split_long(token: str, width: int) -> list[str]:
    pieces = [""]
    for char in token:
        if display_width(pieces[-1] + char) > width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def wrap(text: str, width: int) -> list[str]:
    """`text` broken into lines of at most `width` columns, at spaces where it can and
    between wide characters anywhere. Always at least one line."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        if display_width(line + token) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        if token.isspace():
            line = ""
            continue
        *full, line = _split_long(token, width)
        lines.extend(full)
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


@dataclass(frozen=True, slots=True)
class Line:
    """One printed line and how to print it."""

    text: str
    style: Style = "normal"


class _Layout:
    """Builds the lines of one slip for one width and language."""

    def __init__(self, width: int, lang: Lang) -> None:
        self.width = width
        self.lang = lang
        self.lines: list[Line] = []

    def say(self, key_or_pair: str | tuple[str, str]) -> str:
        zh, en = _TEXT[key_or_pair] if isinstance(key_or_pair, str) else key_or_pair
        return {"zh": zh, "en": en, "both": f"{zh} {en}"}[self.lang]

    def paragraph(self, key: str, style: Style = "normal") -> None:
        """A sentence; in both languages the English starts a line of its own."""
        zh, en = _TEXT[key]
        for text in {"zh": (zh,), "en": (en,), "both": (zh, en)}[self.lang]:
            self.text(text, style)

    def centre(self, text: str, style: Style = "normal") -> None:
        for piece in wrap(text, self.width):
            pad = (self.width - display_width(piece)) // 2
            self.lines.append(Line(" " * pad + piece, style))

    def text(self, text: str, style: Style = "normal") -> None:
        self.lines.extend(Line(piece, style) for piece in wrap(text, self.width))

    def rule(self, char: str = "-") -> None:
        self.lines.append(Line(char * self.width))

    def blank(self) -> None:
        self.lines.append(Line(""))

    def row(self, key: str, value: str | None, style: Style = "normal") -> None:
        """`label: value` on one line, value right-aligned; label and value on lines of
        their own when they do not fit together."""
        if value is None:
            return
        label = self.say(key) + ":"
        gap = self.width - display_width(label) - display_width(value)
        if gap >= 1:
            self.lines.append(Line(label + " " * gap + value, style))
            return
        self.text(label, style)
        for piece in wrap(value, self.width):
            pad = self.width - display_width(piece)
            self.lines.append(Line(" " * pad + piece, style))

    def columns(self, cells: tuple[str, str, str], style: Style = "normal") -> None:
        """A settlement row: name left, count and amount right-aligned in columns of 6 and
        14; the name goes on a line of its own when the row does not fit."""
        name, count, amount = cells
        tail = _rjust(count, 6) + " " + _rjust(amount, 14)
        if display_width(name) + 1 + display_width(tail) > self.width:
            self.text(name, style)
            name = ""
        pad = self.width - display_width(name) - display_width(tail)
        self.lines.append(Line((name + " " * pad + tail).rstrip(), style))


def _money(amount: Amount) -> str:
    return f"{_CURRENCY_SHOWN.get(amount.currency, amount.currency)} {amount.yuan()}"


def _when(when: datetime) -> str:
    offset = when.strftime("%z")
    return when.strftime("%Y/%m/%d %H:%M:%S ") + offset[:3] + ":" + offset[3:5]


def _sale_header(out: _Layout, slip: SaleSlip) -> None:
    out.centre(out.say("title"), "large")
    copy_key = "merchant_copy" if slip.copy is Copy.MERCHANT else "cardholder_copy"
    out.centre(out.say(copy_key))
    if slip.reprint:
        out.centre(f"*** {out.say('reprint')} ***", "bold")
    if slip.is_offline:
        out.centre(out.say("offline"), "bold")
    out.rule()
    out.row("merchant", slip.merchant_name)
    out.row("mid", slip.mid)
    out.row("tid", slip.tid)
    out.row("operator", slip.operator)
    out.rule()


def _sale_body(out: _Layout, slip: SaleSlip) -> None:
    out.row("card", slip.card, "bold")
    out.row("card_org", slip.card_org)
    out.row("issuer", slip.issuer)
    out.row("acquirer", slip.acquirer)
    out.row("entry", out.say(str(slip.entry)))
    out.row("expiry", "**/**")
    out.row("txn", out.say(_TXN_TEXT[slip.txn]), "bold")
    out.row("batch", slip.batch)
    out.row("trace", slip.trace)
    out.row("rrn", slip.rrn)
    out.row("auth", slip.auth_code)
    out.row("when", _when(slip.when))
    out.row("orig_trace", slip.original_trace)
    out.row("orig_rrn", slip.original_rrn)
    out.row("orig_auth", slip.original_auth_code)
    amount_key = "balance" if slip.txn is TxnType.BALANCE else "amount"
    out.row(amount_key, _money(slip.signed_amount), "large")
    out.row("note", slip.note)


def _sale_footer(out: _Layout, slip: SaleSlip) -> None:
    if slip.host_declined:
        out.rule("*")
        out.paragraph("declined", "bold")
        out.rule("*")
    out.rule()
    if slip.copy is Copy.MERCHANT and slip.txn is not TxnType.BALANCE:
        if slip.signature_required:
            out.text(out.say("signature") + ":")
            out.blank()
            out.blank()
            out.rule("_")
        else:
            out.text(out.say("no_signature"))
        out.paragraph("acknowledge")
    if slip.reprint:
        out.centre(f"*** {out.say('reprint')} ***", "bold")


def _settlement(out: _Layout, slip: SettlementSlip) -> None:
    out.centre(out.say("settle_title"), "large")
    if slip.reprint:
        out.centre(f"*** {out.say('reprint')} ***", "bold")
    out.rule()
    for key, value in (("merchant", slip.merchant_name), ("mid", slip.mid), ("tid", slip.tid)):
        out.row(key, value)
    out.row("operator", slip.operator)
    out.row("batch", slip.batch)
    out.row("when", _when(slip.when))
    out.rule()
    out.columns((out.say("type"), out.say("count"), out.say("amount")))
    rows = (
        ("sales", slip.sales, 1),
        ("voids", slip.voids, -1),
        ("refunds", slip.refunds, -1),
        ("completions", slip.completions, 1),
    )
    for key, tally, sign in rows:
        shown = Amount(sign * tally.amount.fen, tally.amount.currency)
        out.columns((out.say(key), str(tally.count), _money(shown)))
    out.rule()
    out.row("net", _money(slip.net), "large")
    out.row("domestic", out.say(str(slip.domestic)), "bold")
    if slip.foreign is not None:
        out.row("foreign", out.say(str(slip.foreign)), "bold")
    out.row("upload", out.say("upload_done" if slip.batch_uploaded else "upload_none"))


def render_lines(
    slip: SaleSlip | SettlementSlip, width: int = 32, lang: Lang = "zh"
) -> tuple[Line, ...]:
    """The slip as styled lines, none wider than `width` display columns (32 for 58 mm
    paper, 48 for 80 mm); `lang` is "zh" (the default), "en" or "both"."""
    if not width_min_columns <= width <= width_max_columns:
        raise InputError(f"slip width {width} is not 32 to 64 columns; use 32 (58 mm) or 48")
    if lang not in ("zh", "en", "both"):
        raise InputError(f"slip language {lang!r} is not supported; use zh, en or both")
    out = _Layout(width, lang)
    if isinstance(slip, SaleSlip):
        _sale_header(out, slip)
        _sale_body(out, slip)
        _sale_footer(out, slip)
    else:
        _settlement(out, slip)
    return tuple(out.lines)


def render_text(slip: SaleSlip | SettlementSlip, width: int = 32, lang: Lang = "zh") -> str:
    """The slip as plain text: the lines of `render_lines`, each ending in a newline."""
    return "".join(line.text + "\n" for line in render_lines(slip, width, lang))
