"""The POS screen (Textual shell): the terminal as a cashier sees it.

    menu ─> amount / original ─> card (swipe or keyed) ─> PIN ─> processing (a worker
    awaits `Terminal.transact`, the screen stays live) ─> result ─> receipt ─> menu

The app only collects input and shows outcomes; every rule (journal before send,
reversal, store-and-forward, settlement) lives in `kassa.terminal`. Start-up runs
`Terminal.recover()` first, as every terminal entry point does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from textual.app import App
from textual.screen import Screen

from kassa.card import CardInput
from kassa.errors import AmountError, InputError, KassaError
from kassa.iso8583.transactions import TxnType
from kassa.money import Amount
from kassa.terminal.outcome import Outcome
from kassa.terminal.pos import Terminal
from kassa.terminal.service import TxnRequest
from kassa.tui import _originals as orig
from kassa.tui._forms import CardScreen, FieldSpec, FormScreen, PinScreen, Refused
from kassa.tui._screens import HomeScreen, ProcessingScreen, ResultScreen, TextScreen
from kassa.tui._text import FLOW_TXN, Lang, say, txn_name
from kassa.tui._views import (
    last_printed,
    original_note,
    outcome_view,
    settle_step,
    settle_view,
    signon_view,
    slip_text,
    status_lines,
)

T = TypeVar("T")
_ASKS_AMOUNT = frozenset({"sale", "refund", "preauth", "completion"})
_ASKS_PIN = frozenset({"sale", "balance", "preauth", "completion"})  # as `kassa pos` does


class _Cancelled(Exception):
    """The cashier pressed Esc: back to the menu, nothing sent."""


class PosApp(App[None]):
    """A keyboard-driven POS screen for one `Terminal`; Chinese unless `lang="en"`."""

    CSS_PATH = "pos.tcss"
    TITLE = "Kassa POS"
    ENABLE_COMMAND_PALETTE = False  # a cashier's screen has no themes or commands to pick

    def __init__(self, terminal: Terminal, lang: str = "zh") -> None:
        if lang not in ("zh", "en"):
            raise InputError(f"screen language {lang!r} is not supported; use zh or en")
        super().__init__()
        self.terminal = terminal
        self.lang: Lang = "zh" if lang == "zh" else "en"
        self.busy = False  # True while the terminal talks to the host
        self._running = False  # one operation at a time, keys pressed meanwhile are ignored

    # -- shell ------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())
        self._running = True
        self.run_worker(self._guarded(self._recover), group="op")

    @property
    def idle(self) -> bool:
        """True when no operation runs: the menu takes keys."""
        return not self._running

    def terminal_status(self) -> dict[str, Any]:
        return self.terminal.status()

    def action_toggle_lang(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"
        if isinstance(self.screen, HomeScreen):
            self.screen.redraw()

    async def action_quit(self) -> None:
        if self.busy:  # leaving now would strand the transaction until the next start
            self.notify(say("busy", self.lang), severity="warning")
            return
        self.exit()

    def action_start(self, action: str) -> None:
        if self._running or not isinstance(self.screen, HomeScreen):
            return
        self._running = True
        flows: dict[str, Callable[[], Awaitable[None]]] = {
            "settle": self._settle, "sign_on": self._sign_on,
            "reprint": self._reprint, "status": self._status,
        }  # fmt: skip
        work = flows.get(action) or (lambda: self._card_flow(action))
        self.run_worker(self._guarded(work), group="op")

    async def _guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run one operation; Esc ends it quietly, an input or store error is shown."""
        try:
            await work()
        except _Cancelled:
            pass
        except KassaError as exc:
            await self._show_text(say("error", self.lang), str(exc))
        finally:
            self._running = False

    async def _ask(self, screen: Screen[T | None]) -> T:
        value = await self.push_screen_wait(screen)
        if value is None:
            raise _Cancelled
        return value

    async def _talk(
        self, text: str, work: Awaitable[T], progress: Callable[[], str] | None = None
    ) -> T:
        """Await the terminal behind a processing screen; quitting is refused meanwhile."""
        self.busy = True
        await self.push_screen(ProcessingScreen(text, say("processing_hint", self.lang), progress))
        try:
            return await work
        finally:
            self.busy = False
            await self.pop_screen()

    async def _show_text(self, title: str, text: str) -> None:
        await self.push_screen_wait(TextScreen(title, text, say("enter_menu", self.lang)))

    # -- card transactions ------------------------------------------------------------

    async def _card_flow(self, action: str) -> None:
        txn, lang = FLOW_TXN[action], self.lang
        title = txn_name(txn, lang)
        if not self.terminal.ctx.signed_on:  # say so before the customer swipes
            await self._show_outcome(Outcome(None, "not_signed_on"), None)
            return
        found = await self._original(action, title)
        amount = found.amount_fen if found and action == "void" else None
        if action in _ASKS_AMOUNT:
            amount = await self._amount(title, original_note(found, None, lang))
        note = original_note(found, amount, lang)
        mismatch = say("card_mismatch", lang)
        check = orig.card_check(found.pan_masked, mismatch) if found and action == "void" else None
        card = await self._ask(CardScreen(title, note, lang, check))
        block = await self._pin(title, note, card) if action in _ASKS_PIN else None
        request = TxnRequest(txn, amount, card, block, found.original if found else None,
                             found.orig_id if found else None)  # fmt: skip
        outcome = await self._talk(say("processing", lang), self.terminal.transact(request))
        await self._show_outcome(outcome, found)

    async def _original(self, action: str, title: str) -> orig.Found | None:
        """Ask for the original (trace; reference + date; auth code + date) and find it."""
        journal, lang = self.terminal.journal, self.lang
        date = FieldSpec("date", say("date", lang), r"[0-9]*", 4)
        forms: dict[str, tuple[list[FieldSpec], Callable[[dict[str, str]], orig.Found | str]]] = {
            "void": ([FieldSpec("trace", say("trace", lang), r"[0-9]*", 6)],
                     lambda v: orig.void_original(journal, v["trace"], self.terminal.ctx.batch)),
            "refund": ([FieldSpec("rrn", say("rrn", lang), r"[0-9A-Za-z]*", 12), date],
                       lambda v: orig.refund_original(journal, v["rrn"], v["date"])),
            "completion": ([FieldSpec("auth", say("auth", lang), r"[0-9A-Za-z]*", 6), date],
                           lambda v: orig.completion_original(journal, v["auth"], v["date"])),
        }  # fmt: skip
        if action not in forms:
            return None
        fields, find = forms[action]

        def check(values: dict[str, str]) -> orig.Found | Refused:
            found = find(values)
            return Refused(say(found, lang)) if isinstance(found, str) else found

        return await self._ask(FormScreen(title, fields, check, lang))

    async def _amount(self, title: str, note: str) -> int:
        lang = self.lang

        def parse(values: dict[str, str]) -> int | Refused:
            try:
                return Amount.parse(values["amount"]).fen
            except AmountError as exc:
                return Refused(f"{say('amount_bad', lang)}: {exc}")

        fields = [FieldSpec("amount", say("amount", lang), r"[0-9.]*", 13)]
        return await self._ask(FormScreen(title, fields, parse, lang, note))

    async def _pin(self, title: str, note: str, card: CardInput) -> bytes | None:
        keys = self.terminal.journal.keys()
        if keys is None:  # signed off meanwhile: the terminal answers not_signed_on
            return None
        entry = await self._ask(PinScreen(title, note, self.lang, keys.pik, card.pan))
        return entry.block

    async def _show_outcome(self, outcome: Outcome, found: orig.Found | None) -> None:
        lang = self.lang
        printable = outcome.ok and outcome.txn_id is not None
        hint = say("enter_receipt" if printable else "enter_menu", lang)
        go_on = await self.push_screen_wait(ResultScreen(outcome_view(outcome, lang), hint))
        row = self.terminal.journal.txn(outcome.txn_id) if outcome.txn_id else None
        if not (go_on and printable and row) or row.txn_type == TxnType.BALANCE.value:
            return
        auth = found.original.auth_code if found else None
        text = slip_text(row, self.terminal.ctx.config, lang, orig_auth=auth)
        await self._show_text(say("receipt", lang), text)

    # -- terminal operations ----------------------------------------------------------

    async def _recover(self) -> None:
        found = await self._talk(say("recovering", self.lang), self.terminal.recover())
        if found:
            lines = [f"{o.stan or '-'}  {o.state or ''}  {o.headline(self.lang)}" for o in found]
            await self._show_text(say("recovered", self.lang), "\n".join(lines))

    async def _sign_on(self) -> None:
        result = await self._talk(say("signing_on", self.lang), self.terminal.sign_on())
        await self.push_screen_wait(
            ResultScreen(signon_view(result, self.lang), say("enter_menu", self.lang))
        )

    async def _settle(self) -> None:
        lang, batch = self.lang, self.terminal.ctx.batch
        result = await self._talk(say("settling", lang), self.terminal.settle(),
                                  lambda: settle_step(self.terminal.journal, batch, lang))  # fmt: skip
        new_batch = self.terminal.ctx.batch
        view = settle_view(result, new_batch, lang)
        await self.push_screen_wait(ResultScreen(view, say("enter_menu", lang)))

    async def _reprint(self) -> None:
        row = last_printed(self.terminal.journal)
        if row is None:
            await self._show_text(say("reprint", self.lang), say("no_receipt", self.lang))
            return
        text = slip_text(row, self.terminal.ctx.config, self.lang, reprint=True)
        await self._show_text(say("reprint", self.lang), text)

    async def _status(self) -> None:
        text = "\n".join(status_lines(self.terminal.status()))
        await self._show_text(say("status", self.lang), text)


def run_pos_app(terminal: Terminal, lang: str = "zh") -> None:
    """Run the POS screen until the cashier quits (Ctrl+Q); the host link is closed after."""

    async def main() -> None:
        try:
            await PosApp(terminal, lang).run_async()
        finally:
            await terminal.ctx.link.close()

    asyncio.run(main())
