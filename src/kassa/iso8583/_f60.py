"""Fields 60 (自定义域) and 61 (原始信息域), and the 60.3 network management codes.

Reference: UNIONPAY-8583.md §2 (rows 60, 61), §3.2 (60.3 codes), §3.5-3.8.
Both fields are `n` LLLVAR; the codec hands them over as their digits, pad nibble removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Self

from kassa.iso8583._fieldcheck import (
    decoding,
    require_code,
    require_digits,
    require_field_digits,
    split_digits,
)


class NetMgmt(StrEnum):
    """60.3 网络管理信息码 (§3.2). Parsed fields keep the raw code: vendors add their own."""

    FINANCIAL = "000"
    SIGN_ON_SINGLE = "001"
    SIGN_OFF = "002"
    SIGN_ON_DOUBLE = "003"
    SIGN_ON_TDK = "004"
    SETTLE = "201"  # also 磁条卡批上送明细 (0320 detail records)
    BATCH_END_UNBALANCED = "202"
    TC_UPLOAD_BALANCED = "203"
    FAILED_IC_UPLOAD = "204"
    TC_UPLOAD_UNBALANCED = "205"  # NEWPOS; Centerm sends 206 for its unbalanced notice upload
    IC_NOTICE_UPLOAD_UNBALANCED = "206"
    BATCH_END_BALANCED = "207"
    ECHO = "301"
    PARAM_DOWNLOAD = "360"
    PARAM_DOWNLOAD_END = "361"
    STATUS_UPLOAD = "362"
    PARAM_DOWNLOAD_NEW = "364"
    CAPK_DOWNLOAD = "370"
    CAPK_DOWNLOAD_END = "371"
    CAPK_QUERY = "372"
    AID_DOWNLOAD = "380"
    AID_DOWNLOAD_END = "381"
    AID_QUERY = "382"
    BLACKLIST_DOWNLOAD = "390"
    BLACKLIST_DOWNLOAD_END = "391"
    QPS_PARAM_DOWNLOAD = "394"
    QPS_PARAM_DOWNLOAD_END = "395"
    BIN_WHITELIST_DOWNLOAD = "396"
    BIN_WHITELIST_DOWNLOAD_END = "397"
    BIN_BLACKLIST_DOWNLOAD = "398"
    BIN_BLACKLIST_DOWNLOAD_END = "399"
    MASTER_KEY_DOWNLOAD = "401"  # vendor-specific (also 积分签到 in some stacks)
    SCRIPT_RESULT = "951"

    @classmethod
    def batch_end(cls, balanced: bool) -> NetMgmt:
        """The 60.3 of the batch-upload end: 207 if both domains balanced, else 202."""
        return cls.BATCH_END_BALANCED if balanced else cls.BATCH_END_UNBALANCED

    @classmethod
    def tc_upload(cls, balanced: bool) -> NetMgmt:
        """The 60.3 of an IC TC batch upload: 203 balanced, 205 unbalanced (NEWPOS)."""
        return cls.TC_UPLOAD_BALANCED if balanced else cls.TC_UPLOAD_UNBALANCED


READER_CAPABILITIES = frozenset({"0", "2", "5", "6"})
"""60.4: 0 unknown, 2 magstripe, 5 magstripe + contact IC, 6 + contactless."""
IC_CONDITIONS = frozenset({"0", "1", "2"})
"""60.5: 0 normal/unused, 1 IC card swiped improperly, 2 fallback (降级)."""
PARTIAL_FLAGS = frozenset({"0", "1"})
"""60.6: 0 partial approval / balance return not supported, 1 supported."""

_F60_WIDTHS = (2, 6, 3, 1, 1, 1, 3)
_F60_SIZES = frozenset({11, 12, 13, 14, 17})


@dataclass(frozen=True, slots=True)
class Field60:
    """Field 60: 60.1 type n2, 60.2 batch n6, 60.3 code n3, then 60.4-60.7 optional.

    A later subfield may be present only when every one before it is: the valid lengths
    are 11 (management messages, NEWPOS "删除60.4和60.5"), 12, 13, 14 and 17 digits.
    60.1 and 60.3 are checked as digits only, 60.4-60.6 against their code lists.
    """

    txn_type: str
    batch: str
    net_mgmt: str
    reader_capability: str | None = None
    ic_condition: str | None = None
    partial_flag: str | None = None
    account_type: str | None = None

    def __post_init__(self) -> None:
        require_digits(self.txn_type, 2, "60.1 transaction type")
        require_digits(self.batch, 6, "60.2 batch number")
        require_digits(self.net_mgmt, 3, "60.3 network management code")
        tail = (self.reader_capability, self.ic_condition, self.partial_flag, self.account_type)
        _require_prefix_present(tail, ("60.4", "60.5", "60.6", "60.7"))
        if self.reader_capability is not None:
            require_code(self.reader_capability, READER_CAPABILITIES, "60.4 reader capability")
        if self.ic_condition is not None:
            require_code(self.ic_condition, IC_CONDITIONS, "60.5 IC card condition")
        if self.partial_flag is not None:
            require_code(self.partial_flag, PARTIAL_FLAGS, "60.6 partial approval flag")
        if self.account_type is not None:
            require_digits(self.account_type, 3, "60.7 account type")

    @classmethod
    def management(cls, batch: str, code: str) -> Self:
        """60 of a management message: `00` + batch + 60.3 code (11 digits)."""
        return cls("00", batch, code)

    @classmethod
    def financial(cls, txn_type: str, batch: str, reader: str = "5", ic: str = "0") -> Self:
        """60 of a financial message: 60.1 + batch + `000` + 60.4 + 60.5 (13 digits)."""
        return cls(txn_type, batch, NetMgmt.FINANCIAL, reader, ic)

    @classmethod
    def parse(cls, value: str) -> Self:
        """Field 60 digits -> Field60; DecodeError(field=60) if malformed."""
        with decoding(60):
            require_field_digits(value, _F60_SIZES, "the value")
            parts = split_digits(value, _F60_WIDTHS)
            tail = [part or None for part in parts[3:]]
            return cls(parts[0], parts[1], parts[2], *tail)

    def to_field(self) -> str:
        """The digits of field 60, exactly as `parse` takes them."""
        optional = (self.reader_capability, self.ic_condition, self.partial_flag)
        parts = (self.txn_type, self.batch, self.net_mgmt, *optional, self.account_type)
        return "".join(part for part in parts if part is not None)

    @property
    def is_management(self) -> bool:
        """True for 60.1 = 00 (sign-on/off, settlement, batch upload, downloads, echo)."""
        return self.txn_type == "00"


def _require_prefix_present(values: tuple[str | None, ...], names: tuple[str, ...]) -> None:
    missing = None
    for value, name in zip(values, names, strict=True):
        if value is None:
            missing = missing or name
        elif missing is not None:
            raise ValueError(f"{name} needs {missing} before it; give every subfield up to it")


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # Feb 29: the year is unknown
_F61_WIDTHS = (6, 6, 4, 2, 11)
_F61_SIZES = frozenset({12, 16, 18, 29})


def require_mmdd(value: str, what: str) -> None:
    """Raise ValueError unless `value` is a calendar day as MMDD (29 February allowed)."""
    require_digits(value, 4, what)
    month, day = int(value[:2]), int(value[2:])
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        raise ValueError(f"{what} must be a calendar date as MMDD, got {value!r}")


@dataclass(frozen=True, slots=True)
class Field61:
    """Field 61 原始信息域: the original transaction of a void, refund, completion, reversal.

    61.1 batch n6 + 61.2 STAN n6 (`000000` when unknown), then optional 61.3 date MMDD,
    61.4 original authorisation method n2, 61.5 original authorising institution n11;
    valid lengths 12, 16, 18, 29. The date must be a real calendar day.
    """

    orig_batch: str
    orig_stan: str
    orig_date: str | None = None
    orig_auth_method: str | None = None
    orig_auth_inst: str | None = None

    def __post_init__(self) -> None:
        require_digits(self.orig_batch, 6, "61.1 original batch number")
        require_digits(self.orig_stan, 6, "61.2 original STAN")
        tail = (self.orig_date, self.orig_auth_method, self.orig_auth_inst)
        _require_prefix_present(tail, ("61.3", "61.4", "61.5"))
        if self.orig_date is not None:
            require_mmdd(self.orig_date, "61.3 original date")
        if self.orig_auth_method is not None:
            require_digits(self.orig_auth_method, 2, "61.4 original authorisation method")
        if self.orig_auth_inst is not None:
            require_digits(self.orig_auth_inst, 11, "61.5 original authorising institution")

    @classmethod
    def parse(cls, value: str) -> Self:
        """Field 61 digits -> Field61; DecodeError(field=61) if malformed."""
        with decoding(61):
            require_field_digits(value, _F61_SIZES, "the value")
            batch, stan, *tail = split_digits(value, _F61_WIDTHS)
            date, method, inst = (part or None for part in tail)
            return cls(batch, stan, date, method, inst)

    def to_field(self) -> str:
        """The digits of field 61, exactly as `parse` takes them."""
        head = (self.orig_batch, self.orig_stan, self.orig_date)
        parts = (*head, self.orig_auth_method, self.orig_auth_inst)
        return "".join(part for part in parts if part is not None)
