"""``gan-lab eval ckpt_path=PATH [metrics=[...]] [n_samples=N] [seed=S] [output=FILE]``.

Evaluates any checkpoint with any metric set and writes one JSON file holding every number, the
feature backbone of each FID/KID (``<metric>_backbone``) and the real images it compared with
(``<metric>_reference``), the classifier behind each classifier metric (``<metric>_classifier``), sample
counts (``n_samples`` asked, ``n_fake``/``n_real`` used), the seed, the checkpoint's step, bootstrap 95 %
intervals (``<metric>_ci_lo``/``_ci_hi``; ``bootstrap=0`` for none) and the sanity rows (``sanity_rows``:
identity / real / template stand-ins scored the same way; ``sanity=false`` for none). The data set and evaluation-classifier settings are the training
run's (stored in the checkpoint), so the numbers are comparable with the run's own ``metrics.jsonl``.
Same checkpoint + same seed -> the same numbers (the generated set and every classifier are seeded).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from gan_lab.checkpoints import load_checkpoint
from gan_lab.cli_args import check_device, print_help
from gan_lab.config import CONF_DIR
from gan_lab.registry import ConfigError
from gan_lab.summary import metric_lines, sanity_lines


OPEN_GROUPS = ("dataset.", "paths.")  # conf/eval.yaml's open dicts: any key of the run's dataset / paths config


def compose_eval(argv: Sequence[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    # dataset.root=... and paths.cache_dir=... add keys to eval.yaml's empty dicts: Hydra wants a '+' for that
    overrides = [f"+{a}" if a.startswith(OPEN_GROUPS) else a for a in argv]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=overrides)
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError("ckpt_path is required: gan-lab eval ckpt_path=outputs/<run>/checkpoints/last.ckpt")
    return cfg


def _sample_count(cfg, key: str) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ConfigError(f"{key}={value!r} is invalid; allowed: an integer >= 2")
    return value


def _bootstrap(cfg) -> int:
    value = cfg.get("bootstrap", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"bootstrap={value!r} is invalid; allowed: an integer >= 0 (0 = no intervals)")
    return value


def run(cfg) -> dict:
    """Evaluate ``cfg.ckpt_path``; returns the result dict (also written to the JSON file)."""

    from gan_lab.data import build_datamodule
    from gan_lab.evaluation import Evaluator
    from gan_lab.metrics.suite import check_metrics
    from gan_lab.modules.loading import load_module
    from gan_lab.records import strict_json

    metrics = [cfg.metrics] if isinstance(cfg.metrics, str) else list(cfg.metrics)  # metrics=fid_clf: one name
    n_samples = _sample_count(cfg, "n_samples")
    check_device(str(cfg.device))
    if cfg.get("split") not in (None, "train", "val", "test"):
        raise ConfigError(f"split={cfg.split!r} is invalid; allowed: val, test (or train)")
    _bootstrap(cfg)
    if not isinstance(cfg.get("sanity", False), bool):
        raise ConfigError(f"sanity={cfg.sanity!r} is invalid; allowed: true, false")
    if not metrics:
        raise ConfigError("metrics=[] is empty; give at least one, e.g. metrics=[fid_clf,gan_test]")
    # Names and backbones first: a typo or a missing Inception fails before anything is loaded.
    check_metrics(metrics, cfg.get("inception_weights"), cfg.get("inception_resize") or "legacy", key="metrics")

    ckpt_path = Path(cfg.ckpt_path)
    out = Path(cfg.output) if cfg.output else (
        ckpt_path.parent.parent / "eval" / f"{ckpt_path.stem}-n{n_samples}-s{cfg.seed}.json")
    if out.is_dir():  # before the (long) evaluation
        raise ConfigError(f"output={out} is a directory; give a file name such as {out / 'eval.json'}")
    module = load_module(ckpt_path).to(cfg.device)
    if module.task != "conditional":
        raise ConfigError(f"ckpt_path={ckpt_path} holds a {type(module).__name__}, which makes no class-conditional "
                          "samples; evaluate albedo translators with `gan-lab albedo-eval ckpts=...`")
    train_cfg = load_checkpoint(ckpt_path).get("gan_lab_config")
    if not train_cfg:
        raise ConfigError(f"ckpt_path={ckpt_path} holds no gan_lab_config (written by an older gan_lab?)")
    paths = {**train_cfg["paths"], **OmegaConf.to_container(cfg.paths)}
    dataset_cfg = {**train_cfg["dataset"], **OmegaConf.to_container(cfg.dataset)}
    eval_cfg = dict(train_cfg["eval"])
    for key in ("split", "inception_weights", "inception_resize"):
        if cfg.get(key):
            eval_cfg[key] = cfg[key]
    # This evaluation's metric set replaces the run's (the Evaluator checks what it is asked to compute).
    eval_cfg["metrics"], eval_cfg["final_metrics"] = metrics, []
    dm = build_datamodule(dataset_cfg)
    dm.prepare_data()
    dm.setup("test")
    evaluator = Evaluator(dm, eval_cfg, paths["cache_dir"], data_key=train_cfg["dataset"])
    t0 = time.time()
    result = evaluator.run(module, metrics, n_samples, int(cfg.seed), progress=True, bootstrap=_bootstrap(cfg),
                           sanity=bool(cfg.get("sanity", False)))
    result = {
        "checkpoint": str(ckpt_path), "checkpoint_step": module.checkpoint_step, "metrics_requested": metrics,
        "n_samples": n_samples, "seed": int(cfg.seed), "split": eval_cfg.get("split", "test"),
        "dataset": dataset_cfg.get("name"), "model": train_cfg["model"]["name"],
        "head": (train_cfg.get("head") or train_cfg["loss"])["name"],  # runs from before the head group: loss.name
        "eval_classifier": dict(eval_cfg["classifier"]), **result,
        "eval_seconds": round(time.time() - t0, 2),
    }
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(strict_json(result), indent=2, allow_nan=False))
    except OSError as e:
        raise ConfigError(f"output={out} cannot be written ({e.strerror or e}); choose another output=<file>") from e
    print(f"wrote {out}")
    for line in metric_lines(result) + sanity_lines(result, result.get("sanity_rows") or {}):
        print(line)
    for k, v in result.items():
        if isinstance(v, str) and k.endswith(("_backbone", "_classifier", "_reference", "_data")):
            print(f"  {k:32s} {v}")
    return result


def main(argv: Sequence[str]) -> None:
    if print_help(argv, __doc__):
        return
    run(compose_eval(argv))
