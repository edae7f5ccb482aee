"""The comparison as console lines: the numbered configurations and the paired comparison with the baseline.

The number formats here (``num``, ``p_value``, ``interval``) are shared with the Markdown and HTML tables so
a number reads the same everywhere.
"""

from __future__ import annotations

import math

from gan_lab.report.aggregate import Comparison, head_weight
from gan_lab.report.baseline import VersusBaseline

ARROW = {"min": "lower is better", "max": "higher is better"}
HOW = ("Δ: mean over the seeds both have of config − baseline (final evaluations only), with its 95 % "
       "Student-t interval; p: two-sided paired t-test; better/worse only when the interval excludes 0")


def num(v: float, digits: int = 4) -> str:
    """``digits`` significant digits; "—" for NaN; ±inf as "inf"."""
    return f"{v:.{digits}g}" if math.isfinite(v) else ("—" if math.isnan(v) else f"{v:g}")


def p_value(p: float) -> str:
    if math.isnan(p):
        return "—"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def interval(lo: float, hi: float) -> str:
    return "—" if math.isnan(lo) else f"[{num(lo)}, {num(hi)}]"


def configuration_lines(cmp: Comparison) -> list[str]:
    """``  [i] label  seeds a,b,c`` per configuration: the numbers ``baseline=`` accepts."""
    return [f"  [{c.index}] {c.label_text}  seeds {','.join(str(s) for s in c.seeds)}" for c in cmp.configs]


def weights_note(vs: VersusBaseline) -> str:
    """"λ_cls in use a vs b" when the runs record it, with a warning when the two weights differ."""
    mine, base = head_weight(vs.config).mean, head_weight(vs.baseline).mean
    if not (math.isfinite(mine) and math.isfinite(base)):
        return ""
    note = f"λ_cls in use {num(mine)} vs {num(base)}"
    if not math.isclose(mine, base, rel_tol=1e-9):
        note += " (different head weights: a difference may come from the weight, not the head)"
    return note


def unpaired_notes(vs: VersusBaseline) -> list[str]:
    out = []
    if vs.only_config:
        out.append(f"seeds {','.join(map(str, vs.only_config))}: this configuration only, not paired")
    if vs.only_baseline:
        out.append(f"seeds {','.join(map(str, vs.only_baseline))}: baseline only, not paired")
    return out + vs.left_out


def paired_lines(cmp: Comparison) -> list[str]:
    """The paired comparison as console lines (a hint when no baseline was chosen)."""
    if cmp.baseline is None:
        if len(cmp.configs) < 2:
            return []
        return ["no baseline chosen: baseline=N or baseline=KEY=VALUE tests every configuration against one, "
                "paired by seed (docs/compare.md)"]
    b = cmp.baseline
    lines = [f"paired comparison with baseline [{b.index}] {b.label_text}:", f"  ({HOW})"]
    if not cmp.paired:
        return lines + ["  only one configuration: nothing to compare with the baseline"]
    width = max([len(m) for vs in cmp.paired for m in (r.metric for r in vs.rows)] + [6])
    for vs in cmp.paired:
        lines.append(f"  [{vs.config.index}] {vs.config.label_text} − [{b.index}] {b.label_text}")
        lines += [f"    {n}" for n in filter(None, [weights_note(vs), *unpaired_notes(vs)])]
        if not vs.rows:
            lines.append("    no ranked metric in these runs")
            continue
        lines.append(f"    {'metric':<{width}}  pairs  {'Δ':>10}  {'95 % interval':<24} {'p':>8}  verdict")
        for r in vs.rows:
            t = r.test
            lines.append(f"    {r.metric:<{width}}  {t.n:>5}  {num(t.mean):>10}  {interval(t.ci_lo, t.ci_hi):<24} "
                         f"{p_value(t.p):>8}  {t.verdict} ({ARROW[r.direction]})")
    return lines
