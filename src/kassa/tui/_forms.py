"""Entry screens: a generic form (amount, trace, reference + date, auth code), the card
screen (swipe or keyed entry) and the PIN screen.

Each dismisses with its value, or None when the cashier presses Esc. Card data and the
PIN never stay in a widget: the inputs are emptied as soon as their value is read, and
secret inputs cannot be copied to the clipboard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from kassa.card import CardInput, validate_pan
from kassa.errors import InputError
from kassa.iso8583.pinblock import make_pin_block
from kassa.tui._text import Lang, say

T = TypeVar("T")


class SecretInput(Input):
    """A password input whose text cannot be cut or copied out."""

    def action_copy(self) -> None:
        return None

    def action_cut(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    label: str
    restrict: str | None = None
    max_length: int = 0
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    """A form value that was refused: the text shown under the form."""

    message: str


@dataclass(frozen=True, slots=True)
class PinEntry:
    """The PIN screen's result: the encrypted PIN block, or None for no PIN."""

    block: bytes | None


class EntryScreen(Screen[T | None], Generic[T]):
    """Title, an optional note, inputs, an error line; Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, note: str, lang: Lang) -> None:
        super().__init__()
        self.title_text, self.note, self.lang = title, note, lang

    def inputs(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(self.title_text, classes="form-title")
            if self.note:
                yield Static(self.note, classes="form-note")
            yield from self.inputs()
            yield Static("", id="error", classes="error")
            yield Static(say("esc", self.lang), classes="hint")

    def refuse(self, message: str) -> None:
        self.query_one("#error", Static).update(message)

    def action_cancel(self) -> None:
        for field in self.query(Input):
            field.value = ""
        self.dismiss(None)


class FormScreen(EntryScreen[T]):
    """Fields filled top to bottom (Enter moves on); `check` turns the values into the
    result or a `Refused` shown under the form."""

    def __init__(self, title: str, fields: Sequence[FieldSpec],
                 check: Callable[[dict[str, str]], T | Refused], lang: Lang,
                 note: str = "") -> None:  # fmt: skip
        super().__init__(title, note, lang)
        self.fields, self.check = tuple(fields), check

    def inputs(self) -> ComposeResult:
        for spec in self.fields:
            yield Label(spec.label)
            kind = SecretInput if spec.secret else Input
            yield kind(id=f"f-{spec.name}", restrict=spec.restrict, max_length=spec.max_length,
                       password=spec.secret)  # fmt: skip

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        names = [spec.name for spec in self.fields]
        at = names.index((event.input.id or "")[2:])
        if at + 1 < len(names):
            self.query_one(f"#f-{names[at + 1]}", Input).focus()
            return
        values = {name: self.query_one(f"#f-{name}", Input).value for name in names}
        for spec in self.fields:
            if spec.secret:
                self.query_one(f"#f-{spec.name}", Input).value = ""
        result = self.check(values)
        if isinstance(result, Refused):  # start the form again, the error stays shown
            self.refuse(result.message)
            for name in names:
                self.query_one(f"#f-{name}", Input).value = ""
            self.query_one(f"#f-{names[0]}", Input).focus()
            return
        self.dismiss(result)


class CardScreen(EntryScreen[CardInput]):
    """A USB magstripe reader types track 2 (`;PAN=YYMM...?`) and Enter; a keyed card
    number opens the expiry and CVN2 fields. `check` may refuse the card (a void needs
    the original's card)."""

    def __init__(self, title: str, note: str, lang: Lang,
                 check: Callable[[CardInput], str | None] | None = None) -> None:  # fmt: skip
        super().__init__(title, note, lang)
        self.check = check

    def inputs(self) -> ComposeResult:
        yield Label(say("card", self.lang))
        yield SecretInput(id="card", password=True, max_length=120)
        yield Static(say("card_hint", self.lang), classes="hint")
        with Vertical(id="manual"):
            yield Label(say("expiry", self.lang))
            yield Input(id="expiry", restrict=r"[0-9/]*", max_length=5)
            yield Label(say("cvn", self.lang))
            yield SecretInput(id="cvn", password=True, restrict=r"[0-9]*", max_length=3)

    def on_mount(self) -> None:
        self.query_one("#manual").display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        card = self.query_one("#card", Input)
        text = card.value.strip()
        if event.input.id == "expiry":
            self.query_one("#cvn", Input).focus()
            return
        try:
            if text.startswith((";", "%")) or "=" in text:
                card.value = ""  # track data leaves the widget at once
                self._done(CardInput.from_swipe(text))
            elif event.input.id == "card":
                validate_pan(text)  # a mistyped number is caught before expiry and CVN
                self.query_one("#manual").display = True
                self.query_one("#expiry", Input).focus()
            else:
                self._manual(text)
        except InputError as exc:
            self._clear()
            self.refuse(f"{say('card_bad', self.lang)}: {exc}")

    def _manual(self, pan: str) -> None:
        expiry = self.query_one("#expiry", Input).value
        cvn = self.query_one("#cvn", Input).value.strip() or None
        self._clear()
        self._done(CardInput.from_manual(pan, expiry, cvn))

    def _done(self, card: CardInput) -> None:
        refusal = self.check(card) if self.check else None
        if refusal:
            self._clear()
            self.refuse(refusal)
            return
        self.dismiss(card)

    def _clear(self) -> None:
        for field in self.query(Input):
            field.value = ""
        self.query_one("#manual").display = False
        self.query_one("#card", Input).focus()


class PinScreen(EntryScreen[PinEntry]):
    """The cardholder types the PIN (hidden); it becomes the encrypted PIN block at once
    and the input is emptied. Enter on an empty input: no PIN."""

    def __init__(self, title: str, note: str, lang: Lang, pik: bytes, pan: str) -> None:
        super().__init__(title, note, lang)
        self._pik, self._pan = pik, pan

    def inputs(self) -> ComposeResult:
        yield Label(say("pin", self.lang))
        yield SecretInput(id="pin", password=True, restrict=r"[0-9]*", max_length=12)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        pin = event.input.value
        event.input.value = ""
        if not pin:
            self.dismiss(PinEntry(None))
            return
        try:
            block = make_pin_block(self._pik, pin, self._pan)
        except InputError:
            self.refuse(say("pin_bad", self.lang))  # never echo the digits
            return
        self.dismiss(PinEntry(block))
