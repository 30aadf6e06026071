"""How the `kassa pos` commands read card data and PINs and show outcomes (shell).

Card data and PINs come from prompts or standard input, never from the command line:
a swipe arrives as the text a USB magstripe reader types (`;PAN=YYMM...?`). On a TTY
the PIN is read without echo; piped input is read line by line.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel

from kassa.card import CardInput
from kassa.errors import InputError
from kassa.guide import text as guide_text
from kassa.money import Amount
from kassa.terminal.outcome import Outcome
from kassa.terminal.states import State


def _line(prompt: str, secret: bool = False) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt + ": ") if secret else input(prompt + ": ")
    typer.echo(prompt + ": ", err=True, nl=False)
    line = sys.stdin.readline()
    if not line:
        raise InputError(f"{prompt}: no input (standard input ended)")
    typer.echo("", err=True)
    return line.rstrip("\r\n")


def read_card(icc_file: Path | None) -> CardInput:
    """Swipe, keyed entry or IC data (field 55 TLV from a file, hex or binary)."""
    if icc_file is not None:
        try:
            raw = icc_file.read_bytes()
        except OSError as exc:
            raise InputError(f"--icc {icc_file}: {exc.strerror}") from None
        text = raw.decode("ascii", "ignore").strip()
        data = (
            bytes.fromhex(text)
            if text and all(c in "0123456789abcdefABCDEF \n" for c in text)
            else raw
        )
        return CardInput.from_icc(data)
    entry = _line("请刷卡/插卡或输入卡号 Swipe card or key the card number", secret=True).strip()
    if entry.startswith(";") or "=" in entry:
        return CardInput.from_swipe(entry)
    expiry = _line("有效期 Expiry (MM/YY)").strip()
    cvn = _line("CVN (Enter for none)", secret=True).strip() or None
    return CardInput.from_manual(entry, expiry, cvn)


def read_pin() -> str | None:
    pin = _line("请输入密码 PIN (Enter for none)", secret=True).strip()
    return pin or None


def show(outcome: Outcome, lang: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(outcome_json(outcome), ensure_ascii=False))
        return
    style = "green" if outcome.ok else ("yellow" if outcome.state is State.IN_DOUBT else "red")
    lines = [f"[bold]{outcome.headline(lang)}[/]"]
    if outcome.amount_fen is not None:
        lines.append(f"金额 Amount: RMB {Amount(outcome.amount_fen).yuan()}")
    for label, value in (("参考号 Ref", outcome.rrn), ("授权码 Auth", outcome.auth_code),
                         ("凭证号 Trace", outcome.stan), ("批次号 Batch", outcome.batch)):  # fmt: skip
        if value:
            lines.append(f"{label}: {value}")
    if outcome.state is State.IN_DOUBT:
        done = "reversed" in outcome.notes
        lines.append("已自动冲正，未扣款 Reversed automatically: not charged" if done else
                     "冲正待完成，请勿重复收款 Reversal pending: do NOT charge again")  # fmt: skip
    if outcome.state is State.OFFLINE:
        lines.append("离线批准，联机后自动上送 Approved offline; uploads when the host is back")
    if not outcome.ok:
        lines.append(guide_text(outcome.entry, "en" if lang == "en" else "zh"))
    Console().print(Panel("\n".join(lines), border_style=style))


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    entry = outcome.entry
    return {
        "state": outcome.state.value if outcome.state else None, "code": outcome.code,
        "approved": outcome.ok, "txn_id": outcome.txn_id, "amount_fen": outcome.amount_fen,
        "rrn": outcome.rrn, "auth_code": outcome.auth_code, "stan": outcome.stan,
        "batch": outcome.batch, "notes": list(outcome.notes),
        "screen_zh": entry.screen_zh, "screen_en": entry.screen_en,
        "action_zh": entry.action_zh, "action_en": entry.action_en,
    }  # fmt: skip
