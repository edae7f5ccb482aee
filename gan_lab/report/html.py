"""One self-contained HTML page for a ``Comparison``: inline CSS, inline SVG, images as data URIs.

Nothing on the page refers to a network or a local file, so it can be mailed or archived as is.
Sections: the configurations and what tells them apart, final metrics (mean ± std over seeds, best
marked, the sanity rows below the configurations), the paired comparison with a chosen baseline
(html_paired.py), metric-versus-step curves, per-class accuracy, the latest sample grid of each
configuration, and the list of runs with each run's bootstrap intervals. Shared pieces: widgets.py.
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

from gan_lab.report.aggregate import (GEOMETRY_KEYS, TRAINING_CURVES, Comparison, Stat, best_configurations, curve,
                                     direction, final_geometry, final_stats, metric_label, per_class, training_curve)
from gan_lab.report.html_paired import paired_section
from gan_lab.report.runs import finite
from gan_lab.report.svg import Series, line_chart
from gan_lab.report.widgets import ARROWS, CSS, chips, fmt, legend, metric_head, stat_cell, swatch

MAX_IMAGE_SIDE = 640  # sample grids larger than this are downscaled before embedding


def sanity_table_rows(cmp: Comparison, columns: Sequence[str]) -> list[str]:
    """The sanity rows under the configurations (mean ± std over the runs that have the row; never best),
    when any of them has a value in ``columns``."""
    rows = [r for r in cmp.sanity if any(r.stat(m).n for m in columns)]
    out = []
    for i, r in enumerate(rows):
        owner = f'data-sanity="{escape(r.row)}"'
        steps = sorted({int(rec["step"]) for rec in r.records if isinstance(rec.get("step"), (int, float))})
        step = "—" if not steps else (str(steps[0]) if len(steps) == 1 else f"{steps[0]}–{steps[-1]}")
        cells = "".join(stat_cell(r.stat(m), len(r.records), False, m, owner, ref=True) for m in columns)
        out.append(f'<tr class="sanity{" first" if i == 0 else ""}" {owner}><td class="cfg" '
                   f'title="{escape(r.description)}">{escape(r.label)}</td>'
                   f'<td><span class="n">{r.runs_text}</span></td><td>{step}</td>{cells}</tr>')
    return out


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
        owner = f'data-config="{c.index}"'
        cells = [stat_cell(final_stats(c, m), n_runs, c.index in best[m], m, owner) for m in metrics]
        cells += [stat_cell(final_stats(c, m), n_runs, False, m, owner, ref=True) for m in references]
        rows.append(f'<tr data-config="{c.index}"><td class="cfg">{swatch(c)}{chips(c)}{flag}</td>'
                    f'<td>{seeds} <span class="n">n={n_runs}</span></td><td>{step}</td>{"".join(cells)}</tr>')
    rows += sanity_table_rows(cmp, [*metrics, *references])
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
        notes.append("grey columns: reference numbers, not ranked ("
                     + ", ".join(f"{m}: {metric_label(m) or 'a reference'}" for m in cmp.references) + ")")
    if cmp.empty_metrics:
        notes.append("recorded but never finite, not shown: " + ", ".join(cmp.empty_metrics))
    html += f'<p class="note">{"; ".join(escape(n) for n in notes)}.</p>'
    if any(r.stat(m).n for r in cmp.sanity for m in overall + cmp.references):
        kinds = {r.row: r.description for r in cmp.sanity}
        html += ('<p class="note"><b>Sanity rows</b> (grey, italic): the same metrics computed on a stand-in for the '
                 "generator, mean ± std over the runs that have the row; never ranked, never a baseline. "
                 + "; ".join(f"<i>{escape(k)}</i>: {escape(v)}" for k, v in kinds.items())
                 + ". A metric that ranks identity or template above real is broken.</p>")
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
                        f'<td>{int(last["step"]) if last else "—"}</td><td>{status}</td><td>{len(r.evaluations)}</td>'
                        f'<td>{len(r.samples)}</td><td class="path">{escape(str(r.path))}</td></tr>')
    return ('<div class="scroll"><table id="runs"><tr><th class="cfg">configuration</th><th>seed</th><th>last step</th>'
            '<th>last evaluation</th><th>evaluations</th><th>sample grids</th><th class="path">directory</th></tr>'
            + "".join(rows) + "</table></div>" + intervals_table(cmp))


def intervals_table(cmp: Comparison) -> str:
    """Each run's final value with its bootstrap 95 % interval (``<metric>_ci_lo``/``_ci_hi``), for the metrics
    that have one in some run ("" when none does)."""
    def interval(run, m):
        rec = run.final or {}
        lo, hi = rec.get(f"{m}_ci_lo"), rec.get(f"{m}_ci_hi")
        return (float(lo), float(hi)) if finite(lo) and finite(hi) else None

    metrics = [m for m in cmp.metrics if any(interval(r, m) for r in cmp.runs)]
    if not metrics:
        return ""
    rows = []
    for c in cmp.configs:
        for r in c.runs:
            cells = []
            for m in metrics:
                ci, v = interval(r, m), (r.final or {}).get(m)
                value = fmt(float(v)) if isinstance(v, (int, float)) else "—"
                cells.append(f'<td data-metric="{escape(m)}">{value}'
                             + (f'<span class="ci">[{fmt(ci[0])}, {fmt(ci[1])}]</span>' if ci else "") + "</td>")
            rows.append(f'<tr><td class="cfg">{swatch(c)}{chips(c)}</td><td>{escape(str(r.seed))}</td>'
                        f'{"".join(cells)}</tr>')
    head = '<tr><th class="cfg">configuration</th><th>seed</th>' + "".join(metric_head(m) for m in metrics) + "</tr>"
    return ("<h3>Bootstrap intervals of each run's final evaluation</h3>"
            f'<div class="scroll"><table id="run-intervals">{head}{"".join(rows)}</table></div>'
            '<p class="note">Value and [95 % interval] from resampling the generated set of that one evaluation: how '
            "far the number would move with another draw of noise / targets for the same trained model. It does not "
            "cover the training seed, which usually moves numbers more: compare configurations with the mean ± std "
            "over seeds and the paired comparison.</p>")


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
            "<h2>Paired comparison with a baseline</h2>", paired_section(cmp),
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
    # errors="replace": a directory name that is not UTF-8 (undecodable bytes) shows as U+FFFD, not a crash
    out.write_text(render(cmp, sources, title or "gan_lab run comparison"), encoding="utf-8", errors="replace")
    return out
