"""Merchant fees (MDR, 商户手续费): pure integer arithmetic on fen.

The fee of one captured transaction is::

    fee = clamp(round_half_up(amount_fen * rate_ppm / 1_000_000) + fixed_fen, min_fen, max_fen)

- ``rate_ppm`` is parts per million of the amount (0.38% = 3800), as in the host's
  ``merchants.fee_rate_ppm``; the percentage part is rounded **half up to the fen**
  (0.5 fen becomes 1 fen, 0.4999 fen becomes 0), with integer arithmetic only.
- ``fixed_fen`` is added per transaction, before the bounds.
- ``min_fen`` and ``max_fen`` (the cap, ``None`` for none) bound the whole fee, fixed part
  included. A minimum can exceed a very small amount: the merchant then pays more in fee
  than it sold, which is what a minimum fee means.

Refunds (退货): whether the fee of the original sale comes back is a policy,
``RefundFees``. UnionPay practice, and the default, is ``kept``: the MDR is not refunded
on a 退货, the refund is passed on in full and the sale's fee stays earned. With
``returned`` the merchant gets back the share of the original's fee that the refund is of
the original amount, computed cumulatively (``refund_fee_return``) so that partial
refunds never return more, in total, than the fee charged, and a full refund returns it
exactly. Voids and reversals are a different thing: the transaction is undone, so its
fee always goes (or comes back) with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kassa import limits
from kassa.errors import ConfigError

__all__ = ["PPM", "FeeSchedule", "RefundFees", "fee_fen", "refund_fee_return", "round_half_up"]

PPM = 1_000_000


class RefundFees(StrEnum):
    """What happens to the original's fee when a sale is refunded (退货)."""

    kept = "kept"  # the acquirer keeps the MDR (UnionPay practice)
    returned = "returned"  # the refunded share of the fee goes back to the merchant


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for ``numerator >= 0 < denominator``."""
    if numerator < 0 or denominator <= 0:
        raise ValueError(f"round_half_up takes n >= 0 and d > 0, got {numerator}/{denominator}")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """One merchant's fee terms; ConfigError when they make no sense."""

    rate_ppm: int
    fixed_fen: int = 0
    min_fen: int = 0
    max_fen: int | None = None

    def __post_init__(self) -> None:
        for name in ("rate_ppm", "fixed_fen", "min_fen"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ConfigError(f"fee {name} must be a whole number >= 0, got {value!r}")
        if self.rate_ppm > PPM:
            raise ConfigError(f"fee rate {self.rate_ppm} ppm is above 100%; give parts per million")
        cap = self.max_fen
        if cap is not None and (type(cap) is not int or cap < self.min_fen):
            raise ConfigError(
                f"fee cap {cap!r} fen is below the minimum {self.min_fen} fen; fix the merchant"
            )

    def fee(self, amount_fen: int) -> int:
        """The fee in fen of one transaction of ``amount_fen`` (see the module docstring)."""
        if type(amount_fen) is not int or not 0 <= amount_fen <= limits.amount_max_fen:
            raise ValueError(f"amount_fen must be an int in 0..{limits.amount_max_fen}")
        fee = round_half_up(amount_fen * self.rate_ppm, PPM) + self.fixed_fen
        fee = max(fee, self.min_fen)
        return fee if self.max_fen is None else min(fee, self.max_fen)


def fee_fen(
    amount_fen: int, rate_ppm: int, fixed_fen: int = 0, min_fen: int = 0, max_fen: int | None = None
) -> int:
    """The fee of one transaction: ``FeeSchedule(rate_ppm, fixed_fen, min_fen, max_fen)``.

    ConfigError for impossible terms (negative, rate above 100%, cap below minimum),
    ValueError for an amount that is not an int in 0..limits.amount_max_fen.
    """
    return FeeSchedule(rate_ppm, fixed_fen, min_fen, max_fen).fee(amount_fen)


def refund_fee_return(
    original_fen: int, original_fee_fen: int, refunded_before_fen: int, refund_fen: int
) -> int:
    """The part of the original's fee that a refund returns, under ``RefundFees.returned``.

    The cumulative share after all refunds so far is ``round_half_up(fee * refunded /
    original)``; each refund returns the growth of that share, so the returns of any
    sequence of partial refunds add up to at most the fee, and to exactly the fee once the
    whole amount is refunded. ValueError when the refunds exceed the original.
    """
    if original_fen <= 0 or original_fee_fen < 0 or refunded_before_fen < 0 or refund_fen < 0:
        raise ValueError("amounts and fee must be >= 0 and the original amount > 0")
    if refunded_before_fen + refund_fen > original_fen:
        raise ValueError(
            f"refunds of {refunded_before_fen + refund_fen} fen exceed the original"
            f" {original_fen} fen"
        )

    def share(refunded: int) -> int:
        return round_half_up(original_fee_fen * refunded, original_fen)

    return share(refunded_before_fen + refund_fen) - share(refunded_before_fen)
