"""Group runs into configurations and summarise each metric over seeds.

A configuration is a run's config minus the seed and minus keys that do not change what is trained or
measured (paths, run name, logging, resume path: ``IGNORED_KEYS``). Per configuration and metric the
report shows mean ± sample standard deviation (ddof=1) over the runs' final evaluations, with n; a run
that has no final evaluation contributes its last periodic one and is flagged. The best configuration
per metric follows the direction each metric declared at registration (``gan_lab.metrics.keys``).

``compare`` also builds what sits beside that table: the sanity rows (``sanity``: stand-ins for the
generator, never ranked) and, when a baseline configuration is chosen, the paired comparison of every other
configuration with it (``baseline``: pairs runs by seed; ``paired``: the t-test). Only records that evaluate
the run's model (``Run.evaluations``) feed the configurations' numbers and curves; sanity records never do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

from gan_lab.metrics.keys import direction
from gan_lab.records import is_bookkeeping
from gan_lab.report.baseline import VersusBaseline, paired_comparisons, select_baseline
from gan_lab.report.runs import Run, finite, show_value
from gan_lab.report.sanity import SanityRow, order_warnings, sanity_rows
from gan_lab.report.stats import Stat, stat


def _keys():
    from gan_lab.metrics.keys import load_all

    return load_all()


def metric_order() -> list[str]:
    """Table order: the order metrics declared their keys at registration (``gan_lab.metrics.keys``)."""
    return [k for k, info in _keys().items() if info.direction is not None]


def reference_metrics() -> list[str]:
    """Reference numbers (the evaluation classifier on real data): shown, never ranked."""
    return [k for k, info in _keys().items() if info.direction is None]


# Config keys (or key prefixes) that never make two runs different configurations: the seed, where things
# live (dataset.root resolves from paths.data_dir, which differs between machines), logging and resuming.
IGNORED_KEYS = ("seed", "run_name", "ckpt_path", "paths", "dataset.root", "logger", "hydra", "optimized_metric",
                "trainer.enable_progress_bar", "trainer.log_every_n_steps")
LABEL_FALLBACK_KEYS = ("model.name", "head.name", "dataset.name")


def _ignored(key: str, ignore: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in ignore)


@dataclass
class Configuration:
    index: int
    config: dict[str, object]  # the grouping config (ignored keys removed)
    runs: list[Run]
    label: dict[str, object] = field(default_factory=dict)  # the keys that tell configurations apart

    @property
    def label_text(self) -> str:
        return " ".join(f"{k}={show_value(v)}" for k, v in self.label.items()) or "all runs"

    @property
    def seeds(self) -> list:
        return [r.seed for r in self.runs]

    @property
    def n_without_final(self) -> int:
        return sum(1 for r in self.runs if not r.has_final)


def _key(v) -> str:
    return json.dumps(v, sort_keys=True, default=str)


MISSING = "<missing>"


def _differing(configs: Sequence[Configuration], keys: Sequence[str]) -> list[str]:
    """Keys with two or more values among the configurations that have them. A key only some have, with one
    value (head.margin when soft-max, which has none, is compared with aam) follows from another difference
    (head.name) and is left out, unless the configurations cannot be told apart without it."""
    values = {k: {_key(c.config[k]) for c in configs if k in c.config} for k in keys}
    differing = [k for k in keys if len(values[k]) > 1]
    labels = {_key([c.config.get(k, MISSING) for k in differing]) for c in configs}
    if len(labels) < len(configs):  # some differ only in which keys they have
        differing = [k for k in keys if len({_key(c.config.get(k, MISSING)) for c in configs}) > 1]
    return differing


def group(runs: Sequence[Run], ignore: Sequence[str] = ()) -> tuple[list[Configuration], list[str]]:
    """Configurations (in order of first appearance) and the config keys whose values differ between them."""
    ignore = tuple(IGNORED_KEYS) + tuple(ignore)
    buckets: dict[str, Configuration] = {}
    for run in runs:
        cfg = {k: v for k, v in run.config.items() if not _ignored(k, ignore)}
        k = _key(sorted(cfg.items()))
        if k not in buckets:
            buckets[k] = Configuration(index=len(buckets), config=cfg, runs=[])
        buckets[k].runs.append(run)
    configs = list(buckets.values())
    for c in configs:
        c.runs.sort(key=lambda r: (_key(r.seed), str(r.path)))
    keys = sorted({k for c in configs for k in c.config})
    differing = _differing(configs, keys)
    # group by parent key with its ".name" first: head.name=aam head.margin=0.5 head.scale=30
    differing.sort(key=lambda k: (k.rpartition(".")[0], k.rpartition(".")[2] != "name", k))
    label_keys = differing or [k for k in LABEL_FALLBACK_KEYS if k in keys]
    for c in configs:
        c.label = {k: c.config.get(k, MISSING) for k in label_keys}
    return configs, differing


def metric_names(runs: Sequence[Run]) -> tuple[list[str], list[str]]:
    """(ranked/unranked metrics in table order, reference metrics) found in the runs' evaluations."""
    names = set()
    for run in runs:
        for rec in run.evaluations:
            for k, v in rec.items():
                if is_bookkeeping(k) or isinstance(v, bool):
                    continue
                if isinstance(v, (int, float)):
                    names.add(k)
    refs = [m for m in reference_metrics() if m in names]
    rest = names - set(refs)
    order = metric_order()
    ordered = [m for m in order if m in rest] + sorted(rest - set(order))
    ordered.sort(key=lambda m: "/" in m)  # per-group breakdowns ("<tag>/psnr") after the overall numbers
    return ordered, refs


