"""Periodic evaluation during training and a full one at the end, recorded in three places:
``metrics.jsonl`` in the run directory (one JSON object per evaluation), the W&B run (scalars,
per-class table, min/max summaries) and ``trainer.callback_metrics`` (for best-checkpoint selection).

Rank 0 computes; the result is broadcast so every rank logs the same numbers. Nothing is gathered
across ranks: rank 0 generates the whole evaluation set itself, so statistics are counted exactly
once and the reference / GAN-train classifiers are trained once, not once per rank.

Provenance strings (``fid_clf_backbone``, ``gan_test_classifier``, ``inception_resize``, ...) go into
metrics.jsonl beside the numbers and into the W&B run summary (``eval/<key>``), since W&B charts take
numbers only. W&B summaries follow ``gan_lab.report.aggregate.direction``: the best FID is its
minimum, the best GAN-test its maximum.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Sequence

import pytorch_lightning as pl

def summary_direction(name: str) -> str | None:
    """"min" / "max" for W&B's summary of a metric, None for bookkeeping and reference numbers."""
    from gan_lab.report.aggregate import direction, is_bookkeeping

    return None if is_bookkeeping(name) else direction(name)


def provenance(result: dict) -> dict[str, str]:
    """The strings saying how the numbers were made (backbones, classifiers, resize), without ``kind``."""
    return {k: v for k, v in result.items() if isinstance(v, str) and k != "kind"}


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
    """Cheap metrics every ``every_n_steps`` on ``n_samples``; ``final_metrics`` on ``final_n_samples`` at the end.

    ``progress``: None (default) shows evaluation progress bars when the trainer has a progress bar;
    the bars appear only for evaluations longer than 2 s and are cleared afterwards (leave=False).
    """

    def __init__(self, evaluator, jsonl_path: str | Path, every_n_steps: int, n_samples: int,
                 final_n_samples: int, metrics: Sequence[str], final_metrics: Sequence[str], seed: int,
                 progress: bool | None = None):
        self.evaluator = evaluator
        self.jsonl_path = Path(jsonl_path)
        self.every = every_n_steps
        self.n, self.final_n = n_samples, final_n_samples
        self.metrics, self.final_metrics = list(metrics), list(final_metrics)
        self.seed = seed
        self.progress = progress
        self.last_result: dict | None = None
        self._defined: set[str] = set()
        self._step_metric_defined = False

    def _define_summaries(self, trainer: pl.Trainer, names) -> None:
        """define_metric once per metric: x axis = training step; summary = its best (min or max)."""
        for logger in trainer.loggers:
            exp = getattr(logger, "experiment", None)
            if exp is None or not hasattr(exp, "define_metric"):
                continue
            if not self._step_metric_defined:
                exp.define_metric("eval/*", step_metric="trainer/global_step")
            for name in names:
                how = summary_direction(name)
                if how and name not in self._defined:
                    exp.define_metric(f"eval/{name}", step_metric="trainer/global_step", summary=how)
        self._step_metric_defined = True
        self._defined.update(names)

    def _progress(self, trainer: pl.Trainer) -> bool:
        if self.progress is not None:
            return bool(self.progress)
        return getattr(trainer, "progress_bar_callback", None) is not None

    def evaluate(self, trainer: pl.Trainer, module, final: bool) -> dict:
        result = None
        if trainer.is_global_zero:
            t0 = time.time()
            names = self.final_metrics if final else self.metrics
            result = self.evaluator.run(module, names, self.final_n if final else self.n, self.seed,
                                        progress=self._progress(trainer))
            result = {"step": trainer.global_step, "kind": "final" if final else "periodic", **result,
                      "eval_seconds": round(time.time() - t0, 2)}
            append_jsonl(self.jsonl_path, result)
            self._log(trainer, result)
        result = trainer.strategy.broadcast(result, src=0)
        self.last_result = result
        return result

    def _log(self, trainer: pl.Trainer, result: dict) -> None:
        numbers = {k: v for k, v in scalars(result).items() if k != "step"}
        self._define_summaries(trainer, numbers)
        values = {f"eval/{k}": v for k, v in numbers.items()}
        values["trainer/global_step"] = result["step"]
        strings = {f"eval/{k}": v for k, v in provenance(result).items()}
        for logger in trainer.loggers:
            logger.log_metrics(values, step=result["step"])
            summary = getattr(getattr(logger, "experiment", None), "summary", None)
            if strings and summary is not None and hasattr(summary, "update"):
                summary.update(strings)  # the backbone beside the number on the W&B run page and runs table
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
