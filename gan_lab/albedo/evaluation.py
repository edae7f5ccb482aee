"""Albedo evaluation glue: held-out (photo, albedo, mask) data + a predictor -> metrics overall and per tag.

Used by training (``AlbedoEvaluator.run`` has the signature ``PeriodicEvaluation`` calls, so the
existing callback writes metrics.jsonl and W&B) and by the comparison table (``gan-lab albedo-eval``).
Predictions are quantised to 8 bits first, exactly as a saved PNG would hold them, and metrics see
[0, 1] images. Keys: ``<metric>`` over all images, ``<tag>/<metric>`` over the images carrying a
difficulty tag (``specular``, ``shadow``, ``coloured_light``; an image may carry several) and
``plain/<metric>`` over images with none; ``n_<tag>`` counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from gan_lab.data.albedo import DIFFICULTY_TAGS, stack_items, to_unit
from gan_lab.imaging import quantize_unit
from gan_lab.metrics.albedo_fit import FIT_PROVENANCE
from gan_lab.metrics.albedo import compute_albedo_metrics, nanmean

DEFAULT_METRICS = ("psnr", "ssim", "si_mse", "lmse", "delta_e2000", "sharpness")
GROUPS = (*DIFFICULTY_TAGS, "plain")


def held_out(datamodule, split: str = "test", n: int | None = None) -> dict:
    """The first ``n`` items (all when None) of a split as one batch dict."""
    ds = datamodule.dataset(split)
    count = len(ds) if n is None else min(int(n), len(ds))
    return stack_items([ds[i] for i in range(count)])


def group_masks(difficulty: Tensor) -> dict[str, Tensor]:
    """{group: (N,) bool} for every difficulty tag and for "plain" (no tag)."""
    d = difficulty > 0.5
    out = {t: d[:, k] for k, t in enumerate(DIFFICULTY_TAGS)}
    out["plain"] = ~d.any(1)
    return out


def evaluate_predictions(pred: Tensor, data: Mapping, metrics: Sequence[str] = DEFAULT_METRICS) -> dict:
    """Metrics of predicted albedos ([-1, 1], quantised here) against ``data`` overall and per group."""
    per_image = compute_albedo_metrics(metrics, quantize_unit(pred), to_unit(data["albedo"]), data["mask"])
    result: dict = {name: nanmean(v) for name, v in per_image.items()}
    for group, sel in group_masks(data["difficulty"]).items():
        result[f"n_{group}"] = int(sel.sum())
        for name, v in per_image.items():
            result[f"{group}/{name}"] = nanmean(v[sel]) if sel.any() else float("nan")
    result["n_eval"] = int(pred.size(0))
    return result


def predict_all(predict: Callable[[Tensor], Tensor], inputs: Tensor, batch_size: int = 64) -> Tensor:
    return torch.cat([predict(inputs[i:i + batch_size]).cpu() for i in range(0, inputs.size(0), batch_size)])


class AlbedoEvaluator:
    """Evaluates a module with ``predict_albedo`` on the datamodule's held-out split (``eval.split``)."""

    def __init__(self, datamodule, eval_cfg: Mapping):
        self.dm = datamodule
        self.split = dict(eval_cfg).get("split", "test")
        self._data: dict[str, dict] = {}

    def prepare(self) -> None:
        """Nothing to train before the run: the held-out renders are made at the first evaluation."""

    def data(self, split: str | None = None) -> dict:
        split = split or self.split
        if split not in self._data:
            self._data[split] = held_out(self.dm, split)
        return self._data[split]

    def run(self, module, metrics: Sequence[str], n_samples: int, seed: int, progress: bool = False,
            split: str | None = None, bootstrap: int = 0, sanity: bool = False) -> dict:
        """The first ``n_samples`` held-out items of ``split`` (default ``eval.split``; fixed renders, so
        ``seed`` is unused). ``bootstrap`` and ``sanity`` are the conditional evaluator's: an albedo run records
        per-image means, and its sanity rows (photo, baselines, target) are ``gan-lab albedo-eval``'s."""
        data = self.data(split)
        n = min(int(n_samples), data["input"].size(0))
        sub = {k: v[:n] for k, v in data.items()}
        was_training = module.training
        module.eval()
        pred = predict_all(module.predict_albedo, sub["input"])
        module.train(was_training)
        result = evaluate_predictions(pred, sub, metrics)
        result["n_fake"] = n
        result["eval_split"] = split or self.split
        result["albedo_fit"] = FIT_PROVENANCE  # metrics.jsonl from before it fitted one per-channel scale instead
        return result