def final_stats(config: Configuration, metric: str) -> Stat:
    return stat(r.summary.get(metric) for r in config.runs if r.summary is not None)


HEAD_WEIGHT = "lambda_cls_in_use"  # the classifier-head weight a run trained with (a reference number)


def head_weight(config: Configuration) -> Stat:
    """λ_cls in use over the configuration's runs (empty for runs that do not record it)."""
    return final_stats(config, HEAD_WEIGHT)


def metric_label(metric: str) -> str:
    """The label a metric declared at registration ("" if undeclared); a "group/" prefix is ignored."""
    info = _keys().get(metric.rpartition("/")[2])
    return info.label if info is not None else ""


def best_configurations(configs: Sequence[Configuration], metric: str) -> set[int]:
    """Indices of the best configuration(s) by mean (ties all marked); empty if the direction is unknown
    or fewer than two configurations have a value."""
    d = direction(metric)
    means = {c.index: final_stats(c, metric).mean for c in configs}
    means = {i: m for i, m in means.items() if math.isfinite(m)}
    if d is None or len(means) < 2:
        return set()
    target = min(means.values()) if d == "min" else max(means.values())
    return {i for i, m in means.items() if m == target}


def curve(config: Configuration, metric: str) -> list[tuple[int, float, int, bool]]:
    """(step, mean over seeds, n, any final) per evaluated step; a step recorded twice in one run
    (resume) counts once, the later record winning."""
    per_step: dict[int, list[float]] = {}
    finals: set[int] = set()
    for run in config.runs:
        by_step = {}
        # Curves follow the selection split (periodic + final_val records); a run written before the
        # selection split existed has only periodic + final records, and its final point is kept.
        evaluations = run.evaluations  # never a sanity record: it shares the final step
        has_val = any(rec.get("kind") == "final_val" for rec in evaluations)
        for rec in (r for r in evaluations if not (has_val and r.get("kind") == "final")):
            if finite(rec.get(metric)) and finite(rec.get("step")):
                by_step[int(rec["step"])] = rec
        for step, rec in by_step.items():
            per_step.setdefault(step, []).append(float(rec[metric]))
            if rec.get("kind") in ("final", "final_val"):
                finals.add(step)
    return [(s, stat(v).mean, len(v), s in finals) for s, v in sorted(per_step.items())]


# Training curves shown by the report (from train_metrics.jsonl): the critic's health, the balance of the
# loss terms on D's shared layer, and the label geometry of the embedding.
TRAINING_CURVES = ("train/gp", "train/d_adv", "train/g_adv", "train/d_cls", "train/g_cls", "train/g_rec",
                   "critic/wasserstein", "grad/d_adv", "grad/gp", "grad/d_cls", "grad/g_adv", "grad/g_cls",
                   "grad/g_rec", "geometry/emb_norm_real", "geometry/cos_target_real", "geometry/cos_target_fake",
                   "geometry/intra_angle_real", "geometry/inter_angle_real", "geometry/weight_angle_min",
                   "train/g_l1", "train/g_si_mse", "train/g_grad", "train/g_ssim", "train/d_loss")  # + albedo terms


# The label geometry shown beside the final scores: the last diagnostics record of every run.
GEOMETRY_KEYS = ("geometry/emb_norm_real", "geometry/cos_target_real", "geometry/cos_target_fake",
                 "geometry/intra_angle_real", "geometry/inter_angle_real", "geometry/weight_angle_min",
                 "critic/wasserstein")


