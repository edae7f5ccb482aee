"""``gan-lab eval ckpt_path=PATH [metrics=[...]] [n_samples=N] [seed=S] [output=FILE]``.

Evaluates any checkpoint with any metric set and writes one JSON file holding every number, the
feature backbone of each FID/KID, sample counts, seed and the checkpoint's step. The data set
and evaluation-classifier settings are the training run's (stored in the checkpoint), so the
numbers are comparable with the run's own ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

from omegaconf import OmegaConf

from gan_lab.config import CONF_DIR
from gan_lab.registry import ConfigError


def compose_eval(argv: Sequence[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=list(argv))
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError("ckpt_path is required: gan-lab eval ckpt_path=outputs/<run>/checkpoints/last.ckpt")
    return cfg


def run(cfg) -> dict:
    """Evaluate ``cfg.ckpt_path``; returns the result dict (also written to the JSON file)."""
    import torch

    from gan_lab.data import build_datamodule
    from gan_lab.evaluation import Evaluator
    from gan_lab.modules.loading import load_module

    ckpt_path = Path(cfg.ckpt_path)
    module = load_module(ckpt_path).to(cfg.device)
    train_cfg = torch.load(ckpt_path, map_location="cpu", weights_only=False).get("gan_lab_config")
    if not train_cfg:
        raise ConfigError(f"ckpt_path={ckpt_path} holds no gan_lab_config (written by an older gan_lab?)")
    paths = {**train_cfg["paths"], **OmegaConf.to_container(cfg.paths)}
    dataset_cfg = {**train_cfg["dataset"], **OmegaConf.to_container(cfg.dataset)}
    eval_cfg = dict(train_cfg["eval"])
    for key in ("split", "inception_weights", "inception_resize"):
        if cfg.get(key):
            eval_cfg[key] = cfg[key]
    dm = build_datamodule(dataset_cfg)
    dm.prepare_data()
    dm.setup("test")
    evaluator = Evaluator(dm, eval_cfg, paths["cache_dir"], data_key=train_cfg["dataset"])
    t0 = time.time()
    result = evaluator.run(module, list(cfg.metrics), int(cfg.n_samples), int(cfg.seed), progress=True)
    result = {
        "checkpoint": str(ckpt_path), "checkpoint_step": module.checkpoint_step, "metrics_requested": list(cfg.metrics),
        "n_samples": int(cfg.n_samples), "seed": int(cfg.seed), "split": eval_cfg.get("split", "test"),
        "dataset": dataset_cfg.get("name"), "head": train_cfg["loss"]["name"], **result,
        "eval_seconds": round(time.time() - t0, 2),
    }
    out = Path(cfg.output) if cfg.output else (
        ckpt_path.parent.parent / "eval" / f"{ckpt_path.stem}-n{cfg.n_samples}-s{cfg.seed}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    from gan_lab.callbacks.evaluation import strict_json

    out.write_text(json.dumps(strict_json(result), indent=2, allow_nan=False))
    print(f"wrote {out}")
    for k, v in result.items():
        if isinstance(v, float):
            print(f"  {k:32s} {v:.4f}")
    return result


def main(argv: Sequence[str]) -> None:
    run(compose_eval(argv))
