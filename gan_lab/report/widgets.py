"""Small HTML pieces shared by the page's sections: the style sheet, number cells, column heads, the
colour swatch and label chips of a configuration."""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

from gan_lab.report.aggregate import Configuration, Stat, direction, metric_label
from gan_lab.report.svg import colour, dash

ARROWS = {"min": ("↓", "lower is better"), "max": ("↑", "higher is better")}

CSS = """
:root{--ink:#1f2328;--mute:#59636e;--line:#d8dee4;--soft:#f6f8fa;--best:#dafbe1;--bestink:#116329}
*{box-sizing:border-box}
body{margin:0;padding:28px 36px 60px;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:34px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.sub{color:var(--mute);margin:0 0 14px}.empty{color:var(--mute);font-style:italic;margin:6px 0}
.note{color:var(--mute);font-size:12.5px;margin:8px 0 0}
.warn{background:#fff8c5;border:1px solid #d4a72c66;border-radius:6px;padding:8px 14px;margin:12px 0}
.warn li{margin:2px 0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:6px 10px;text-align:right;white-space:nowrap;vertical-align:middle}
th{background:var(--soft);font-weight:600;font-size:12.5px;white-space:normal;min-width:64px}
.scroll{overflow-x:auto;max-width:100%}
th.cfg,td.cfg{text-align:left;white-space:normal;min-width:200px;max-width:420px}
td.best{background:var(--best);color:var(--bestink);font-weight:700}
td.ref,th.ref{color:var(--mute)}
.std{color:var(--mute);font-weight:400;font-size:12px}.best .std{color:var(--bestink)}
.n{color:var(--mute);font-size:11px;font-weight:400}
.dir{font-weight:400;color:var(--mute);font-size:11px;display:block}
.sw{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px;vertical-align:-1px}
.chip{display:inline-block;background:#eef1f4;border-radius:10px;padding:1px 8px;margin:1px 2px;font-size:12.5px;
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:6px 0 12px}
.grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px 4px;background:#fff}
.card h3{font-size:13.5px;margin:0 0 4px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.card h3 .dir{display:inline;margin-left:6px;font-family:-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px;background:var(--soft);width:360px}
figure img{display:block;margin:0 auto;image-rendering:pixelated;max-width:100%;max-height:560px;height:auto;background:#fff}
figcaption{margin-top:8px;font-size:12.5px}
td.heat{min-width:52px}
.flag{color:#9a6700;font-weight:700}
.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;text-align:left}
tr.sanity td{color:var(--mute);font-style:italic;background:#fbfbfc}tr.sanity.first td{border-top:2px solid var(--line)}
td.better{background:var(--best);color:var(--bestink);font-weight:700}
td.worse{background:#ffebe9;color:#a40e26;font-weight:700}
td.none{color:var(--mute)}.ci{color:var(--mute);font-size:11px;display:block}
"""


def fmt(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}g}" if math.isfinite(v) else "—"


def swatch(c: Configuration) -> str:
    col = colour(c.index)
    if dash(c.index):  # past the palette the curves are dashed: stripe the swatch to match
        col = f"repeating-linear-gradient(135deg,{col} 0 3px,#fff 3px 5px)"
    return f'<span class="sw" style="background:{col}"></span>'


def chips(c: Configuration) -> str:
    return "".join(f'<span class="chip">{escape(part)}</span>' for part in c.label_text.split(" "))


def legend(configs: Sequence[Configuration]) -> str:
    return '<div class="legend">' + "".join(f"<span>{swatch(c)}{chips(c)}</span>" for c in configs) + "</div>"


def metric_head(m: str, cls: str = "") -> str:
    """A column head: the key, its direction, and its declared label on hover."""
    d = direction(m)
    arrow = f'<span class="dir">{ARROWS[d][0]} {ARROWS[d][1]}</span>' if d else '<span class="dir">&nbsp;</span>'
    label = metric_label(m)
    tip = f' title="{escape(label)}"' if label else ""
    return f'<th class="{cls}"{tip}>{escape(m).replace("_", "_<wbr>")}{arrow}</th>'


def stat_cell(s: Stat, n_runs: int, best: bool, metric: str, owner: str, ref: bool = False) -> str:
    """Mean ★ / ± std / n; ``owner``: the row's data attribute (``data-config="0"``, ``data-sanity="real"``)."""
    text = fmt(s.mean) + (" ★" if best else "")
    extra = []
    if s.n > 1:
        extra.append(f'<span class="std">± {fmt(s.std, 2)}</span>')
    if 0 < s.n < n_runs:
        extra.append(f'<span class="n">n={s.n}</span>')
    if extra:
        text += "<br>" + " ".join(extra)
    cls = "best" if best else ("ref" if ref else "")
    return (f'<td class="{cls}" data-metric="{escape(metric)}" {owner} '
            f'title="{escape(metric)}: values {", ".join(fmt(v) for v in s.values) or "none"}">{text}</td>')