def final_geometry(config: Configuration, key: str) -> Stat:
    """Over the runs (seeds): ``key`` in the last train_metrics.jsonl record that has it."""
    last = []
    for run in config.runs:
        values = [r[key] for r in run.train_records if finite(r.get(key))]
        if values:
            last.append(values[-1])
    return stat(last)


def training_curve(config: Configuration, key: str) -> list[tuple[int, float, int, bool]]:
    """(step, mean over seeds, n, False) of a training scalar or diagnostic from train_metrics.jsonl."""
    per_step: dict[int, list[float]] = {}
    for run in config.runs:
        by_step = {int(r["step"]): float(r[key]) for r in run.train_records if finite(r.get(key)) and finite(r.get("step"))}
        for step, v in by_step.items():
            per_step.setdefault(step, []).append(v)
    return [(s, stat(v).mean, len(v), False) for s, v in sorted(per_step.items())]


def per_class(config: Configuration) -> list[Stat]:
    """Per-class accuracy of each run's summary record, one Stat per class (NaN classes not counted)."""
    lists = [r.summary.get("per_class_accuracy") for r in config.runs if r.summary is not None]
    lists = [v for v in lists if isinstance(v, list) and v]
    if not lists:
        return []
    k = max(len(v) for v in lists)
    return [stat(v[c] for v in lists if c < len(v)) for c in range(k)]


def provenance_warnings(runs: Sequence[Run]) -> list[str]:
    """A metric computed on different feature backbones / classifiers across runs is not comparable."""
    seen: dict[str, set] = {}
    for run in runs:
        rec = run.summary or {}
        for k, v in rec.items():
            if isinstance(v, str) and k.endswith(("_backbone", "_classifier")):
                seen.setdefault(k, set()).add(v)
    return [f"{k} differs between runs ({', '.join(sorted(v))}): those numbers are not directly comparable"
            for k, v in sorted(seen.items()) if len(v) > 1]


def duplicate_seed_warnings(configs: Sequence[Configuration]) -> list[str]:
    out = []
    for c in configs:
        seeds = [_key(s) for s in c.seeds]
        dups = sorted({s for s in seeds if seeds.count(s) > 1})
        if dups:
            out.append(f"configuration {c.label_text!r} has several runs with seed {', '.join(dups)} "
                       "(each counts as one sample)")
    return out


@dataclass
class Comparison:
    """Everything the page shows, computed once."""

    runs: list[Run]
    configs: list[Configuration]
    differing: list[str]
    metrics: list[str]  # metrics with at least one finite value, table order
    references: list[str]
    empty_metrics: list[str]  # recorded but never finite (e.g. task_fid_clf without enough pairs)
    warnings: list[str]
    sanity: list[SanityRow] = field(default_factory=list)  # stand-ins for the generator, below the configurations
    baseline: Configuration | None = None  # chosen with baseline=; None: no paired comparison
    paired: list[VersusBaseline] = field(default_factory=list)  # every other configuration against the baseline

    @property
    def ranked(self) -> list[str]:
        """The overall metrics with a direction: the ones a paired comparison tests."""
        return [m for m in self.metrics if "/" not in m and direction(m) in ("min", "max")]


def compare(runs: Sequence[Run], ignore: Sequence[str] = (), baseline: str | None = None) -> Comparison:
    """Everything the page shows; ``baseline``: a ``baseline=`` spec (gan_lab.report.baseline), or None."""
    configs, differing = group(runs, ignore)
    metrics, refs = metric_names(runs)

    def any_finite(m):
        return any(finite(rec.get(m)) for r in runs for rec in r.evaluations)

    warnings = [w for r in runs for w in r.warnings]
    warnings += provenance_warnings(runs) + duplicate_seed_warnings(configs)
    cmp = Comparison(runs=list(runs), configs=configs, differing=differing,
                     metrics=[m for m in metrics if any_finite(m)], references=[m for m in refs if any_finite(m)],
                     empty_metrics=[m for m in metrics + refs if not any_finite(m)], warnings=warnings)
    directions = {m: direction(m) for m in cmp.metrics}
    cmp.sanity = sanity_rows(configs, differing)
    cmp.warnings += order_warnings(cmp.sanity, cmp.ranked, directions)
    if baseline is not None:
        cmp.baseline = select_baseline(configs, baseline)
        cmp.paired = paired_comparisons(configs, cmp.baseline, cmp.ranked, directions)
    return cmp
