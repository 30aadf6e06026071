"""Store-and-forward rules (pure): may this sale be approved offline right now?

Only sales at or under the floor limit, and only within every cap: amount per
transaction, total stored amount, stored count and age of the oldest stored sale. When
any cap is reached the terminal refuses offline sales (fail closed); a stored sale is
never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.terminal.config import TerminalConfig


@dataclass(frozen=True, slots=True)
class Stored:
    """What is waiting in the store-and-forward queue."""

    count: int
    total_fen: int
    oldest_ms: int | None


def offline_refusal(
    config: TerminalConfig, amount_fen: int, stored: Stored, now_ms: int
) -> str | None:
    """None when the sale may be approved offline; else the guide fault that says why not."""
    if config.floor_limit_fen <= 0 or amount_fen > config.floor_limit_fen:
        return "host_unreachable"
    if amount_fen > config.saf_txn_max_fen:
        return "saf_cap_reached"
    if stored.count + 1 > config.saf_count_max:
        return "saf_full"
    if stored.total_fen + amount_fen > config.saf_total_max_fen:
        return "saf_cap_reached"
    if stored.oldest_ms is not None and now_ms - stored.oldest_ms > config.saf_age_max_ms:
        return "saf_cap_reached"
    return None
