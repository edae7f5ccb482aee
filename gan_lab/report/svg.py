"""Small inline-SVG line charts (no plotting library, no JavaScript): one line per series.

Hovering a point shows its value through an SVG ``<title>`` (native browser tooltip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

# Tableau 10: distinguishable, colour-blind-friendlier than defaults; series past 10 reuse it dashed.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac"]


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    return "" if i < len(PALETTE) else "6 4"


@dataclass
class Series:
    name: str
    index: int  # colour / dash index
    points: Sequence[tuple[float, float, int, bool]]  # (x, y, n, emphasised: the final evaluation)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5, 5 × 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * mag) <= n)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [start]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(start + len(ticks) * step)
    return [round(t, 12) for t in ticks]


def fmt_tick(v: float) -> str:
    return f"{v:g}"


def line_chart(series: Sequence[Series], width: int = 360, height: int = 220, x_label: str = "step") -> str:
    """An ``<svg>`` with axes, grid, one polyline + dots per series; non-finite points are skipped."""
    pts = [(x, y) for s in series for x, y, _, _ in s.points if math.isfinite(x) and math.isfinite(y)]
    if not pts:
        return '<p class="empty">no finite values</p>'
    left, right, top, bottom = 56, 14, 12, 38
    xt = nice_ticks(min(p[0] for p in pts), max(p[0] for p in pts), 5)
    yt = nice_ticks(min(p[1] for p in pts), max(p[1] for p in pts), 4)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw, ph = width - left - right, height - top - bottom

    def sx(x):
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y):
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" font-size="11" font-family="inherit">']
    for t in yt:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e6e8eb"/>')
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" fill="#555">{fmt_tick(t)}</text>')
    for t in xt:
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top}" y2="{top + ph}" stroke="#f0f1f3"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 15}" text-anchor="middle" fill="#555">{fmt_tick(t)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#c9cdd2"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle" fill="#333">{escape(x_label)}</text>')
    for s in series:
        c, d = colour(s.index), dash(s.index)
        good = [(x, y, n, f) for x, y, n, f in s.points if math.isfinite(x) and math.isfinite(y)]
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _, _ in good)
            out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2.2" '
                       f'stroke-linejoin="round"{f" stroke-dasharray={chr(34)}{d}{chr(34)}" if d else ""}/>')
        for x, y, n, final in good:
            tip = escape(f"{s.name}\nstep {x:g}: {y:.4g} (mean of {n}){' — final evaluation' if final else ''}")
            if final:
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="#fff" stroke="{c}" '
                           f'stroke-width="2.5"><title>{tip}</title></circle>')
            else:
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{c}"><title>{tip}</title></circle>')
    out.append("</svg>")
    return "".join(out)
