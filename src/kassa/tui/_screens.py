"""Display screens: home menu with the status bar, processing, result, and plain text
(receipt preview, status, reprint)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from kassa.tui._text import MENU, Lang, say
from kassa.tui._views import View


def status_bar(status: dict[str, Any], lang: Lang) -> str:
    """The one line under the menu: who the terminal is and what is waiting."""
    signed = say("yes" if status.get("signed_on") else "no", lang)
    parts = (
        ("bar_tid", status.get("tid") or "-"), ("bar_batch", status.get("batch")),
        ("bar_signed", signed), ("bar_reversals", status.get("pending_reversals")),
        ("bar_saf", status.get("saf_count")), ("bar_print", status.get("queued_receipts")),
        ("bar_clock", f"{status.get('clock_offset_ms', 0)} ms"),
    )  # fmt: skip
    return "  │  ".join(f"{say(key, lang)} {value}" for key, value in parts)


class HomeScreen(Screen[None]):
    """The menu. Digit keys (and F1) start an operation; L switches the language."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "app.toggle_lang", "中/EN", show=False),
        *(
            Binding(key, f"app.start('{item.action}')", item.en, show=False)
            for item in MENU
            for key in item.keys
        ),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="home"):
            yield Static("", id="home-title", classes="title")
            for item in MENU:
                yield Static("", id=f"menu-{item.action}", classes="menu-item")
            yield Static("", id="home-hint", classes="hint")
        yield Static("", id="status-bar")

    def on_mount(self) -> None:
        self.redraw()
        self.set_interval(5, self.redraw)  # the SAF depth and reversals change by themselves

    def on_screen_resume(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        lang: Lang = getattr(self.app, "lang", "zh")
        self.query_one("#home-title", Static).update(say("title", lang))
        for item in MENU:
            self.query_one(f"#menu-{item.action}", Static).update(item.label(lang))
        self.query_one("#home-hint", Static).update(say("menu_hint", lang))
        status: dict[str, Any] = getattr(self.app, "terminal_status", dict)()
        self.query_one("#status-bar", Static).update(status_bar(status, lang))


class ProcessingScreen(Screen[None]):
    """Shown while the terminal talks to the host; `progress` (polled) adds a step line."""

    def __init__(self, text: str, hint: str, progress: Callable[[], str] | None = None) -> None:
        super().__init__()
        self.text, self.hint, self.progress = text, hint, progress

    def compose(self) -> ComposeResult:
        with Vertical(id="processing"):
            yield Static(self.text, classes="big doubt")
            yield Static("", id="progress")
            yield Static(self.hint, classes="hint")

    def on_mount(self) -> None:
        if self.progress is not None:
            self.set_interval(0.2, self._poll)

    def _poll(self) -> None:
        assert self.progress is not None
        self.query_one("#progress", Static).update(self.progress())


class ResultScreen(Screen[bool]):
    """The big result line and its details. Enter goes on (True), Esc back to menu."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "next(True)", "OK"),
        Binding("escape", "next(False)", "Menu"),
    ]

    def __init__(self, view: View, hint: str) -> None:
        super().__init__()
        self.view, self.hint = view, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="result"):
            yield Static(
                self.view.headline, id="headline", classes=f"big {self.view.tone}", markup=False
            )
            if self.view.amount:
                yield Static(self.view.amount, id="amount", classes="amount", markup=False)
            for line in self.view.lines:
                yield Static(line, classes="detail", markup=False)
            yield Static(self.hint, classes="hint")

    def action_next(self, go_on: bool) -> None:
        self.dismiss(go_on)


class TextScreen(Screen[None]):
    """A title over scrollable plain text (a slip keeps its columns). Enter or Esc closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "close", "OK"),
        Binding("escape", "close", "Menu"),
    ]

    def __init__(self, title: str, text: str, hint: str) -> None:
        super().__init__()
        self.title_text, self.text, self.hint = title, text, hint

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, classes="title")
        with VerticalScroll(id="text-body"):
            yield Static(self.text, id="text", markup=False)
        yield Static(self.hint, classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
