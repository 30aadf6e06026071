"""`kassa explain CODE`: what a response code or local fault means and what to do about it.

Exit status: 0 when the code is in the guide; 1 when it is not (the generic "transaction
failed" entry is still printed, with a note), so scripts can tell the two apart; 2 for a
bad option such as an unknown `--lang` (printed as one line by the `kassa` wrapper).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kassa.errors import InputError
from kassa.guide import (
    GuideEntry,
    Lang,
    as_dict,
    cause_label,
    heading,
    is_known,
    lookup,
    outcome_label,
)

_LANGS: dict[str, tuple[Lang, ...]] = {"zh": ("zh",), "en": ("en",), "both": ("zh", "en")}
_COLUMN_TITLES: dict[Lang, str] = {"zh": "中文", "en": "English"}
_TEXT_PARTS = ("meaning", "screen", "cause", "outcome", "cashier", "action")
_FLAG_PARTS = ("resign_on", "reverse", "retain_card")
_YES_NO: dict[Lang, tuple[str, str]] = {"zh": ("是", "否"), "en": ("yes", "no")}


def _languages(lang: str) -> tuple[Lang, ...]:
    languages = _LANGS.get(lang.strip().lower())
    if languages is None:
        raise InputError(f"--lang {lang!r} is not one of zh, en, both; pick one of them")
    return languages


def _value(entry: GuideEntry, part: str, lang: Lang) -> str:
    if part == "cause":
        return cause_label(entry.cause, lang)
    if part == "outcome":
        return outcome_label(entry.outcome, lang)
    if part in _FLAG_PARTS:
        yes, no = _YES_NO[lang]
        return yes if getattr(entry, part) else no
    return entry.pick(part, lang)


def _table(entry: GuideEntry, languages: tuple[Lang, ...]) -> Table:
    table = Table(show_header=len(languages) > 1, expand=True)
    table.add_column("", style="bold", no_wrap=True)
    for lang in languages:
        table.add_column(_COLUMN_TITLES[lang], overflow="fold", ratio=1)
    for part in _TEXT_PARTS + _FLAG_PARTS:
        label = "\n".join(heading(part, lang) for lang in languages)
        # Text(), not markup: guide texts are data and may hold square brackets.
        table.add_row(label, *(Text(_value(entry, part, lang)) for lang in languages))
    return table


def _note(code: str, languages: tuple[Lang, ...]) -> str:
    notes = {
        "zh": f"代码 {code} 不在指南中，以下为通用条目",
        "en": f"code {code} is not in the guide; this is the generic entry",
    }
    return " / ".join(notes[lang] for lang in languages)


def explain(
    code: Annotated[
        str,
        typer.Argument(
            help="A host response code (51, A0) or a local fault name (host_unreachable).",
            show_default=False,
        ),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the entry as one JSON object.")
    ] = False,
    lang: Annotated[str, typer.Option("--lang", help="zh, en or both")] = "both",
) -> None:
    """Explain a response code or fault: meaning, cause, what to tell the customer, what to do.

    Exits 1 when the code is not in the guide (the generic entry is still shown).
    """
    languages = _languages(lang)
    entry = lookup(code)
    known = is_known(code)
    if json_out:
        typer.echo(json.dumps(as_dict(entry), ensure_ascii=False))
        if not known:
            typer.echo(_note(entry.code, languages), err=True)
    else:
        console = Console(highlight=False)
        title = " / ".join(entry.pick("screen", lang) for lang in languages)
        panel = Panel(_table(entry, languages), title=Text(f"{entry.code}  {title}"))
        console.print(panel)
        if not known:
            console.print(Text(_note(entry.code, languages), style="yellow"))
    if not known:
        raise typer.Exit(code=1)
