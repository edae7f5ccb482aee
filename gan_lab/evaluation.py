"""Glue between a trained module, its data and the metric library.

Builds (once, cached on disk) the reference evaluation classifier, holds the real splits as tensors,
asks the module for its generated sets, and runs named metrics from ``gan_lab.metrics.suite``. Used by
the training callback and by ``gan-lab eval``. Generated images are quantised to 8 bits first, exactly
as if they had been saved as PNGs.

Which real images play which part (docs/evaluation.md): the evaluated split (``eval.split``, or
``eval.select_split`` for model selection) gives translation's inputs and the intra-class FID's reference;
the whole training split is the headline FID/KID's reference set (disjoint from both held-out splits);
GAN-train learns from the module's ``make_gan_train_set`` (translation: translations of training-split
inputs) and is scored on the test split. With ``sanity=True`` the same metrics are computed for the
module's sanity rows (``gan_lab.metrics.sanity``) and cached on disk, since they depend only on the data,
the judge and the evaluation plan.

Constructing an ``Evaluator`` checks ``eval.metrics`` + ``eval.final_metrics`` (names, and that the
Inception backbone can run when asked for), so a bad metric setting stops a run before training.
In multi-process training only rank 0 calls ``run`` (see ``gan_lab.callbacks.evaluation``): the
reference classifier and the GAN-train classifier are trained once, not once per rank.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from gan_lab.imaging import quantize_signed
from gan_lab.metrics.classifier import (cache_key, code_fingerprint, data_fingerprint, reference_classifier,
                                        train_classifier)
from gan_lab.metrics.sanity import SANITY_ROWS, SanityData
from gan_lab.metrics.suite import METRIC_REFERENCES, EvalContext, check_metrics, evaluate, tensor_fingerprint
from gan_lab.progress import progress as progress_bar
from gan_lab.records import strict_json

REFERENCE_NAME = "train split"  # the headline FID/KID's reference set (docs/evaluation.md)
SANITY_CACHE_VERSION = 1


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
        self._fingerprints: dict[str, dict] = {}  # data_fingerprint of the reference split, computed once
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

    def reference(self) -> tuple[Tensor, Tensor]:
        """The headline FID/KID's reference set: the whole training split (``train_fraction`` aside)."""
        if "reference" not in self._real:
            self._real["reference"] = stack_split(self.dm.reference_train())
        return self._real["reference"]

    def run(self, module, metrics: Sequence[str], n_samples: int, seed: int, progress: bool = True,
            split: str | None = None, bootstrap: int = 0, sanity: bool = False) -> dict:
        """Generate ``n_samples`` with the module's EMA generator and compute ``metrics``.

        ``bootstrap``: resamples for the 95 % intervals of GAN-test and the FIDs (0: none). ``sanity``: also the
        module's sanity rows, returned under ``"sanity_rows"`` as {row: metrics} (cached on disk).
        ``progress``: one bar over the stages (generate, then each metric) that appears only when the
        evaluation takes more than 2 s, and is cleared when it ends.
        """
        names = list(dict.fromkeys(metrics))
        if not names:  # nothing to measure: no classifier, no generated images (e.g. eval.final_metrics=[])
            return {"n_fake": 0, "eval_seed": seed}
        self._check(names)
        model, test_acc = self.classifier()
        model.to(getattr(module, "device", None) or "cpu")  # judge on the GPU when the module is on one
        split = split or self.cfg.get("split", "test")
        real_x, real_y = self.real(split)
        train_x, train_y = self.real("train")
        plans: dict[str, dict] = {}

        def make_gan_train_set() -> tuple[Tensor, Tensor]:
            plans["train"] = self._generate(module, "make_gan_train_set", train_x, train_y, n_samples, seed + 1)
            return quantize_signed(plans["train"]["fake_images"]), plans["train"]["fake_labels"]

        with progress_bar(total=len(names) + 1, desc=f"evaluate ({n_samples} samples)", disable=not progress, leave=False,
                  delay=2) as bar:
            bar.set_postfix_str("generate", refresh=False)
            plans["eval"] = fake = self._generate(module, "make_eval_set", real_x, real_y, n_samples, seed)
            bar.update()
            ctx = self._context(model, test_acc, fake["fake_images"], fake["fake_labels"], fake.get("fake_sources"),
                                real_x, real_y, seed, progress, bootstrap, module.eval_protocol,
                                gan_train_fn=make_gan_train_set, gan_train_source=module.gan_train_source)
            result = evaluate(names, ctx, progress=progress, bar=bar)
        result["classifier_test_accuracy"] = float(test_acc)
        result["n_fake"] = int(fake["fake_images"].size(0))
        result["eval_seed"] = seed
        result.update(module.evaluation_facts())
        rows = [r for r in module.sanity_rows if sanity]
        if rows:
            if any(METRIC_REFERENCES.get(m) == "test" for m in names) and "train" not in plans:
                make_gan_train_set()
            data = SanityData(real_x, real_y, train_x, train_y, plans["eval"], plans.get("train"),
                              self.dm.num_classes, seed)
            result["sanity_rows"] = {r: self._sanity_row(r, data, names, model, test_acc, seed, progress,
                                                         module.eval_protocol) for r in rows}
        return result

    @staticmethod
    def _generate(module, hook: str, images: Tensor, labels: Tensor, n: int, seed: int) -> dict:
        """A generated set from the module's sampling hook, in eval mode, training mode restored after."""
        was_training = module.training
        module.eval()
        try:
            return getattr(module, hook)(images, labels, n, seed)
        finally:
            module.train(was_training)

    def _context(self, model, test_acc, fake_x, fake_y, fake_src, real_x, real_y, seed, progress, bootstrap, protocol,
                 gan_train_fn=None, gan_train=None, gan_train_source="") -> EvalContext:
        ref_x, ref_y = self.reference()
        return EvalContext(
            fake_images=quantize_signed(fake_x), fake_labels=fake_y, fake_sources=fake_src,
            real_images=real_x, real_labels=real_y, num_classes=self.dm.num_classes, classifier=model,
            classifier_test_accuracy=test_acc, train_classifier_fn=self.train_classifier_fn(),
            real_train=self.dm.dataset("train"), real_test=self.dm.dataset("test"), seed=seed,
            reference_train=self.dm.reference_train(), real_only_fn=self.real_only,
            backbones=self._backbones, feature_cache=self._feature_cache,
            inception_weights=self.cfg.get("inception_weights"),
            inception_resize=self.cfg.get("inception_resize", "legacy"), progress=progress,
            protocol=protocol, reference_images=ref_x, reference_labels=ref_y, reference_name=REFERENCE_NAME,
            gan_train_fn=gan_train_fn, gan_train_images=None if gan_train is None else quantize_signed(gan_train[0]),
            gan_train_labels=None if gan_train is None else gan_train[1], gan_train_source=gan_train_source,
            bootstrap=bootstrap,
        )

    def _sanity_row(self, row: str, data: SanityData, names: Sequence[str], model, test_acc, seed: int, progress: bool,
                    protocol: str) -> dict:
        """One sanity row's metrics, read from ``<cache_dir>/sanity/<key>.json`` when this exact row was computed
        before (same data, judge, plan, metrics and code), else computed and written there. No bootstrap: a
        sanity row is a reference point, and its intervals would triple the bootstrap's cost."""
        stand_in = SANITY_ROWS.get(row).build(data)
        applicable = [m for m in names if METRIC_REFERENCES.get(m) not in stand_in.skip]
        plan_keys = {name: {k: tensor_fingerprint(v) for k, v in plan.items() if isinstance(v, Tensor)}
                     for name, plan in (("eval", data.eval_plan), ("train", data.train_plan or {}))}
        key = cache_key({
            "version": SANITY_CACHE_VERSION, "row": row, "metrics": applicable, "seed": seed,
            "protocol": protocol, "judge": getattr(model, "cache_key", None),
            "split": tensor_fingerprint(data.split_images), "train": tensor_fingerprint(data.train_images),
            "reference": tensor_fingerprint(self.reference()[0]), "plans": plan_keys,
            "code": code_fingerprint(type(self)) + code_fingerprint(SanityData) + code_fingerprint(EvalContext),
        })
        path = Path(self.cache_dir) / "sanity" / f"{key}.json"
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                pass  # unreadable: recompute and overwrite
        ctx = self._context(model, test_acc, stand_in.images, stand_in.labels, stand_in.sources, data.split_images,
                            data.split_labels, seed, progress, 0, protocol, gan_train=stand_in.gan_train,
                            gan_train_source=stand_in.source)
        result = {"row": row, "description": SANITY_ROWS.get(row).description, **evaluate(applicable, ctx, progress=progress),
                  "classifier_test_accuracy": float(test_acc), "eval_seed": seed}
        result = strict_json(result)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(result, allow_nan=False))
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs the recomputation next time
        return result

    def _downstream_kwargs(self) -> dict:
        """The judge's training arguments with ``eval.downstream``'s non-null values in their place."""
        kw = self._train_kwargs()
        for k, v in dict(self.cfg.get("downstream") or {}).items():
            if v is not None:
                kw[k] = int(v)
        return kw

    def train_classifier_fn(self):
        """A fresh downstream classifier (GAN-train, augmentation gain): the judge's architecture and schedule
        unless ``eval.downstream`` sets its own."""
        return partial(train_classifier, **self._downstream_kwargs())

    def real_only(self, dataset) -> tuple[torch.nn.Module, float]:
        """The downstream classifier trained on the real ``dataset`` alone (cached): (model, real test accuracy).
        The judge itself where that is the same training (the whole training split, the judge's schedule)."""
        kw = self._downstream_kwargs()
        reference = self.dm.reference_train()
        if kw == self._train_kwargs() and len(dataset) == len(reference):
            if "reference" not in self._fingerprints:  # hashing the split is not free: once per evaluator
                self._fingerprints["reference"] = data_fingerprint(reference)
            if data_fingerprint(dataset) == self._fingerprints["reference"]:
                return self.classifier()
        return reference_classifier(dataset, self.dm.dataset("test"), cache_dir=self.cache_dir,
                                    key_info={"data": self.data_key, "role": "downstream real-only"}, **kw)
