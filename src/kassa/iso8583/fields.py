"""The composite fields of the UnionPay dialect as typed values (pure).

The codec hands field values over as strings (n fields as digits with the pad nibble
removed, text fields as str). Each type here turns one such string into a frozen value
and back:

- `Type.parse(value)` raises `DecodeError(reason, field=N)` for a wrong length,
  non-digits or an invalid code, and nothing else whatever the input;
- `value.to_field()` is its exact inverse for every canonical wire value
  (`parse(x).to_field() == x`); text fields also parse a few lenient forms (missing
  trailing padding), which come back padded;
- building a value from bad parts raises `ValueError`: that is a bug in the caller.

Amounts are int fen. Reference: /work/shared/docs/UNIONPAY-8583.md §2, §3.2, §3.5-3.8.
"""

from __future__ import annotations

from kassa.iso8583._f44_63 import CardOrg, Field44, Field63Request, Field63Response
from kassa.iso8583._f48 import (
    BatchUploadRecord,
    CardOrgDomain,
    Field48BatchEnd,
    Field48BatchUpload,
    Field48Settlement,
    SettlementResult,
    SettlementTotals,
)
from kassa.iso8583._f53_54 import (
    AmountType,
    BalanceAmount,
    Field53,
    Field54,
    PinAlgorithm,
    PinFormat,
)
from kassa.iso8583._f60 import Field60, Field61, NetMgmt

__all__ = [
    "AmountType",
    "BalanceAmount",
    "BatchUploadRecord",
    "CardOrg",
    "CardOrgDomain",
    "Field44",
    "Field48BatchEnd",
    "Field48BatchUpload",
    "Field48Settlement",
    "Field53",
    "Field54",
    "Field60",
    "Field61",
    "Field63Request",
    "Field63Response",
    "NetMgmt",
    "PinAlgorithm",
    "PinFormat",
    "SettlementResult",
    "SettlementTotals",
]
