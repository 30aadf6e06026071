"""The back office: merchant settlement, fees and the reports that go with them.

- fees (pure): ``fee_fen``, ``FeeSchedule``, ``RefundFees``, ``refund_fee_return``,
  ``round_half_up``
- the day and its records: ``Cutoff``, ``MerchantSettlement``, ``DayResult``, ``load_day``,
  and the component's ``COMPONENT`` / ``MIGRATIONS``
- settlement: ``run_day`` (idempotent, resumable; see `kassa.backoffice.settlement`)
- reports: ``acquirer_csv``, ``merchant_csv``, ``report_html``, ``payout_file``,
  ``verify_payout_file``, ``load_details``
"""

from __future__ import annotations

from kassa.backoffice.fees import FeeSchedule, RefundFees, fee_fen, refund_fee_return, round_half_up
from kassa.backoffice.reports import (
    SettledTxn,
    acquirer_csv,
    load_details,
    merchant_csv,
    payout_file,
    report_html,
    verify_payout_file,
)
from kassa.backoffice.schema import (
    COMPONENT,
    MIGRATIONS,
    Cutoff,
    DayResult,
    MerchantSettlement,
    load_day,
)
from kassa.backoffice.settlement import CAPTURE_TYPES, UNDO_TYPES, run_day

__all__ = [
    "CAPTURE_TYPES",
    "COMPONENT",
    "MIGRATIONS",
    "UNDO_TYPES",
    "Cutoff",
    "DayResult",
    "FeeSchedule",
    "MerchantSettlement",
    "RefundFees",
    "SettledTxn",
    "acquirer_csv",
    "fee_fen",
    "load_day",
    "load_details",
    "merchant_csv",
    "payout_file",
    "refund_fee_return",
    "report_html",
    "round_half_up",
    "run_day",
    "verify_payout_file",
]
