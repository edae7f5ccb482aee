"""One self-contained HTML page for a ``Comparison``: inline CSS, inline SVG, images as data URIs.

Nothing on the page refers to a network or a local file, so it can be mailed or archived as is.
Sections: the configurations and what tells them apart, final metrics (mean ± std over seeds, best
marked), metric-versus-step curves, per-class accuracy, the latest sample grid of each configuration,
and the list of runs.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import math
from html import escape
from pathlib import Path
from typing import Sequence

from PIL import Image

from gan_lab.report.aggregate import (GEOMETRY_KEYS, TRAINING_CURVES, Comparison, Configuration, Stat,
                                     best_configurations, curve, direction, final_geometry, final_stats, per_class,
                                     training_curve)
from gan_lab.report.svg import Series, colour, dash, line_chart

MAX_IMAGE_SIDE = 640  # sample grids larger than this are downscaled before embedding
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
    d = direction(m)
    arrow = f'<span class="dir">{ARROWS[d][0]} {ARROWS[d][1]}</span>' if d else '<span class="dir">&nbsp;</span>'
    return f'<th class="{cls}">{escape(m).replace("_", "_<wbr>")}{arrow}</th>'


def stat_cell(s: Stat, n_runs: int, best: bool, metric: str, c: Configuration, ref: bool = False) -> str:
    text = fmt(s.mean) + (" ★" if best else "")
    extra = []
    if s.n > 1:
        extra.append(f'<span class="std">± {fmt(s.std, 2)}</span>')
    if s.n < n_runs:
        extra.append(f'<span class="n">n={s.n}</span>')
    if extra:
        text += "<br>" + " ".join(extra)
    cls = "best" if best else ("ref" if ref else "")
    return (f'<td class="{cls}" data-metric="{escape(metric)}" data-config="{c.index}" '
            f'title="{escape(metric)}: values {", ".join(fmt(v) for v in s.values) or "none"}">{text}</td>')


def metrics_table(cmp: Comparison, metrics: Sequence[str], references: Sequence[str] = (),
                  table_id: str = "final-metrics") -> str:
    best = {m: best_configurations(cmp.configs, m) for m in metrics}
    head = ('<tr><th class="cfg">configuration</th><th>seeds</th><th>step</th>'
            + "".join(metric_head(m) for m in metrics) + "".join(metric_head(m, "ref") for m in references)
            + "</tr>")
    rows = []
    for c in cmp.configs:
        n_runs = len(c.runs)
        steps = sorted({int(r.summary["step"]) for r in c.runs if r.summary is not None})
        step = "—" if not steps else (str(steps[0]) if len(steps) == 1 else f"{steps[0]}–{steps[-1]}")
        flag = (f' <span class="flag" title="{c.n_without_final} run(s) without a final evaluation: '
                f'their last periodic numbers are used">†{c.n_without_final}</span>') if c.n_without_final else ""
        seeds = ", ".join(escape(str(s)) for s in c.seeds)
        cells = [stat_cell(final_stats(c, m), n_runs, c.index in best[m], m, c) for m in metrics]
        cells += [stat_cell(final_stats(c, m), n_runs, False, m, c, ref=True) for m in references]
        rows.append(f'<tr data-config="{c.index}"><td class="cfg">{swatch(c)}{chips(c)}{flag}</td>'
                    f'<td>{seeds} <span class="n">n={n_runs}</span></td><td>{step}</td>{"".join(cells)}</tr>')
    return f'<div class="scroll"><table id="{table_id}">{head}{"".join(rows)}</table></div>'


def final_section(cmp: Comparison) -> str:
    """The overall metrics table, then per-group breakdowns ("<tag>/<metric>") in a second table if any."""
    if not cmp.metrics and not cmp.references:
        return '<p class="empty">No evaluations recorded in these runs (metrics.jsonl missing or empty).</p>'
    overall = [m for m in cmp.metrics if "/" not in m]
    groups = [m for m in cmp.metrics if "/" in m]
    html = metrics_table(cmp, overall, cmp.references)
    notes = ["mean ± sample standard deviation over seeds (ddof = 1); n is shown where a metric is missing for "
             "some seeds", "★ best configuration per metric (by mean; marked when two or more configurations have a value)"]
    if any(c.n_without_final for c in cmp.configs):
        notes.append("† runs without a final evaluation: their last periodic evaluation is used (fewer samples, "
                     "and final-only metrics are missing)")
    if cmp.references:
        notes.append("grey columns: the evaluation classifier's accuracy on real data (a reference, not ranked)")
    if cmp.empty_metrics:
        notes.append("recorded but never finite, not shown: " + ", ".join(cmp.empty_metrics))
    html += f'<p class="note">{"; ".join(escape(n) for n in notes)}.</p>'
    if groups:
        html += "<h3>By group</h3>" + metrics_table(cmp, groups, (), "group-metrics")
    return html


def curves_section(cmp: Comparison) -> str:
    cards = []
    for m in (m for m in cmp.metrics if "/" not in m):
        series = [Series(c.label_text, c.index, curve(c, m)) for c in cmp.configs]
        if max((len(s.points) for s in series), default=0) < 2:
            continue
        d = direction(m)
        arrow = f'<span class="dir">{ARROWS[d][0]} {ARROWS[d][1]}</span>' if d else ""
        cards.append(f'<div class="card"><h3>{escape(m)}{arrow}</h3>{line_chart(series)}</div>')
    if not cards:
        return '<p class="empty">No curves: each run has at most one evaluation of each metric.</p>'
    return (legend(cmp.configs) + '<div class="grid">' + "".join(cards) + "</div>"
            '<p class="note">Mean over seeds at each evaluated step; the ringed point is the final evaluation '
            "(usually on more samples than the periodic ones). Metrics evaluated only once are in the table.</p>")


def training_section(cmp: Comparison) -> str:
    """Curves of the critic, the per-term gradient norms and the label geometry (train_metrics.jsonl)."""
    cards = []
    for key in TRAINING_CURVES:
        series = [Series(c.label_text, c.index, training_curve(c, key)) for c in cmp.configs]
        if max((len(s.points) for s in series), default=0) < 2:
            continue
        cards.append(f'<div class="card"><h3>{escape(key)}</h3>{line_chart(series)}</div>')
    if not cards:
        return '<p class="empty">No training curves (train_metrics.jsonl missing: runs from before it existed).</p>'
    return (legend(cmp.configs) + '<div class="grid">' + "".join(cards) + "</div>"
            '<p class="note">Mean over seeds. train/*: the loss terms every trainer.log_every_n_steps; grad/*: norm '
            "of each weighted term's gradient on D's last shared layer (d_*, gp) or on G's output (g_*); "
            "geometry/*: the discriminator embedding φ against the class directions (angles in degrees), on a "
            "fixed batch of real images and their translations.</p>")


def geometry_section(cmp: Comparison, scores: Sequence[str] = ("gan_test", "gan_train", "fid_clf")) -> str:
    """Scores and the final label geometry side by side, one row per configuration (mean ± std over seeds)."""
    keys = [k for k in GEOMETRY_KEYS if any(final_geometry(c, k).n for c in cmp.configs)]
    scores = [m for m in scores if any(final_stats(c, m).n for c in cmp.configs)]
    if not keys:
        return '<p class="empty">No label-geometry diagnostics in these runs (diagnostics.every_n_steps=0?).</p>'

    def cell(s: Stat) -> str:
        return f"<td>{fmt(s.mean)}" + (f" ± {fmt(s.std, 2)}" if s.n > 1 else "") + "</td>"

    head = ('<tr><th class="cfg">configuration</th>' + "".join(f"<th>{escape(m)}</th>" for m in scores)
            + "".join(f"<th>{escape(k.partition('/')[2])}</th>" for k in keys) + "</tr>")
    rows = [f'<tr><td class="cfg">{swatch(c)}{chips(c)}</td>' + "".join(cell(final_stats(c, m)) for m in scores)
            + "".join(cell(final_geometry(c, k)) for k in keys) + "</tr>" for c in cmp.configs]
    return ('<div class="scroll"><table>' + head + "".join(rows) + "</table></div>"
            '<p class="note">Geometry: the last diagnostics of each run (a fixed real batch and its translations): '
            "norm of φ, cos θ between φ and its class direction for real and generated images, mean angle (°) "
            "between embeddings of one class and between class means, the smallest angle between two class "
            "directions, and the critic's real − fake gap.</p>")


def heat(v: float) -> str:
    """White (0) to green (1) background for an accuracy."""
    if not math.isfinite(v):
        return "#fff"
    t = min(max(v, 0.0), 1.0)
    r, g, b = (int(255 + (a - 255) * t) for a in (46, 160, 67))
    return f"rgb({r},{g},{b})" + (";color:#fff" if t > 0.6 else "")


def per_class_section(cmp: Comparison) -> str:
    table = {c.index: per_class(c) for c in cmp.configs}
    k = max((len(v) for v in table.values()), default=0)
    if k == 0:
        return ('<p class="empty">No per-class accuracy in these runs (it is recorded by the <code>scores</code> '
                "metric).</p>")
    head = '<tr><th class="cfg">configuration</th>' + "".join(f"<th>{i}</th>" for i in range(k)) + "</tr>"
    rows = []
    for c in cmp.configs:
        stats = table[c.index]
        cells = []
        for i in range(k):
            s = stats[i] if i < len(stats) else Stat([])
            tip = f"class {i}: " + (f"{fmt(s.mean)} ± {fmt(s.std, 2)} (n={s.n})" if s.n else "no value")
            value = f"{s.mean:.2f}" if s.n else "—"
            cells.append(f'<td class="heat" style="background:{heat(s.mean)}" title="{escape(tip)}">{value}</td>')
        rows.append(f'<tr><td class="cfg">{swatch(c)}{chips(c)}</td>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table id="per-class">{head}{"".join(rows)}</table></div><p class="note">Accuracy of the evaluation '
            "classifier on generated images of each target class (final evaluation, mean over seeds; hover for "
            "± std). Columns are class indices.</p>")


def data_uri(path: Path, max_side: int = MAX_IMAGE_SIDE) -> str:
    """The PNG as a data URI; re-encoded smaller when its longer side exceeds ``max_side``."""
    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as img:
        if max(img.size) > max_side:
            img = img.convert("RGB") if img.mode not in ("L", "RGB", "RGBA") else img
            img.thumbnail((max_side, max_side), Image.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
            raw = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def samples_section(cmp: Comparison) -> str:
    figs, missing = [], []
    for c in cmp.configs:
        run = next((r for r in c.runs if r.latest_sample), None)
        if run is None:
            missing.append(c.label_text)
            continue
        step, path = run.latest_sample
        try:
            uri = data_uri(path)
        except Exception as e:  # a truncated PNG must not sink the whole page
            missing.append(f"{c.label_text} ({path.name}: {e})")
            continue
        figs.append(f'<figure><img src="{uri}" alt="samples of {escape(c.label_text)}">'
                    f"<figcaption>{swatch(c)}{chips(c)}<br>seed {escape(str(run.seed))}, step {step} "
                    f'<span class="n">{escape(path.name)}</span></figcaption></figure>')
    if not figs:
        return '<p class="empty">No sample grids (samples/step_*.png) in these runs.</p>'
    note = ('<p class="note">The latest grid of the first seed of each configuration. Translation grids: the first '
            "row holds the fixed inputs, then one row per target class.")
    if missing:
        note += " No grid for: " + escape("; ".join(missing)) + "."
    return '<div class="grid">' + "".join(figs) + "</div>" + note + "</p>"


def runs_section(cmp: Comparison) -> str:
    rows = []
    for c in cmp.configs:
        for r in c.runs:
            last = r.summary
            status = ("final" if r.has_final else '<span class="flag">periodic only †</span>') if last else "no evaluations"
            rows.append(f'<tr><td class="cfg">{swatch(c)}{chips(c)}</td><td>{escape(str(r.seed))}</td>'
                        f'<td>{int(last["step"]) if last else "—"}</td><td>{status}</td><td>{len(r.records)}</td>'
                        f'<td>{len(r.samples)}</td><td class="path">{escape(str(r.path))}</td></tr>')
    return ('<div class="scroll"><table id="runs"><tr><th class="cfg">configuration</th><th>seed</th><th>last step</th>'
            '<th>last evaluation</th><th>evaluations</th><th>sample grids</th><th class="path">directory</th></tr>'
            + "".join(rows) + "</table></div>")


def render(cmp: Comparison, sources: Sequence[str] = (), title: str = "gan_lab run comparison") -> str:
    n_runs, n_cfg = len(cmp.runs), len(cmp.configs)
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    origin = f" · from {escape(', '.join(map(str, sources)))}" if sources else ""
    sub = f"{n_runs} run{'s' * (n_runs != 1)} in {n_cfg} configuration{'s' * (n_cfg != 1)}{origin} · generated {when}"
    if cmp.differing:
        differ = "Configurations differ in " + " ".join(f'<span class="chip">{escape(k)}</span>' for k in cmp.differing)
    else:
        differ = ("One run." if n_runs == 1 else "All runs share one configuration (they differ only in seed).")
    warn = ""
    if cmp.warnings:
        warn = '<div class="warn"><b>Warnings</b><ul>' + "".join(f"<li>{escape(w)}</li>" for w in cmp.warnings) + "</ul></div>"
    body = [f"<h1>{escape(title)}</h1>", f'<p class="sub">{sub}</p>', f"<p>{differ}</p>", warn,
            "<h2>Final metrics</h2>", final_section(cmp),
            "<h2>Scores and label geometry</h2>", geometry_section(cmp),
            "<h2>Metrics over training</h2>", curves_section(cmp),
            "<h2>Critic, gradients and label geometry</h2>", training_section(cmp),
            "<h2>Per-class accuracy</h2>", per_class_section(cmp),
            "<h2>Samples</h2>", samples_section(cmp),
            "<h2>Runs</h2>", runs_section(cmp)]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body>{"".join(body)}</body></html>\n')


def write_html(cmp: Comparison, out: str | Path, sources: Sequence[str] = (), title: str | None = None) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(cmp, sources, title or "gan_lab run comparison"), encoding="utf-8")
    return out
