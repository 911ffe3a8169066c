"""Bar charts as HTML: no script, no SVG text, readable at 390 px.

Each bar is a list item: the label and the count are ordinary text on their own line (a long
label wraps, it never runs over the count), the bar itself a small ``<svg>`` rectangle below
them that stretches to the width of the screen. The list is its own text equivalent.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from website.explain import DivisionGroup


def _bar(label: str, n: int, top: int) -> str:
    width = 100 * n / (top or 1)
    return (
        f'<li><span class="bar-label">{escape(label)}</span> <span class="bar-value">{n}</span>'
        '<svg class="bar" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true" '
        f'focusable="false"><rect width="{width:.2f}" height="1"/></svg></li>'
    )


def bar_chart(title: str, bars: Sequence[tuple[str, int]]) -> str:
    """A horizontal bar chart as an ``<ol>`` (empty string when there is no data)."""
    if not bars:
        return ""
    top = max(n for _, n in bars)
    return (
        f'<ol class="bars" aria-label="{escape(title)}">'
        + "".join(_bar(label, n, top) for label, n in bars)
        + "</ol>"
    )


def division_chart(title: str, groups: Sequence[DivisionGroup]) -> str:
    """One bar per prefecture in code order; each opens (``<details>``, no script) onto a
    compact table of its counties, also in code order."""
    if not groups:
        return ""
    top = max(g.total for g in groups)
    items = []
    for g in groups:
        rows = "".join(
            f'<tr><td>{escape(name)}</td><td class="num">{n}</td></tr>' for _, name, n in g.counties
        )
        items.append(
            _bar(g.name, g.total, top).removesuffix("</li>")
            + f'<details class="counties"><summary>各区县（{len(g.counties)} 个）</summary>'
            f'<table class="counties"><thead><tr><th>区县</th><th class="num">户数</th>'
            f"</tr></thead><tbody>{rows}</tbody></table></details></li>"
        )
    return f'<ol class="bars" aria-label="{escape(title)}">' + "".join(items) + "</ol>"
