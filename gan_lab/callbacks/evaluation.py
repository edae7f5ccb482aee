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

import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import pytorch_lightning as pl
import torch

from gan_lab.records import append_jsonl, drop_after, is_bookkeeping, keep_before_start


def summary_direction(name: str) -> str | None:
    """"min" / "max" for W&B's summary of a metric, None for bookkeeping and reference numbers."""
    from gan_lab.metrics.keys import direction

    return None if is_bookkeeping(name) else direction(name)


def provenance(result: dict) -> dict[str, str]:
    """The strings saying how the numbers were made (backbones, classifiers, resize), without ``kind``."""
    return {k: v for k, v in result.items() if isinstance(v, str) and k != "kind"}


@contextmanager
def isolated_rng(seed: int, device=None) -> Iterator[None]:
    """Run the enclosed code on its own seeded RNG streams and give training its streams back untouched:
    an evaluation (its first call caches features, later ones do not) must not shift training's random
    draws, or a resumed run would diverge from the uninterrupted one."""
    cuda = [device] if device is not None and getattr(device, "type", "") == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def scalars(result: dict) -> dict[str, float]:
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class PeriodicEvaluation(pl.Callback):
    """Cheap metrics every ``every_n_steps`` on ``n_samples``; ``final_metrics`` on ``final_n_samples`` at the end.

    ``progress``: None (default) shows evaluation progress bars when the trainer has a progress bar;
    the bars appear only for evaluations longer than 2 s and are cleared afterwards (leave=False).
    """

    def __init__(self, evaluator, jsonl_path: str | Path, every_n_steps: int, n_samples: int,
                 final_n_samples: int, metrics: Sequence[str], final_metrics: Sequence[str], seed: int,
                 progress: bool | None = None, select_split: str | None = None, report_split: str | None = None,
                 bootstrap: int = 0, sanity: bool = False):
        self.evaluator = evaluator
        self.bootstrap, self.sanity = int(bootstrap), bool(sanity)  # the final evaluation's intervals and sanity rows
        self.select_split, self.report_split = select_split, report_split
        self.selection_result: dict | None = None  # the cheap metrics on select_split at the end (the objective)
        self.jsonl_path = Path(jsonl_path)
        self.every = every_n_steps
        self.n, self.final_n = n_samples, final_n_samples
        self.metrics, self.final_metrics = list(metrics), list(final_metrics)
        self.seed = seed
        self.progress = progress
        self.last_result: dict | None = None
        self._defined: set[str] = set()
        self._step_metric_defined = False

    def _define_summaries(self, trainer: pl.Trainer, names, prefix: str = "eval") -> None:
        """define_metric once per metric: x axis = training step; summary = its best (min or max)."""
        for logger in trainer.loggers:
            exp = getattr(logger, "experiment", None)
            if exp is None or not hasattr(exp, "define_metric"):
                continue
            if not self._step_metric_defined:
                for p in ("eval", "val", "train", "geometry", "grad", "critic"):
                    exp.define_metric(f"{p}/*", step_metric="trainer/global_step")
            for name in names:
                how = summary_direction(name)
                if how and f"{prefix}/{name}" not in self._defined:
                    exp.define_metric(f"{prefix}/{name}", step_metric="trainer/global_step", summary=how)
        self._step_metric_defined = True
        self._defined.update(f"{prefix}/{n}" for n in names)

    def _progress(self, trainer: pl.Trainer) -> bool:
        if self.progress is not None:
            return bool(self.progress)
        import sys

        # transient bars only on a terminal: in a log file each redraw would be a line
        return getattr(trainer, "progress_bar_callback", None) is not None and sys.stderr.isatty()

    def _run(self, trainer: pl.Trainer, module, kind: str, names: list[str], n: int, split: str | None) -> dict:
        """One evaluation, recorded; the final one (kind ``final``) also gets the bootstrap intervals and the
        sanity rows, each written as its own ``"kind": "sanity"`` record after the final one."""
        t0 = time.time()
        kw = {} if split is None else {"split": split}
        if kind == "final":
            kw.update(bootstrap=self.bootstrap, sanity=self.sanity)
        with isolated_rng(self.seed + trainer.global_step, getattr(module, "device", None)):
            result = self.evaluator.run(module, names, n, self.seed, progress=self._progress(trainer), **kw)
        rows = result.pop("sanity_rows", None) or {}
        head = {"step": trainer.global_step, "kind": kind, **({"split": split} if split else {})}
        result = {**head, **result, "eval_seconds": round(time.time() - t0, 2)}
        append_jsonl(self.jsonl_path, result)
        for row in rows.values():
            append_jsonl(self.jsonl_path, {**head, **row, "kind": "sanity"})
        self._log(trainer, result)
        return {**result, "sanity_rows": rows} if rows else result

    def evaluate(self, trainer: pl.Trainer, module, final: bool) -> dict:
        """Periodic: the cheap metrics on the selection split (``val``: best checkpoint). Final: the cheap
        metrics on the selection split again (kind ``final_val``: the sweep objective), then the final
        metrics on the report split (kind ``final``: the numbers to publish)."""
        result = selection = None
        if trainer.is_global_zero:
            if final:  # records of this step come from a final evaluation that was interrupted (killed): redo it whole
                drop_after(self.jsonl_path, trainer.global_step - 1)
            if not final:
                result = self._run(trainer, module, "periodic", self.metrics, self.n, self.select_split)
            else:
                if self.metrics and self.select_split and self.select_split != self.report_split:
                    selection = self._run(trainer, module, "final_val", self.metrics, self.n, self.select_split)
                result = self._run(trainer, module, "final", self.final_metrics, self.final_n, self.report_split)
        result, selection = trainer.strategy.broadcast((result, selection), src=0)
        self.last_result = result
        if final:
            self.selection_result = selection or result
        return result

    def prefix(self, result: dict) -> str:
        """W&B key prefix: ``val/`` for the selection split, ``eval/`` for the reported (test) split."""
        split = result.get("split")
        return "val" if split is not None and split == self.select_split != self.report_split else "eval"

    def _log(self, trainer: pl.Trainer, result: dict) -> None:
        p = self.prefix(result)
        numbers = {k: v for k, v in scalars(result).items() if k != "step"}
        self._define_summaries(trainer, numbers, p)
        values = {f"{p}/{k}": v for k, v in numbers.items()}
        values["trainer/global_step"] = result["step"]
        strings = {f"{p}/{k}": v for k, v in provenance(result).items() if k != "split"}
        for logger in trainer.loggers:
            logger.log_metrics(values, step=result["step"])
            summary = getattr(getattr(logger, "experiment", None), "summary", None)
            if strings and summary is not None and hasattr(summary, "update"):
                summary.update(strings)  # the backbone beside the number on the W&B run page and runs table
            if "per_class_accuracy" in result and hasattr(logger, "log_table"):
                names = getattr(trainer.lightning_module, "class_names", None)
                rows = [[names[i] if names else str(i), float(a)] for i, a in enumerate(result["per_class_accuracy"])]
                logger.log_table(key=f"{p}/per_class_accuracy_{result['kind']}", columns=["class", "accuracy"],
                                 data=rows, step=result["step"])

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self.every > 0 and trainer.global_step % self.every == 0 and trainer.global_step < (trainer.max_steps or 0):
            result = self.evaluate(trainer, module, final=False)
            p = self.prefix(result)
            for k, v in scalars(result).items():
                if k != "step" and math.isfinite(v):
                    module.log(f"{p}/{k}", v, logger=False, sync_dist=False)

    def on_train_start(self, trainer, module):
        if trainer.is_global_zero:  # resumed: later records will be recomputed; fresh: an earlier attempt's go aside
            keep_before_start(self.jsonl_path, trainer.global_step)

    def on_train_end(self, trainer, module):
        self.evaluate(trainer, module, final=True)
