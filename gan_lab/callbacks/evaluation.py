"""Periodic evaluation during training and a full one at the end, recorded in three places:
``metrics.jsonl`` in the run directory (one JSON object per evaluation), the W&B run (scalars,
per-class table, min/max summaries) and ``trainer.callback_metrics`` (for best-checkpoint selection).

Rank 0 computes; the result is broadcast so every rank logs the same numbers.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Sequence

import pytorch_lightning as pl

# Direction of "better" for W&B summaries and best-checkpoint selection.
LOWER_IS_BETTER = ("fid", "kid", "intra_fid", "task_fid")


def is_lower_better(name: str) -> bool:
    return name.split("/")[-1].startswith(LOWER_IS_BETTER)


def strict_json(value):
    """``value`` with every non-finite float replaced by None: metrics.jsonl stays strict JSON (no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def append_jsonl(path: Path, record: dict) -> None:
    """Append one evaluation as a line of strict JSON (NaN/inf written as null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(strict_json(record), sort_keys=False, allow_nan=False) + "\n")


def scalars(result: dict) -> dict[str, float]:
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class PeriodicEvaluation(pl.Callback):
    """Cheap metrics every ``every_n_steps`` on ``n_samples``; ``final_metrics`` on ``final_n_samples`` at the end."""

    def __init__(self, evaluator, jsonl_path: str | Path, every_n_steps: int, n_samples: int,
                 final_n_samples: int, metrics: Sequence[str], final_metrics: Sequence[str], seed: int):
        self.evaluator = evaluator
        self.jsonl_path = Path(jsonl_path)
        self.every = every_n_steps
        self.n, self.final_n = n_samples, final_n_samples
        self.metrics, self.final_metrics = list(metrics), list(final_metrics)
        self.seed = seed
        self.last_result: dict | None = None
        self._defined = False

    def _define_summaries(self, trainer: pl.Trainer) -> None:
        if self._defined:
            return
        self._defined = True
        for logger in trainer.loggers:
            exp = getattr(logger, "experiment", None)
            if exp is not None and hasattr(exp, "define_metric"):
                exp.define_metric("eval/*", step_metric="trainer/global_step")
                for name in ("fid", "fid_clf", "kid", "kid_clf", "intra_fid", "intra_fid_clf", "task_fid_clf"):
                    exp.define_metric(f"eval/{name}", summary="min")
                for name in ("gan_test", "gan_train", "accuracy_score", "confidence_score"):
                    exp.define_metric(f"eval/{name}", summary="max")

    def evaluate(self, trainer: pl.Trainer, module, final: bool) -> dict:
        result = None
        if trainer.is_global_zero:
            t0 = time.time()
            names = self.final_metrics if final else self.metrics
            result = self.evaluator.run(module, names, self.final_n if final else self.n, self.seed,
                                        progress=final)
            result = {"step": trainer.global_step, "kind": "final" if final else "periodic", **result,
                      "eval_seconds": round(time.time() - t0, 2)}
            append_jsonl(self.jsonl_path, result)
            self._log(trainer, result)
        result = trainer.strategy.broadcast(result, src=0)
        self.last_result = result
        return result

    def _log(self, trainer: pl.Trainer, result: dict) -> None:
        self._define_summaries(trainer)
        values = {f"eval/{k}": v for k, v in scalars(result).items() if k != "step"}
        values["trainer/global_step"] = result["step"]
        for logger in trainer.loggers:
            logger.log_metrics(values, step=result["step"])
            if "per_class_accuracy" in result and hasattr(logger, "log_table"):
                names = getattr(trainer.lightning_module, "class_names", None)
                rows = [[names[i] if names else str(i), float(a)] for i, a in enumerate(result["per_class_accuracy"])]
                logger.log_table(key=f"eval/per_class_accuracy_{result['kind']}", columns=["class", "accuracy"],
                                 data=rows, step=result["step"])

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.every > 0 and trainer.global_step % self.every == 0 and trainer.global_step < (trainer.max_steps or 0):
            result = self.evaluate(trainer, module, final=False)
            for k, v in scalars(result).items():
                if k != "step" and math.isfinite(v):
                    module.log(f"eval/{k}", v, logger=False, sync_dist=False)

    def on_train_end(self, trainer, module):
        self.evaluate(trainer, module, final=True)
