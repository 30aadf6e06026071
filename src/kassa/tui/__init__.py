"""The POS screen (Textual): `PosApp(terminal, lang)` and `run_pos_app(terminal, lang)` for
`kassa pos screen`. Chinese by default, English with ``lang="en"`` (L switches)."""

from __future__ import annotations

from kassa.tui.app import PosApp, run_pos_app

__all__ = ["PosApp", "run_pos_app"]
