"""The page's paired-comparison section: every configuration against the baseline chosen with ``baseline=``.

One row per (configuration, ranked metric): pairs, mean difference (config − baseline), its 95 % Student-t
interval, the paired t-test's p-value and the verdict (gan_lab.report.paired); hover a row for the paired
seeds and their differences. Without a baseline the section says how to choose one.
"""

from __future__ import annotations

from html import escape

from gan_lab.report.aggregate import Comparison
from gan_lab.report.baseline import MetricPairs, VersusBaseline
from gan_lab.report.paired import BETTER, WORSE
from gan_lab.report.text import ARROW, HOW, interval, num, p_value, unpaired_notes, weights_note
from gan_lab.report.widgets import chips, swatch

VERDICT_CLASS = {BETTER: "better", WORSE: "worse"}  # anything else: "none" (grey)


def _row(r: MetricPairs) -> str:
    t = r.test
    tip = (f"seeds {', '.join(map(str, r.seeds)) or 'none'}; differences "
           f"{', '.join(num(d) for d in r.differences) or 'none'}; t = {num(t.t)}, {max(t.n - 1, 0)} df")
    return (f'<td data-metric="{escape(r.metric)}">{escape(r.metric)}<span class="dir">{ARROW[r.direction]}</span></td>'
            f"<td>{t.n}</td><td>{num(t.mean)}</td><td>{interval(t.ci_lo, t.ci_hi)}</td><td>{p_value(t.p)}</td>"
            f'<td class="{VERDICT_CLASS.get(t.verdict, "none")}" title="{escape(tip)}">{escape(t.verdict)}</td>')


def _block(vs: VersusBaseline) -> str:
    notes = [n for n in (weights_note(vs), *unpaired_notes(vs)) if n]
    cfg = (f'<td class="cfg" rowspan="{max(len(vs.rows), 1)}">{swatch(vs.config)}{chips(vs.config)}'
           + "".join(f'<span class="n" style="display:block">{escape(n)}</span>' for n in notes) + "</td>")
    if not vs.rows:
        return f'<tr data-config="{vs.config.index}">{cfg}<td colspan="6" class="none">no ranked metric</td></tr>'
    return "".join(f'<tr data-config="{vs.config.index}">{cfg if i == 0 else ""}{_row(r)}</tr>'
                   for i, r in enumerate(vs.rows))


def paired_section(cmp: Comparison) -> str:
    if cmp.baseline is None:
        if len(cmp.configs) < 2:
            return '<p class="empty">One configuration: nothing to compare.</p>'
        return ('<p class="empty">No baseline chosen. <code>baseline=N</code> (the configuration\'s number on the '
                "console) or <code>baseline=head.name=softmax</code> tests every other configuration against it, "
                "paired by seed.</p>")
    b = cmp.baseline
    head = f'<p>Baseline: {swatch(b)}{chips(b)} <span class="n">seeds {escape(", ".join(map(str, b.seeds)))}</span></p>'
    if not cmp.paired:
        return head + '<p class="empty">Only one configuration: nothing to compare with the baseline.</p>'
    table = ('<div class="scroll"><table id="paired"><tr><th class="cfg">configuration</th><th>metric</th>'
             "<th>pairs</th><th>Δ (config − baseline)</th><th>95 % interval</th><th>p</th><th>verdict</th></tr>"
             + "".join(_block(vs) for vs in cmp.paired) + "</table></div>")
    note = (f'<p class="note">{escape(HOW)}. "no evidence" means the interval holds 0: the data do not show a '
            "difference, which is not the same as showing there is none. With 3 seeds the interval is ±4.3 standard "
            "errors wide: only a mean difference above about 2.5× the standard deviation of the per-seed differences "
            "can show. Each row is its own "
            "test at the 5 % level, with no correction for testing many metrics and configurations. Hover a verdict "
            "for the seeds and differences.</p>")
    return head + table + note
