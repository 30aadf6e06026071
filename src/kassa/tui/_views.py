"""What each result screen says, as plain data built from outcomes (no widgets here).

A `View` is a headline, a tone (ok / doubt / bad, which colours it) and lines of text.
Declines and faults take their texts from the guide: the screen text, what to tell the
customer and what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from kassa.errors import InputError
from kassa.guide import GuideEntry, lookup
from kassa.iso8583.fields import Field54
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.terminal.config import TerminalConfig
from kassa.terminal.journal import Journal, TxnRecord
from kassa.terminal.outcome import Outcome
from kassa.terminal.receipt import EntryMode, MaskedPan, SaleSlip, render_text
from kassa.terminal.settle import SettleOutcome
from kassa.terminal.signon import SignOnResult
from kassa.terminal.states import State
from kassa.tui._originals import Found
from kassa.tui._text import Lang, say, yuan

Tone = Literal["ok", "doubt", "bad"]


@dataclass(frozen=True, slots=True)
class View:
    """`amount` is shown large under the headline (the sum, or the balance)."""

    headline: str
    tone: Tone
    lines: tuple[str, ...] = ()
    amount: str = ""


def _guide_lines(entry: GuideEntry, lang: Lang) -> list[str]:
    return [
        f"{say('code_label', lang)}: {entry.code}",
        f"{say('tell', lang)}: {entry.pick('cashier', lang)}",
        f"{say('next', lang)}: {entry.pick('action', lang)}",
    ]


def balance_fen(outcome: Outcome) -> int | None:
    """The available balance a balance inquiry brought back (F54), if any."""
    for note in outcome.notes:
        if note.startswith("balance:"):
            try:
                return Field54.parse(note.removeprefix("balance:")).available_fen
            except ValueError:  # DecodeError is a ValueError: show no balance, not a crash
                return None
    return None


def _amount_line(outcome: Outcome, lang: Lang) -> str:
    balance = balance_fen(outcome)
    if balance is not None:
        return f"{say('balance_label', lang)}: {yuan(balance)}"
    if outcome.amount_fen is not None:
        return f"{say('amount_label', lang)}: {yuan(outcome.amount_fen)}"
    return ""


def _approved_lines(outcome: Outcome, lang: Lang) -> list[str]:
    lines: list[str] = []
    for key, value in (("rrn_label", outcome.rrn), ("auth_label", outcome.auth_code),
                       ("trace_label", outcome.stan), ("batch_label", outcome.batch)):  # fmt: skip
        if value:
            lines.append(f"{say(key, lang)}: {value}")
    if outcome.state is State.OFFLINE:
        lines.append(say("saf", lang))
    return lines


def outcome_view(outcome: Outcome, lang: Lang) -> View:
    """The result screen of a card transaction."""
    if outcome.ok:
        done = tuple(_approved_lines(outcome, lang))
        return View(outcome.headline(lang), "ok", done, _amount_line(outcome, lang))
    lines: list[str] = []
    tone: Tone = "bad"
    if outcome.state is State.IN_DOUBT:
        tone = "doubt"
        lines.append(say("in_doubt", lang))
        lines.append(say("reversed" if "reversed" in outcome.notes else "reversal_pending", lang))
    elif outcome.state is State.NOT_SENT:
        lines.append(say("not_charged", lang))
    elif outcome.state is State.RESEND:
        tone = "doubt"
        lines.append(say("resend", lang))
    if outcome.stan:
        lines.append(f"{say('trace_label', lang)}: {outcome.stan}")
    lines.extend(_guide_lines(outcome.entry, lang))
    return View(outcome.headline(lang), tone, tuple(lines), _amount_line(outcome, lang))


def signon_view(result: SignOnResult, lang: Lang) -> View:
    if result.ok:
        lines = [f"{say('batch_label', lang)}: {result.batch}"]
        if result.drift_ms is not None:
            lines.append(f"{say('drift', lang)}: {result.drift_ms} ms")
        return View(say("signon_ok", lang), "ok", tuple(lines))
    entry = lookup(result.code)
    head = f"{say('signon_failed', lang)}: {entry.pick('screen', lang)}"
    return View(head, "bad", tuple(_guide_lines(entry, lang)))


def settle_view(result: SettleOutcome, new_batch: str, lang: Lang) -> View:
    """Balanced or not, how many details were uploaded, the totals and the next batch."""
    lines = [f"{say('batch_label', lang)}: {result.batch}"]
    if result.balanced is not None:
        lines.append(say("balanced" if result.balanced else "unbalanced", lang))
    if result.totals is not None:
        dom = result.totals.domestic
        lines.append(f"{say('debits', lang)}: {dom.debit_count} / {yuan(dom.debit_amount_fen)}")
        lines.append(f"{say('credits', lang)}: {dom.credit_count} / {yuan(dom.credit_amount_fen)}")
    lines.append(f"{say('uploaded', lang)}: {result.uploaded}")
    if result.ok:
        lines.append(f"{say('new_batch', lang)}: {new_batch}")
        return View(say("settle_ok", lang), "ok", tuple(lines))
    entry = lookup(result.code)
    if result.step:
        lines.append(f"{say('step', lang)}: {result.step}; {say('settle_resume', lang)}")
    lines.extend(_guide_lines(entry, lang))
    return View(f"{say('settle_failed', lang)}: {entry.pick('screen', lang)}", "bad", tuple(lines))


def original_note(found: Found | None, amount_fen: int | None, lang: Lang) -> str:
    """The line over the card and PIN screens: which original, how much."""
    parts: list[str] = []
    if found is not None:
        o = found.original
        ref = o.stan if o.stan != "000000" else (o.rrn or o.auth_code or "")
        parts.append(f"{say('original', lang)} {ref} {found.pan_masked or ''}".rstrip())
    if amount_fen is not None:
        parts.append(f"{say('amount_label', lang)} {yuan(amount_fen)}")
    return "   ".join(parts)


def settle_step(journal: Journal, batch: str, lang: Lang) -> str:
    """Where a settlement run is, from its durable record (polled while it runs)."""
    with journal.db.transaction(write=False) as tx:
        row = tx.fetchone("SELECT step, uploaded FROM settlement_runs WHERE batch = ?", (batch,))
    if row is None:
        return ""
    return f"{say('batch_label', lang)} {batch}: {row[0]}, {say('uploaded', lang)} {row[1]}"


def status_lines(status: dict[str, Any]) -> tuple[str, ...]:
    return tuple(f"{key}: {value}" for key, value in status.items())


def _local_time(ms: int, offset_minutes: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(
        timezone(timedelta(minutes=offset_minutes))
    )


def slip_text(row: TxnRecord, config: TerminalConfig, lang: Lang, *, reprint: bool = False,
              orig_auth: str | None = None) -> str:  # fmt: skip
    """The merchant copy of the slip for a journal row, as the printer would lay it out; a
    row the slip cannot be made for (a field missing) gets a plain journal summary."""
    try:
        slip = SaleSlip(
            merchant_name=config.merchant_name, mid=config.mid, tid=config.tid,
            operator=row.operator or "01", card=MaskedPan(row.pan_masked or ""),
            entry=EntryMode.from_f22(row.entry_mode or ""), txn=TxnType(row.txn_type),
            amount=Amount(row.amount_fen or 0), batch=row.batch, trace=row.stan,
            when=_local_time(row.created_ms, config.utc_offset_minutes), rrn=row.rrn,
            auth_code=row.auth_code, original_trace=row.orig_stan, original_rrn=row.orig_rrn,
            original_auth_code=orig_auth, reprint=reprint, offline=row.offline,
        )  # fmt: skip
    except (InputError, ValueError):
        return row_text(row, lang)
    return render_text(slip, width=32, lang=lang)


def row_text(row: TxnRecord, lang: Lang) -> str:
    """A journal row as text (masked card number only), when no slip can be laid out."""
    amount = yuan(row.amount_fen) if row.amount_fen is not None else "-"
    pairs = (("trace_label", row.stan), ("batch_label", row.batch), ("amount_label", amount),
             ("rrn_label", row.rrn or "-"), ("auth_label", row.auth_code or "-"))  # fmt: skip
    head = f"{row.txn_type}  {row.pan_masked or ''}  {row.state.value}"
    return "\n".join([head, *(f"{say(k, lang)}: {v}" for k, v in pairs)]) + "\n"


def last_printed(journal: Journal) -> TxnRecord | None:
    """The last transaction that printed a slip (approved, offline or since voided)."""
    marks = ", ".join(f"'{s.value}'" for s in _PRINTED)
    rows = journal.txns(
        f"id = (SELECT MAX(id) FROM txns WHERE state IN ({marks}) AND txn_type <> 'balance')"
    )
    return rows[-1] if rows else None


_PRINTED = (State.APPROVED, State.OFFLINE, State.UPLOADED, State.VOIDED)
