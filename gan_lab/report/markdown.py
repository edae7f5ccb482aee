"""The final-metrics table of a comparison as Markdown (for a README or a paper draft).

Same numbers as the HTML page: mean ± sample std (ddof = 1) over seeds, best configuration in bold.
"""

from __future__ import annotations

from typing import Sequence

from gan_lab.report.aggregate import Comparison, best_configurations, final_stats


def _cell(mean: float, std: float, n: int, n_runs: int, best: bool, digits: int) -> str:
    if n == 0:
        return "—"
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if n > 1 else "")
    if n < n_runs:
        text += f" (n={n})"
    return f"**{text}**" if best else text


def markdown_table(cmp: Comparison, metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """One row per configuration, one column per metric (overall metrics and references by default)."""
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
    return "\n".join(lines) + "\n"
