"""The transaction element table (交易要素表, reference §3.1).

Each transaction type fixes the request MTI, processing code (F3), POS condition code
(F25) and 60.1, and whether it is reversible. `build_request` makes a Message from the
table; `identify` finds the type of a request the host receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kassa.iso8583.message import Message


class TxnType(StrEnum):
    """Every transaction Kassa's terminal and host handle."""

    BALANCE = "balance"
    PREAUTH = "preauth"
    PREAUTH_VOID = "preauth_void"
    COMPLETION = "completion"
    COMPLETION_VOID = "completion_void"
    COMPLETION_ADVICE = "completion_advice"
    SALE = "sale"
    VOID = "void"
    REFUND = "refund"
    OFFLINE_SALE = "offline_sale"  # 离线结算 0220 60.1=30
    OFFLINE_UPLOAD = "offline_upload"  # 脱机消费上送 0200 60.1=36


@dataclass(frozen=True, slots=True)
class TxnSpec:
    """One row of the table."""

    txn: TxnType
    name_zh: str
    name_en: str
    mti: str
    processing_code: str
    condition: str
    type_code: str  # 60.1
    reversible: bool

    @property
    def response_mti(self) -> str:
        return response_mti(self.mti)

    @property
    def reversal_mti(self) -> str:
        return "0400"


def response_mti(mti: str) -> str:
    """The MTI that answers `mti`: the third digit plus one (0200 -> 0210, 0800 -> 0810)."""
    return mti[:2] + str(int(mti[2]) + 1) + mti[3]


_T = TxnType
TABLE: dict[TxnType, TxnSpec] = {
    spec.txn: spec
    for spec in (
        TxnSpec(_T.BALANCE, "余额查询", "Balance inquiry", "0200", "310000", "00", "01", False),
        TxnSpec(_T.PREAUTH, "预授权", "Pre-authorisation", "0100", "030000", "06", "10", True),
        TxnSpec(_T.PREAUTH_VOID, "预授权撤销", "Pre-auth void", "0100", "200000", "06", "11", True),
        TxnSpec(
            _T.COMPLETION, "预授权完成", "Pre-auth completion", "0200", "000000", "06", "20", True
        ),
        TxnSpec(
            _T.COMPLETION_VOID,
            "预授权完成撤销",
            "Completion void",
            "0200",
            "200000",
            "06",
            "21",
            True,
        ),
        TxnSpec(
            _T.COMPLETION_ADVICE,
            "预授权完成(通知)",
            "Completion advice",
            "0220",
            "000000",
            "06",
            "24",
            False,
        ),
        TxnSpec(_T.SALE, "消费", "Sale", "0200", "000000", "00", "22", True),
        TxnSpec(_T.VOID, "消费撤销", "Void", "0200", "200000", "00", "23", True),
        TxnSpec(_T.REFUND, "退货", "Refund", "0220", "200000", "00", "25", False),
        TxnSpec(_T.OFFLINE_SALE, "离线结算", "Offline sale", "0220", "000000", "00", "30", False),
        TxnSpec(
            _T.OFFLINE_UPLOAD, "脱机消费上送", "Offline upload", "0200", "000000", "00", "36", False
        ),
    )
}

_BY_KEY: dict[tuple[str, str, str, str], TxnType] = {
    (s.mti, s.processing_code, s.condition, s.type_code): s.txn for s in TABLE.values()
}


def spec_of(txn: TxnType) -> TxnSpec:
    return TABLE[txn]


def build_request(txn: TxnType, fields: dict[int, str]) -> Message:
    """A request of type `txn`: MTI, F3 and F25 from the table; `fields` gives the rest.

    F60 must already carry 60.1 = the table's type code (the builder checks it) so that
    the batch and reader capability stay the caller's choice.
    """
    spec = TABLE[txn]
    f60 = fields.get(60, "")
    if f60[:2] != spec.type_code:
        raise ValueError(f"F60 {f60!r} must start with 60.1 = {spec.type_code} for {txn}")
    return Message(spec.mti, {**fields, 3: spec.processing_code, 25: spec.condition})


def identify(msg: Message) -> TxnType | None:
    """The transaction type of a financial request, or None if it is not in the table."""
    key = (msg.mti, msg.get(3) or "", msg.get(25) or "", (msg.get(60) or "")[:2])
    return _BY_KEY.get(key)
