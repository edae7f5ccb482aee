"""The paired comparison behind "configuration A beats the baseline": a paired t-test over seeds.

Two configurations trained with the same seeds share their data order, initialisation draws and evaluation
draws seed by seed, so the per-seed differences d_i = config_i − baseline_i vary less than the two sets of
numbers do on their own. From the n differences:

  mean    d̄ = Σ d_i / n
  spread  s = sqrt(Σ (d_i − d̄)² / (n − 1))                  (sample standard deviation, ddof = 1)
  t       d̄ / (s / √n)                                      (Student t with n − 1 degrees of freedom)
  95 %    d̄ ± t_{0.975, n−1} · s / √n                       (the interval for the mean difference)
  p       2 · P(T_{n−1} ≥ |t|)                               (two-sided; the same as scipy.stats.ttest_rel)

The verdict reads the interval in the metric's direction: "better" / "worse" only when the interval
excludes 0 (equivalently p < 0.05), "no evidence" otherwise, and "too few pairs" below two pairs (no
spread, no interval). It assumes the differences are roughly normal; with 3-5 seeds nothing checks that,
which is one more reason to read "no evidence" as "not shown", never as "equal".

A bootstrap over seeds is deliberately not offered: with 3 seeds it has 10 distinct resamples, and its
percentile interval excluded 0 in about a quarter of simulated null cases (docs/compare.md).

Pure numbers: no runs, no configurations, no HTML (gan_lab.report.baseline pairs the runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats

LEVEL = 0.95
BETTER, WORSE, NO_EVIDENCE, TOO_FEW = "better", "worse", "no evidence", "too few pairs"


@dataclass(frozen=True)
class PairedTest:
    """The paired t-test of the differences (config − baseline); NaN where undefined (n < 2)."""

    n: int
    mean: float  # mean difference, config − baseline
    ci_lo: float  # the LEVEL interval of the mean difference
    ci_hi: float
    t: float
    p: float  # two-sided
    verdict: str  # BETTER | WORSE | NO_EVIDENCE | TOO_FEW


def verdict(ci_lo: float, ci_hi: float, direction: str) -> str:
    """"better"/"worse" when the interval excludes 0, read in the metric's direction ("min": lower is better)."""
    if direction not in ("min", "max"):
        raise ValueError(f"direction {direction!r}: a paired verdict needs 'min' or 'max'")
    if ci_lo > 0:
        return BETTER if direction == "max" else WORSE
    if ci_hi < 0:
        return WORSE if direction == "max" else BETTER
    return NO_EVIDENCE


def paired_test(differences: Sequence[float], direction: str, level: float = LEVEL) -> PairedTest:
    """The paired t-test of ``differences`` (config − baseline, one per seed) for a metric of ``direction``."""
    d = [float(x) for x in differences]
    n = len(d)
    if n < 2:
        mean = d[0] if d else math.nan
        verdict(0.0, 0.0, direction)  # still reject an unknown direction
        return PairedTest(n, mean, math.nan, math.nan, math.nan, math.nan, TOO_FEW)
    mean = math.fsum(d) / n
    sd = 0.0 if max(d) == min(d) else math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1))
    if sd == 0.0:  # every seed moved by exactly the same amount: a point interval
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0 else 0.0
        return PairedTest(n, mean, mean, mean, t, p, verdict(mean, mean, direction))
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), n - 1))
    lo, hi = mean - half, mean + half
    return PairedTest(n, mean, lo, hi, t, p, verdict(lo, hi, direction))
