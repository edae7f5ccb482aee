"""The comparison as Markdown (for a README or a paper draft): the final-metrics table and, when a baseline
was chosen, the paired comparison with it.

Same numbers as the HTML page: mean ± sample std (ddof = 1) over seeds, best configuration in bold, the
sanity rows (stand-ins for the generator, never ranked) below the configurations; the paired table is
gan_lab.report.paired's t-test, formatted as on the console.
"""

from __future__ import annotations

from typing import Sequence

from gan_lab.report.aggregate import Comparison, best_configurations, final_stats
from gan_lab.report.text import HOW, interval, num, p_value, weights_note


def _cell(mean: float, std: float, n: int, n_runs: int, best: bool, digits: int) -> str:
    if n == 0:
        return "—"
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if n > 1 else "")
    if n < n_runs:
        text += f" (n={n})"
    return f"**{text}**" if best else text


def markdown_table(cmp: Comparison, metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """One row per configuration, then one per sanity row (italic), one column per metric (overall metrics
    and references by default); a note on the sanity rows below the table when there are any."""
    metrics = list(metrics) if metrics is not None else [m for m in cmp.metrics if "/" not in m] + cmp.references
    best = {m: best_configurations(cmp.configs, m) if m not in cmp.references else set() for m in metrics}
    lines = ["| configuration | seeds | " + " | ".join(metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for c in cmp.configs:
        cells = []
        for m in metrics:
            s = final_stats(c, m)
            cells.append(_cell(s.mean, s.std, s.n, len(c.runs), c.index in best[m], digits))
        seeds = ",".join(str(x) for x in c.seeds)
        lines.append(f"| {c.label_text} | {seeds} | " + " | ".join(cells) + " |")
    rows = [r for r in cmp.sanity if any(r.stat(m).n for m in metrics)]
    for r in rows:
        cells = [_cell(s.mean, s.std, s.n, len(r.records), False, digits) for s in (r.stat(m) for m in metrics)]
        lines.append(f"| *{r.label}* | {r.runs_text} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if rows:
        kinds = {r.row: r.description for r in rows}
        text += ("\nSanity rows (never ranked): the same metrics on a stand-in for the generator, mean ± std over "
                 "the runs that have the row — " + "; ".join(f"{k}: {v}" for k, v in kinds.items())
                 + ". A metric that ranks identity or template above real is broken.\n")
    return text


def paired_markdown(cmp: Comparison) -> str:
    """The paired comparison with the baseline as a second table ("" when no baseline was chosen)."""
    if cmp.baseline is None:
        return ""
    b = cmp.baseline
    head = f"Paired with baseline `{b.label_text}`. {HOW}.\n\n"
    if not cmp.paired:
        return head + "Only one configuration: nothing to compare with the baseline.\n"
    lines = ["| configuration | metric | pairs | Δ (config − baseline) | 95 % interval | p | verdict |",
             "|---|---|---|---|---|---|---|"]
    notes = []
    for vs in cmp.paired:
        for r in vs.rows:
            t = r.test
            lines.append(f"| {vs.config.label_text} | {r.metric} | {t.n} | {num(t.mean)} | "
                         f"{interval(t.ci_lo, t.ci_hi)} | {p_value(t.p)} | {t.verdict} |")
        if note := weights_note(vs):
            notes.append(f"{vs.config.label_text}: {note}.")
    return head + "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def markdown_report(cmp: Comparison) -> str:
    """What ``markdown=`` writes: the final-metrics table, then the paired table when there is a baseline."""
    paired = paired_markdown(cmp)
    return markdown_table(cmp) + ("\n" + paired if paired else "")
