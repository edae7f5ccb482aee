"""Sanity rows of the final-metrics table: the run's metrics computed on stand-ins for the generator.

The final evaluation of a run is followed in ``metrics.jsonl`` by ``"kind": "sanity"`` records, one per
stand-in (``"row"``): *identity* (translation: each input returned unchanged), *real* (real images of the
target class from a split disjoint from each metric's reference: what a perfect generator would give) and *template*
(generation: the class-mean image). They show what each metric gives for doing nothing, for perfection and
for a trivial answer, so a reader can place the configurations between them; a metric that ranks identity
or template above real is broken (DESIGN.md, "Evaluation protocol").

A row is shown as mean ± std over the runs that have it: the stand-ins do not depend on the trained model,
only on the data, the judge and the evaluation plan, so configurations that differ only in what is trained
share one row each. Configurations that differ in a key the stand-ins may depend on (``SPLIT_KEYS``: the
data set, the evaluation settings, the model type) get their own rows. Sanity rows are never ranked, never
marked best, never a baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from gan_lab.report.runs import show_value
from gan_lab.report.stats import Stat, stat

# What each known stand-in is (a record's own "description" wins when it has one).
ROW_NOTES = {
    "identity": "each input returned unchanged (translation)",
    "real": "real images of the target class from a split disjoint from the reference (a perfect generator)",
    "template": "the class-mean image, repeated (generation)",
}
REAL_ROW = "real"
MUST_RANK_BELOW_REAL = ("identity", "template")
# Config keys (prefixes end in ".") whose differences give the configurations separate sanity rows.
SPLIT_KEYS = ("dataset.", "eval.", "model.name")


@dataclass
class SanityRow:
    """One stand-in over the runs of one group of configurations."""

    row: str  # identity | real | template | ...
    records: list[dict]  # its record in each run that has it
    n_runs: int  # runs in the group (some may lack the row)
    where: str = ""  # the split keys' values when configurations get separate rows, else ""

    @property
    def label(self) -> str:
        return f"sanity: {self.row}" + (f" ({self.where})" if self.where else "")

    @property
    def description(self) -> str:
        own = next((r["description"] for r in self.records if isinstance(r.get("description"), str)), None)
        return own or ROW_NOTES.get(self.row, "a stand-in for the generator")

    @property
    def runs_text(self) -> str:
        """"9 runs", or "9 of 15 runs" when some runs of the group lack this row."""
        k = len(self.records)
        return f"{k} of {self.n_runs} runs" if k < self.n_runs else f"{k} run{'s' * (k != 1)}"

    def stat(self, metric: str) -> Stat:
        return stat(r.get(metric) for r in self.records)


def _split(key: str) -> bool:
    return any(key.startswith(p) if p.endswith(".") else key == p for p in SPLIT_KEYS)


def sanity_rows(configs: Sequence, differing: Sequence[str]) -> list[SanityRow]:
    """The sanity rows of these configurations: per group of configurations that agree on ``SPLIT_KEYS``,
    one row per stand-in found in their runs (in order of first appearance)."""
    split_keys = [k for k in differing if _split(k)]
    groups: dict[str, list] = {}
    for c in configs:
        where = " ".join(f"{k}={show_value(c.config.get(k, '<missing>'))}" for k in split_keys)
        groups.setdefault(where, []).append(c)
    out = []
    for where, members in groups.items():
        runs = [r for c in members for r in c.runs]
        found: dict[str, list[dict]] = {}
        for run in runs:
            for row, rec in run.sanity.items():
                found.setdefault(row, []).append(rec)
        out += [SanityRow(row, recs, len(runs), where) for row, recs in found.items()]
    return out


def order_warnings(rows: Sequence[SanityRow], metrics: Sequence[str], directions: dict) -> list[str]:
    """One warning per metric that ranks identity or template above the real row (by mean), per group."""
    out = []
    by_group: dict[str, dict[str, SanityRow]] = {}
    for r in rows:
        by_group.setdefault(r.where, {})[r.row] = r
    for where, group in by_group.items():
        real = group.get(REAL_ROW)
        if real is None:
            continue
        for m in metrics:
            d, ref = directions.get(m), real.stat(m).mean
            if d not in ("min", "max") or not math.isfinite(ref):
                continue
            for name in MUST_RANK_BELOW_REAL:
                other = group[name].stat(m).mean if name in group else math.nan
                if math.isfinite(other) and (other > ref if d == "max" else other < ref):
                    out.append(f"sanity rows{f' ({where})' if where else ''}: {m} ranks {name} ({other:.4g}) above "
                               f"real ({ref:.4g}); a metric that prefers a stand-in to real images is broken here")
    return out
