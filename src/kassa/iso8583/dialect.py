"""The UnionPay POS dialect of ISO 8583 as a field table (reference §1-2).

One row per field 2-64: its kind, how its length is carried and its bound, and its name
in Chinese and English. `PYISO_SPEC` is the same table in pyiso8583's spec format; the
codec (`kassa.iso8583.codec`) wraps pyiso8583 with the checks it does not make.

Wire conventions (reference §2, verified against real captures):
- n fixed: packed BCD, right-aligned with a 0 pad nibble when odd (F23 `001` -> `00 01`),
  except F22, left-aligned (`051` -> `05 10`).
- n/z variable: the length prefix counts digits; data left-aligned, trailing 0 pad nibble.
- z (tracks): `=` travels as nibble D.
- LL = 1-byte BCD length, LLL = 2-byte BCD length.
- an/ans: ASCII (GBK for Chinese text), fixed ones space-padded; var length counts bytes.
- b: raw bytes; var length counts bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class Kind(StrEnum):
    """How a field's value is written."""

    N = "n"  # digits, packed BCD
    Z = "z"  # track data: digits and the separator D, packed BCD
    AN = "an"  # ASCII text
    ANS = "ans"  # text, GBK for Chinese
    B = "b"  # raw bytes


class Length(StrEnum):
    """How a field's length is carried."""

    FIXED = "fixed"
    LL = "LL"  # 1-byte BCD prefix
    LLL = "LLL"  # 2-byte BCD prefix


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One row of the dialect table.

    `size` is the exact length of a fixed field, or the maximum of a variable one, in the
    field's own unit: digits for n/z, bytes for an/ans/b.
    `left_aligned` matters only for fixed n fields of odd size (F22).
    """

    number: int
    kind: Kind
    length: Length
    size: int
    name_zh: str
    name_en: str
    left_aligned: bool = False

    @property
    def is_numeric(self) -> bool:
        return self.kind in (Kind.N, Kind.Z)

    def describe(self) -> str:
        """The format as the reference writes it: `n..19 LLVAR`, `an12`, `b64`."""
        if self.length is Length.FIXED:
            size = self.size * 8 if self.kind is Kind.B else self.size
            return f"{self.kind.value}{size}"
        dots = ".." if self.length is Length.LL else "..."
        return f"{self.kind.value}{dots}{self.size} {self.length.value}VAR"


_N, _Z, _AN, _ANS, _B = Kind.N, Kind.Z, Kind.AN, Kind.ANS, Kind.B
_FX, _LL, _LLL = Length.FIXED, Length.LL, Length.LLL

# (number, kind, length, size, 中文, English)
_ROWS: tuple[tuple[int, Kind, Length, int, str, str], ...] = (
    (2, _N, _LL, 19, "主账号", "Primary account number"),
    (3, _N, _FX, 6, "交易处理码", "Processing code"),
    (4, _N, _FX, 12, "交易金额", "Transaction amount"),
    (5, _N, _FX, 12, "清算金额", "Settlement amount"),
    (6, _N, _FX, 12, "持卡人扣账金额", "Cardholder billing amount"),
    (7, _N, _FX, 10, "交易传输时间", "Transmission date and time"),
    (8, _N, _FX, 8, "持卡人扣账手续费", "Cardholder billing fee"),
    (9, _N, _FX, 8, "清算汇率", "Settlement conversion rate"),
    (10, _N, _FX, 8, "持卡人扣账汇率", "Cardholder billing conversion rate"),
    (11, _N, _FX, 6, "受卡方系统跟踪号", "System trace audit number (STAN)"),
    (12, _N, _FX, 6, "受卡方所在地时间", "Local transaction time"),
    (13, _N, _FX, 4, "受卡方所在地日期", "Local transaction date"),
    (14, _N, _FX, 4, "卡有效期", "Expiry date"),
    (15, _N, _FX, 4, "清算日期", "Settlement date"),
    (16, _N, _FX, 4, "兑换日期", "Conversion date"),
    (17, _N, _FX, 4, "获取日期", "Capture date"),
    (18, _N, _FX, 4, "商户类型", "Merchant type (MCC)"),
    (19, _N, _FX, 3, "受理机构国家代码", "Acquiring institution country code"),
    (20, _N, _FX, 3, "主账号扩展国家代码", "PAN extended country code"),
    (21, _N, _FX, 3, "转发机构国家代码", "Forwarding institution country code"),
    (22, _N, _FX, 3, "服务点输入方式码", "POS entry mode"),
    (23, _N, _FX, 3, "卡片序列号", "Card sequence number"),
    (24, _N, _FX, 3, "网络国际标识码", "Network international identifier"),
    (25, _N, _FX, 2, "服务点条件码", "POS condition code"),
    (26, _N, _FX, 2, "服务点PIN获取码", "POS PIN capture code"),
    (27, _N, _FX, 1, "授权标识应答码长度", "Authorisation response length"),
    (28, _ANS, _FX, 9, "交易费", "Transaction fee amount"),
    (29, _ANS, _FX, 9, "清算费", "Settlement fee amount"),
    (30, _ANS, _FX, 9, "交易处理费", "Transaction processing fee"),
    (31, _ANS, _FX, 9, "清算处理费", "Settlement processing fee"),
    (32, _N, _LL, 11, "受理方标识码", "Acquiring institution ID"),
    (33, _N, _LL, 11, "发送方标识码", "Forwarding institution ID"),
    (34, _ANS, _LL, 28, "扩展主账号", "Extended PAN"),
    (35, _Z, _LL, 37, "第二磁道数据", "Track 2 data"),
    (36, _Z, _LLL, 104, "第三磁道数据", "Track 3 data"),
    (37, _AN, _FX, 12, "检索参考号", "Retrieval reference number (RRN)"),
    (38, _AN, _FX, 6, "授权标识应答码", "Authorisation code"),
    (39, _AN, _FX, 2, "应答码", "Response code"),
    (40, _AN, _FX, 3, "服务限制代码", "Service restriction code"),
    (41, _ANS, _FX, 8, "受卡机终端标识码", "Terminal ID (TID)"),
    (42, _ANS, _FX, 15, "受卡方标识码", "Merchant ID (MID)"),
    (43, _ANS, _FX, 40, "受卡方名称地址", "Card acceptor name and location"),
    (44, _ANS, _LL, 25, "附加响应数据", "Additional response data"),
    (45, _ANS, _LL, 76, "第一磁道数据", "Track 1 data"),
    (46, _ANS, _LLL, 999, "附加数据-ISO", "Additional data (ISO)"),
    (47, _ANS, _LLL, 999, "附加数据-国家", "Additional data (national)"),
    (48, _N, _LLL, 322, "附加数据-私有", "Additional data (private)"),
    (49, _AN, _FX, 3, "交易货币代码", "Transaction currency code"),
    (50, _AN, _FX, 3, "清算货币代码", "Settlement currency code"),
    (51, _AN, _FX, 3, "持卡人账户货币代码", "Cardholder billing currency code"),
    (52, _B, _FX, 8, "个人标识码数据", "PIN block"),
    (53, _N, _FX, 16, "安全控制信息", "Security control information"),
    (54, _AN, _LLL, 120, "附加金额", "Additional amounts (balance)"),
    (55, _B, _LLL, 255, "IC卡数据域", "ICC data"),
    (56, _ANS, _LLL, 999, "附加信息", "Additional information"),
    (57, _ANS, _LLL, 999, "附加交易信息", "Additional transaction data"),
    (58, _B, _LLL, 512, "电子钱包交易信息", "E-purse data"),
    (59, _ANS, _LLL, 999, "自定义域59", "Private field 59"),
    (60, _N, _LLL, 17, "自定义域60", "Private field 60"),
    (61, _N, _LLL, 29, "原始信息域", "Original data elements"),
    (62, _B, _LLL, 512, "自定义域62", "Private field 62"),
    (63, _ANS, _LLL, 163, "自定义域63", "Private field 63"),
    (64, _B, _FX, 8, "报文鉴别码", "Message authentication code (MAC)"),
)

FIELDS: Final[dict[int, FieldDef]] = {
    number: FieldDef(number, kind, length, size, zh, en, left_aligned=(number == 22))
    for number, kind, length, size, zh, en in _ROWS
}
assert sorted(FIELDS) == list(range(2, 65)), "every field 2-64 has a row"

MTI_NAMES: Final[dict[str, tuple[str, str]]] = {
    "0100": ("授权请求", "Authorisation request"),
    "0110": ("授权应答", "Authorisation response"),
    "0200": ("金融交易请求", "Financial request"),
    "0210": ("金融交易应答", "Financial response"),
    "0220": ("金融通知", "Financial advice"),
    "0230": ("金融通知应答", "Financial advice response"),
    "0320": ("批上送", "Batch upload"),
    "0330": ("批上送应答", "Batch upload response"),
    "0400": ("冲正请求", "Reversal request"),
    "0410": ("冲正应答", "Reversal response"),
    "0500": ("批结算请求", "Settlement request"),
    "0510": ("批结算应答", "Settlement response"),
    "0620": ("脚本通知", "Script advice"),
    "0630": ("脚本通知应答", "Script advice response"),
    "0800": ("管理请求", "Network management request"),
    "0810": ("管理应答", "Network management response"),
    "0820": ("管理通知", "Network management advice"),
    "0830": ("管理通知应答", "Network management advice response"),
}

TEXT_ENCODING: Final = "gbk"


def _pyiso_field(d: FieldDef) -> dict[str, Any]:
    len_type = {Length.FIXED: 0, Length.LL: 1, Length.LLL: 2}[d.length]
    spec: dict[str, Any] = {
        "len_enc": "bcd",
        "len_type": len_type,
        "max_len": d.size,
        "desc": d.name_en,
    }
    if d.kind in (Kind.N, Kind.Z):
        spec.update(data_enc="b", len_count="nibbles")
        if d.length is not Length.FIXED or d.left_aligned:
            spec["right_pad"] = "0"
        else:
            spec["left_pad"] = "0"
    elif d.kind is Kind.B:
        spec.update(data_enc="b", len_count="bytes")
    else:
        spec.update(data_enc=TEXT_ENCODING if d.kind is Kind.ANS else "ascii")
    return spec


def _pyiso_spec() -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {
        "h": {"data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": 0, "desc": "none"},
        "t": {"data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": 2, "desc": "MTI"},
        "p": {"data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": 8, "desc": "Bitmap"},
    }
    for number, d in FIELDS.items():
        spec[str(number)] = _pyiso_field(d)
    return spec


PYISO_SPEC: Final[dict[str, dict[str, Any]]] = _pyiso_spec()
