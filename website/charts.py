"""Inline SVG bar charts: no script, readable at phone width, with a text equivalent."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR_H = 22
GAP = 6
LABEL_W = 46  # percent of the width for labels


def bar_chart(title: str, bars: Sequence[tuple[str, int]]) -> str:
    """A horizontal bar chart as an ``<svg>`` element (empty string when there is no data)."""
    if not bars:
        return ""
    top = max(n for _, n in bars) or 1
    height = len(bars) * (BAR_H + GAP) + GAP
    rows = []
    for i, (label, n) in enumerate(bars):
        y = GAP + i * (BAR_H + GAP)
        width = (100 - LABEL_W - 10) * n / top
        rows.append(
            f'<text x="0" y="{y + BAR_H - 6}" class="lbl">{escape(label)}</text>'
            f'<rect x="{LABEL_W}%" y="{y}" width="{width:.2f}%" height="{BAR_H}" class="bar"/>'
            f'<text x="{LABEL_W + width + 1:.2f}%" y="{y + BAR_H - 6}" class="val">{n}</text>'
        )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="100%" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(rows)
        + "</svg>"
    )
