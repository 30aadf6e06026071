"""Charts as inline SVG, drawn on the server (pure: figures in, markup out).

No chart library and no script: the dashboard's polling swaps in the SVG the API sends.
Every label is escaped; colours come from the stylesheet's classes (``bar-ok``,
``bar-bad``), so the SVG carries no inline style and works under a strict CSP.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

_W, _H = 600, 160


def _rect(css: str, x: float, y: float, width: float, height: float) -> str:
    return (
        f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"/>'
    )


_PAD_BOTTOM, _PAD_TOP = 18, 12


def _ceiling(value: int) -> int:
    """A round top for the axis, at least 1."""
    top = max(value, 1)
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000):
        if top <= step:
            return step
    return top


def minute_bars(
    minutes: Sequence[tuple[int, int, int]], labels: Sequence[str], title: str
) -> Markup:
    """Approvals (up, ``bar-ok``) and declines (stacked on top, ``bar-bad``) per minute.

    `minutes`: (minute start, approvals, declines); `labels`: one per minute (HH:MM).
    """
    top = _ceiling(max((a + d for _, a, d in minutes), default=0))
    plot_h = _H - _PAD_BOTTOM - _PAD_TOP
    slot = _W / max(len(minutes), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="axis" x="2" y="{_PAD_TOP - 2}">{top}</text>',
        f'<line class="axis" x1="0" y1="{_H - _PAD_BOTTOM}" x2="{_W}" y2="{_H - _PAD_BOTTOM}"/>',
    ]
    for i, ((_, ok, bad), label) in enumerate(zip(minutes, labels, strict=True)):
        x = i * slot + 1
        width = max(slot - 2, 1)
        ok_h = plot_h * ok / top
        bad_h = plot_h * bad / top
        base = _H - _PAD_BOTTOM
        tip = escape(f"{label}: {ok} / {bad}")
        parts.append(
            f"<g><title>{tip}</title>{_rect('bar-ok', x, base - ok_h, width, ok_h)}"
            f"{_rect('bar-bad', x, base - ok_h - bad_h, width, bad_h)}</g>"
        )
        if i % 5 == 0:
            parts.append(f'<text class="axis" x="{x:.1f}" y="{_H - 4}">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def count_bars(items: Sequence[tuple[str, int]], title: str, empty: str) -> Markup:
    """Horizontal bars, one per (label, count), longest first as given."""
    if not items:
        return Markup(f'<p class="muted">{escape(empty)}</p>')
    row_h = 22
    height = row_h * len(items) + 4
    top = max(count for _, count in items)
    label_w = 230
    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, count) in enumerate(items):
        y = i * row_h + 2
        width = (_W - label_w - 50) * count / max(top, 1)
        parts.append(
            f'<text class="label" x="0" y="{y + 15}">{escape(label[:30])}</text>'
            f"{_rect('bar-bad', label_w, y + 3, width, row_h - 6)}"
            f'<text class="label" x="{label_w + width + 4:.1f}" y="{y + 15}">{count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
