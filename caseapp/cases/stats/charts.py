"""Bar charts as inline SVG, drawn on the server (no script, no external resource)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

BAR = 18
GAP = 6
LABEL_W = 170
VALUE_W = 60
WIDTH = 640


def bar_chart(rows: Sequence[tuple[Any, ...]], title: str,
              label: Callable[[Any], str] = str) -> Markup:
    """Horizontal bars for (label, value) rows; accessible (role img, title, desc)."""
    values = [(label(r[0]), float(r[1] or 0)) for r in rows]
    if not values:
        return Markup("")
    top = max(v for _, v in values) or 1.0
    span = WIDTH - LABEL_W - VALUE_W
    height = len(values) * (BAR + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">',
             f"<title>{escape(title)}</title>",
             "<desc>" + escape("; ".join(f"{k}: {v:g}" for k, v in values)) + "</desc>"]
    for i, (name, value) in enumerate(values):
        y = GAP + i * (BAR + GAP)
        w = max(1, round(span * value / top)) if value else 0
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + BAR - 5}" text-anchor="end" '
                     f'font-size="12">{escape(name[:28])}</text>')
        parts.append(f'<rect x="{LABEL_W}" y="{y}" width="{w}" height="{BAR}" '
                     f'fill="#1f5fae"></rect>')
        parts.append(f'<text x="{LABEL_W + w + 4}" y="{y + BAR - 5}" font-size="12">'
                     f"{value:g}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is escaped or numeric
