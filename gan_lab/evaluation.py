"""Glue between a trained module, its data and the metric library.

Builds (once, cached on disk) the reference evaluation classifier, holds the real evaluation
split as tensors, asks the module for a generated set, and runs named metrics from
``gan_lab.metrics.suite``. Used by the training callback and by ``gan-lab eval``.
Generated images are quantised to 8 bits first, exactly as if they had been saved as PNGs.

Constructing an ``Evaluator`` checks ``eval.metrics`` + ``eval.final_metrics`` (names, and that the
Inception backbone can run when asked for), so a bad metric setting stops a run before training.
In multi-process training only rank 0 calls ``run`` (see ``gan_lab.callbacks.evaluation``): the
reference classifier and the GAN-train classifier are trained once, not once per rank.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from gan_lab.imaging import quantize_signed
from gan_lab.metrics.classifier import reference_classifier, train_classifier
from gan_lab.metrics.suite import EvalContext, check_metrics, evaluate
from gan_lab.progress import progress as progress_bar


def stack_split(dataset, batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """A whole dataset split as (images, labels) tensors."""
    xs, ys = [], []
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys).long()


class Evaluator:
    """Evaluates any module that implements ``make_eval_set`` against a datamodule's real data."""

    def __init__(self, datamodule, eval_cfg: Mapping, cache_dir: str, data_key: Mapping[str, Any]):
        self.dm = datamodule
        self.cfg = dict(eval_cfg)
        self.clf_cfg = dict(self.cfg["classifier"])
        self.cache_dir = cache_dir
        # the judge learns from the whole training split: train_fraction (GAN training data) is not in its key
        self.data_key = {k: v for k, v in dict(data_key).items() if k != "train_fraction"}
        self._classifier = None
        self._real: dict[str, tuple[Tensor, Tensor]] = {}
        self._backbones: dict = {}  # kept across evaluations: real-set features are computed once
        self._feature_cache: dict = {}
        self._checked: set[str] = set()  # metric names already checked (every evaluation would repeat it)
        self._check([*self.cfg.get("metrics", []), *self.cfg.get("final_metrics", [])])

    def _check(self, names: Sequence[str]) -> None:
        new = [n for n in names if n not in self._checked]
        if new:
            check_metrics(new, self.cfg.get("inception_weights"), self.cfg.get("inception_resize", "legacy"))
            self._checked.update(new)

    def _train_kwargs(self) -> dict:
        c = self.clf_cfg
        return dict(
            num_classes=self.dm.num_classes, channels=self.dm.channels, image_size=self.dm.image_size,
            steps=int(c["steps"]), batch_size=int(c["batch_size"]), lr=float(c["lr"]),
            seed=int(c.get("seed", 0)), width=int(c["width"]), feature_dim=int(c.get("feature_dim", 128)),
            max_input=int(c.get("max_input") or 0),
        )

    def prepare(self) -> None:
        """Before training: train or load the reference classifier (cached), so the bar starts after it;
        nothing when neither ``eval.metrics`` nor ``eval.final_metrics`` asks for a metric."""
        if self.cfg.get("metrics") or self.cfg.get("final_metrics"):
            self.classifier()

    def classifier(self):
        """(model, real test accuracy): trained once per data/config/seed, then loaded from the cache."""
        if self._classifier is None:
            self._classifier = reference_classifier(
                self.dm.reference_train(), self.dm.dataset("test"), cache_dir=self.cache_dir,
                key_info={"data": self.data_key, "classifier": self.clf_cfg}, **self._train_kwargs(),
            )
        return self._classifier

    def real(self, split: str) -> tuple[Tensor, Tensor]:
        if split not in self._real:
            self._real[split] = stack_split(self.dm.dataset(split))
        return self._real[split]

    def run(self, module, metrics: Sequence[str], n_samples: int, seed: int, progress: bool = True,
            split: str | None = None) -> dict:
        """Generate ``n_samples`` with the module's EMA generator and compute ``metrics``.

        ``progress``: one bar over the stages (generate, then each metric) that appears only when the
        evaluation takes more than 2 s, and is cleared when it ends.
        """
        names = list(dict.fromkeys(metrics))
        if not names:  # nothing to measure: no classifier, no generated images (e.g. eval.final_metrics=[])
            return {"n_fake": 0, "eval_seed": seed}
        self._check(names)
        model, test_acc = self.classifier()
        model.to(getattr(module, "device", None) or "cpu")  # judge on the GPU when the module is on one
        real_x, real_y = self.real(split or self.cfg.get("split", "test"))
        with progress_bar(total=len(names) + 1, desc=f"evaluate ({n_samples} samples)", disable=not progress, leave=False,
                  delay=2) as bar:
            bar.set_postfix_str("generate", refresh=False)
            was_training = module.training
            module.eval()
            try:
                fake = module.make_eval_set(real_x, real_y, n_samples, seed)
            finally:
                module.train(was_training)
            bar.update()
            ctx = EvalContext(
                fake_images=quantize_signed(fake["fake_images"]), fake_labels=fake["fake_labels"],
                fake_sources=fake.get("fake_sources"), real_images=real_x, real_labels=real_y,
                num_classes=self.dm.num_classes, classifier=model, classifier_test_accuracy=test_acc,
                train_classifier_fn=self.train_classifier_fn(),
                real_train=self.dm.reference_train(), real_test=self.dm.dataset("test"), seed=seed,
                backbones=self._backbones, feature_cache=self._feature_cache,
                inception_weights=self.cfg.get("inception_weights"),
                inception_resize=self.cfg.get("inception_resize", "legacy"), progress=progress,
            )
            result = evaluate(names, ctx, progress=progress, bar=bar)
        result["classifier_test_accuracy"] = float(test_acc)
        result["n_fake"] = int(fake["fake_images"].size(0))
        result["eval_seed"] = seed
        return result

    def train_classifier_fn(self):
        """A fresh classifier of the reference's architecture and schedule (GAN-train, augmentation gain)."""
        kw = self._train_kwargs()
        return partial(train_classifier, **kw)
