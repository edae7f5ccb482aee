"""``gan-lab albedo-eval [ckpts=A.ckpt,B.ckpt] [labels=a,b] [n=256] [metrics=...] [output=albedo_table.md] [grids=DIR]``.

Scores the target itself (the sanity row ``target``: it must score perfectly), the albedo baselines
(gan_lab.albedo.baselines) and any trained albedo checkpoints on the same held-out renders (the data set
of the first checkpoint, else ``dataset=albedo_synth`` at ``image_size`` with renders cached in
``cache_dir``: the first ``n`` test renders), overall and per difficulty tag, and writes the Markdown
table (gan_lab.albedo.table) to ``output`` plus JSON beside it. Checkpoints given the same label (e.g. the
seeds of one recipe) make one row, mean ± sample standard deviation over them (per-checkpoint values in
the JSON). ``grids=DIR`` also writes, per difficulty group, the first 8 held-out renders of that group as
a grid: photo, each learned label's first checkpoint, target. ``metrics`` (comma-separated; default
psnr,ssim,si_mse,lmse,delta_e2000,sharpness) picks the columns from the registered albedo metrics, e.g.
``metrics=si_mse_pc,lmse_pc,delta_e2000_pc`` for the per-channel-fit variants (gan_lab.metrics.albedo).
Arguments: ckpts, labels (comma-separated), image_size, n, split_seed, metrics, output, device, cache_dir, grids.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import Tensor

from gan_lab.albedo.baselines import BASELINES
from gan_lab.albedo.evaluation import DEFAULT_METRICS, evaluate_predictions, held_out, predict_all
from gan_lab.albedo.table import TARGET, format_tables, mean_std, write_grids
from gan_lab.cli_args import check_device, parse_kv, print_help, usage_of
from gan_lab.registry import ConfigError

USAGE = usage_of(__doc__)


def eval_datamodule(ckpts: list[str], image_size: int, n: int, split_seed: int, cache_dir: str):
    """The test datamodule the table scores on: the first checkpoint's data set (all must share it), else
    ``albedo_synth`` at ``image_size``; ``n`` test renders, no training pool. Also used by the benchmarks."""
    from gan_lab.checkpoints import load_checkpoint
    from gan_lab.data import build_datamodule

    cfg = None
    if ckpts:
        cfgs = [load_checkpoint(c, key="ckpts").get("gan_lab_config") for c in ckpts]
        if not all(cfgs):
            raise ConfigError("a checkpoint holds no gan_lab_config (written by gan-lab train?)")
        for c, other in zip(ckpts, cfgs):
            if other.get("model", {}).get("module") != "albedo":
                raise ConfigError(f"ckpts: {c} holds a {other.get('model', {}).get('name')} model, not an albedo "
                                  "translator; evaluate class-conditional models with `gan-lab eval ckpt_path=...`")
        cfg = dict(cfgs[0]["dataset"])
        for c, other in zip(ckpts[1:], cfgs[1:]):
            if {k: other["dataset"].get(k) for k in ("name", "image_size", "split_seed", "render", "root")} != \
               {k: cfg.get(k) for k in ("name", "image_size", "split_seed", "render", "root")}:
                raise ConfigError(f"ckpts: {c} was trained on other data than {ckpts[0]}; compare runs on one data set")
    if cfg is None:
        cfg = {"name": "albedo_synth", "image_size": image_size, "split_seed": split_seed, "cache_dir": cache_dir}
    if cfg["name"] == "albedo_synth":
        cfg["n_test"] = n
        cfg["n_train"] = 1  # the table never trains; do not render a training pool
    dm = build_datamodule(cfg)
    dm.setup("test")
    return dm


def metric_names(metrics: str) -> list[str]:
    """``a,b`` or ``[a,b]`` -> names, each a registered albedo metric (else ConfigError naming the allowed ones)."""
    from gan_lab.metrics.albedo import ALBEDO_METRICS

    names = [m.strip() for m in metrics.strip("[]").split(",") if m.strip()]
    for m in names or [""]:
        if m not in ALBEDO_METRICS:
            raise ConfigError(f"metrics={m!r} is not a known albedo metric; allowed: {', '.join(ALBEDO_METRICS.names())}")
    return names


def run(ckpts: str = "", labels: str = "", image_size: str = "64", n: str = "256", split_seed: str = "0",
        metrics: str = ",".join(DEFAULT_METRICS), output: str = "albedo_table.md", device: str = "cpu",
        cache_dir: str = "datasets/.cache/albedo_synth", grids: str = "") -> list[tuple[str, dict]]:
    from gan_lab.modules.loading import load_module

    columns = metric_names(metrics)
    check_device(device)
    paths = [c for c in ckpts.split(",") if c]
    names = [s for s in labels.split(",") if s] or [Path(c).parent.parent.name or c for c in paths]
    if len(names) != len(paths):
        raise ConfigError(f"labels= has {len(names)} names for {len(paths)} ckpts; give one per checkpoint")
    taken = [s for s in names if s == TARGET or s in BASELINES]
    if taken:
        raise ConfigError(f"labels={taken[0]!r} names a row the table already has; choose another label")
    for c in paths:
        if not Path(c).is_file():
            raise ConfigError(f"ckpts: {c}: no such checkpoint file")
    dm = eval_datamodule(paths, int(image_size), int(n), int(split_seed), cache_dir)
    data = held_out(dm, "test", int(n))
    rows = [(TARGET, evaluate_predictions(data["albedo"], data, columns))]  # sanity row: must score perfectly
    rows += [(name, evaluate_predictions(predict_all(fn, data["input"]), data, columns)) for name, fn in BASELINES.items()]
    per_ckpt: dict[str, list[dict]] = {}
    first_pred: dict[str, Tensor] = {}
    for name, c in zip(names, paths):
        module = load_module(c).to(device)
        if module.task != "paired":
            raise ConfigError(f"ckpts: {c} is not an albedo translator")
        pred = predict_all(module.predict_albedo, data["input"])
        first_pred.setdefault(name, pred)
        per_ckpt.setdefault(name, []).append(evaluate_predictions(pred, data, columns))
    rows += [(name, mean_std(results)) for name, results in per_ckpt.items()]
    table = format_tables(rows, columns)
    if grids:
        for path in write_grids(Path(grids), data, first_pred):
            print(f"wrote {path}")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    from gan_lab.records import strict_json  # NaN (an empty difficulty group) -> null

    out.with_suffix(".json").write_text(json.dumps(strict_json(
        {"checkpoints": [[n, c] for n, c in zip(names, paths)], "dataset": dm.describe(), "results": dict(rows),
         "per_checkpoint": per_ckpt}), indent=2,
        default=lambda v: None, allow_nan=False))
    print(dm.describe())
    print(table)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return rows


def main(argv: list[str]) -> None:
    if print_help(argv, __doc__):
        return
    opts = {"ckpts": "", "labels": "", "image_size": "64", "n": "256", "split_seed": "0",
            "metrics": ",".join(DEFAULT_METRICS), "output": "albedo_table.md", "device": "cpu", "cache_dir": "datasets/.cache/albedo_synth", "grids": ""}
    run(**parse_kv(argv, required=(), optional=opts, usage=USAGE))
