"""Named metrics and the one entry point used by training and by ``gan-lab eval``.

Each metric is a few lines: a function of an ``EvalContext`` returning a dict, registered with
``@register_metric(name)`` (the shape of stylegan2-ada's ``metric_main``). Every dict says how its
numbers were made: ``<metric>_backbone`` names the feature network (``eval-classifier:<cache key>``
or the Inception FID network), and ``n_fake``/``n_real`` the sample counts. FID on classifier
features is ``fid_clf``; plain ``fid`` is only ever Inception FID.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm import tqdm

from gan_lab.metrics.backbones import FeatureExtractor, check_inception, create_backbone
from gan_lab.metrics.fid import fid_from_features, kid
from gan_lab.metrics.keys import declare_keys
from gan_lab.metrics.gan_train_test import augmentation_gain, classification_scores, gan_test, gan_train
from gan_lab.progress import progress as progress_bar
from gan_lab.registry import ConfigError, Registry

METRICS: Registry[Callable[["EvalContext"], dict]] = Registry("metric", "eval.metrics")
METRIC_BACKBONES: dict[str, str] = {}  # metric name -> feature backbone it needs (feature-distance metrics only)

# Written beside every evaluation's numbers by the evaluator (a reference: GAN-test and GAN-train read against it).
declare_keys("(every evaluation)", {"classifier_test_accuracy": (None, "eval classifier, real test accuracy")})

MIN_CLASS_SAMPLES = 2  # a per-class FID needs a covariance: at least 2 fake and 2 real samples
MIN_TASK_SAMPLES = 10  # a source->target pair enters task FID with at least this many translations


def register_metric(name: str, keys: dict[str, tuple[str | None, str]], backbone: str | None = None):
    """Register a metric with the keys it records ``{key: (direction, label)}`` (see ``metrics.keys``);
    ``backbone`` names the feature network it needs (checked before any work)."""
    if backbone is not None:
        METRIC_BACKBONES[name] = backbone
    declare_keys(name, keys)
    return METRICS.register(name)


def check_metrics(names: Sequence[str], inception_weights: str | None = None, inception_resize: str = "legacy",
                  key: str = "eval.metrics") -> None:
    """Fail now, with one clear message, if a name is unknown or a needed backbone cannot run here.

    Run before training (and before ``gan-lab eval`` loads anything), so a run that asks for Inception
    FID on a machine without it stops at once instead of at its first evaluation. Never falls back.
    """
    for name in names:
        if name not in METRICS:
            raise ConfigError(f"{key}={name!r} is not a known metric; allowed: {', '.join(METRICS.names())}")
    if any(METRIC_BACKBONES.get(n) == "inception" for n in names):
        check_inception(inception_weights, inception_resize)


def cheap_metrics() -> list[str]:
    """Cheap enough to run every few hundred steps."""
    return ["fid_clf", "gan_test", "scores"]


def full_metrics() -> list[str]:
    """The end-of-training set (classifier backbone only: runs offline)."""
    return cheap_metrics() + ["kid_clf", "intra_fid_clf", "gan_train"]


def tensor_fingerprint(x: Tensor) -> str:
    arr = np.ascontiguousarray(x.detach().cpu().numpy())
    return f"{tuple(arr.shape)}:{hashlib.blake2b(arr.data, digest_size=12).hexdigest()}"


@dataclass
class EvalContext:
    """Everything a metric may need; features are computed lazily, once per backbone.

    ``backbones`` and ``feature_cache`` may be dicts the caller keeps across evaluations: the real
    set's features are then computed once (cached by backbone name and a hash of the real images).
    """

    fake_images: Tensor  # (N, C, H, W) in [-1, 1], CPU
    fake_labels: Tensor  # (N,) target labels
    fake_sources: Tensor | None  # (N,) source labels (translation) or None
    real_images: Tensor  # (M, C, H, W) in [-1, 1]: the real evaluation split
    real_labels: Tensor
    num_classes: int
    classifier: nn.Module  # reference classifier (trained on real train data), eval mode
    classifier_test_accuracy: float
    train_classifier_fn: Callable[..., nn.Module] | None = None  # same architecture + schedule
    real_train: Dataset | None = None
    real_test: Dataset | None = None
    seed: int = 0
    backbones: dict[str, FeatureExtractor] = field(default_factory=dict)
    feature_cache: dict = field(default_factory=dict)
    classifier_key: str | None = None  # provenance; defaults to classifier.cache_key
    inception_weights: str | None = None  # eval.inception_weights
    inception_resize: str = "legacy"  # eval.inception_resize: legacy | antialias
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    progress: bool = True
    _fake_features: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for kind in ("fake", "real"):
            x, y = getattr(self, f"{kind}_images"), getattr(self, f"{kind}_labels")
            if x.dim() != 4 or y.dim() != 1 or len(x) != len(y):
                raise ValueError(f"{kind}_images must be (N, C, H, W) with (N,) {kind}_labels; "
                                 f"got {tuple(x.shape)} and {tuple(y.shape)}")
        if self.fake_sources is not None and len(self.fake_sources) != len(self.fake_labels):
            raise ValueError("fake_sources must have one source label per fake image")

    @property
    def n(self) -> dict:
        return {"n_fake": int(self.fake_images.size(0)), "n_real": int(self.real_images.size(0))}

    def backbone_options(self, name: str) -> dict:
        if name == "classifier":
            return {"model": self.classifier, "key": self.classifier_key}
        if name == "inception":
            return {"weights": self.inception_weights, "resize": self.inception_resize}
        return {}

    def backbone(self, name: str) -> FeatureExtractor:
        if name not in self.backbones:
            self.backbones[name] = create_backbone(name, **self.backbone_options(name))
        return self.backbones[name]

    def features(self, name: str, which: str) -> Tensor:
        """(N, D) float64 features of the fake or real set on backbone ``name``, computed once."""
        bb = self.backbone(name)
        if which == "fake":
            if name not in self._fake_features:
                self._fake_features[name] = bb(self.fake_images, progress=self.progress)
            return self._fake_features[name]
        if which == "real":
            key = (bb.name, tensor_fingerprint(self.real_images))
            if key not in self.feature_cache:
                self.feature_cache[key] = bb(self.real_images, progress=self.progress)
            return self.feature_cache[key]
        raise ValueError(f"which={which!r}; allowed: fake, real")

    def provenance(self, name: str, metric: str) -> dict:
        bb = self.backbone(name)
        return {f"{metric}_backbone": bb.name, **bb.info(), **self.n}


def evaluate(names: Sequence[str], ctx: EvalContext, progress: bool = True, bar: tqdm | None = None) -> dict:
    """Run the named metrics (validated first: an unknown name raises ConfigError) and merge their dicts.

    Progress: one bar over the metrics (shown only after 2 s, so quick evaluations stay silent), or
    ``bar``, a caller's bar advanced once per metric with the metric's name as postfix.
    """
    names = list(dict.fromkeys(names))
    fns = [(n, METRICS.get(n)) for n in names]
    ctx.progress = progress
    out: dict = {}
    own = bar is None
    if own:
        bar = progress_bar(total=len(fns), desc="metrics", disable=not progress, leave=False, delay=2)
    try:
        for name, fn in fns:
            bar.set_postfix_str(name, refresh=False)
            out.update(fn(ctx))
            bar.update()
    finally:
        if own:
            bar.close()
    out.update(ctx.n)
    return out


# ---------------------------------------------------------------- feature-distance metrics


def _fid(ctx: EvalContext, backbone: str, metric: str) -> dict:
    value = fid_from_features(ctx.features(backbone, "fake"), ctx.features(backbone, "real"))
    return {metric: value, **ctx.provenance(backbone, metric)}


def _kid(ctx: EvalContext, backbone: str, metric: str) -> dict:
    mean, std = kid(ctx.features(backbone, "fake"), ctx.features(backbone, "real"), subsets=ctx.kid_subsets,
                    subset_size=ctx.kid_subset_size, seed=ctx.seed)
    return {metric: mean, f"{metric}_std": std, **ctx.provenance(backbone, metric)}


def _group_fid(fake: Tensor, real: Tensor, fake_mask: Tensor, real_mask: Tensor, min_fake: int) -> float | None:
    if int(fake_mask.sum()) < min_fake or int(real_mask.sum()) < MIN_CLASS_SAMPLES:
        return None
    return fid_from_features(fake[fake_mask], real[real_mask])


def _mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _task_fid(ctx: EvalContext, backbone: str, metric: str) -> dict:
    """Mean FID over source->target pairs with >= MIN_TASK_SAMPLES translations (vs real target class)."""
    if ctx.fake_sources is None:
        return {}
    fake, real = ctx.features(backbone, "fake"), ctx.features(backbone, "real")
    src, tgt = ctx.fake_sources.long().cpu(), ctx.fake_labels.long().cpu()
    values = []
    for s, t in sorted({(int(a), int(b)) for a, b in zip(src, tgt)}):
        v = _group_fid(fake, real, (src == s) & (tgt == t), ctx.real_labels.cpu() == t, MIN_TASK_SAMPLES)
        if v is not None:
            values.append(v)
    return {metric: _mean_or_nan(values), f"{metric}_pairs": len(values), **ctx.provenance(backbone, metric)}


def _intra_fid(ctx: EvalContext, backbone: str, metric: str, task_metric: str) -> dict:
    """Mean of per-class FIDs (fake of class c vs real of class c); translation adds task FID."""
    fake, real = ctx.features(backbone, "fake"), ctx.features(backbone, "real")
    labels, real_labels = ctx.fake_labels.long().cpu(), ctx.real_labels.long().cpu()
    values = [v for c in range(ctx.num_classes)
              if (v := _group_fid(fake, real, labels == c, real_labels == c, MIN_CLASS_SAMPLES)) is not None]
    out = {metric: _mean_or_nan(values), f"{metric}_classes": len(values), **ctx.provenance(backbone, metric)}
    return {**out, **_task_fid(ctx, backbone, task_metric)}


@register_metric("fid_clf", {"fid_clf": ("min", "FID (eval-classifier features; not Inception FID)")},
                 backbone="classifier")
def fid_clf(ctx: EvalContext) -> dict:
    return _fid(ctx, "classifier", "fid_clf")


@register_metric("kid_clf", {"kid_clf": ("min", "KID (eval-classifier features)")}, backbone="classifier")
def kid_clf(ctx: EvalContext) -> dict:
    return _kid(ctx, "classifier", "kid_clf")


@register_metric("intra_fid_clf", {"intra_fid_clf": ("min", "intra-class FID (eval-classifier features)"),
                                  "task_fid_clf": ("min", "task FID, source->target pairs (eval-classifier features)")},
                 backbone="classifier")
def intra_fid_clf(ctx: EvalContext) -> dict:
    return _intra_fid(ctx, "classifier", "intra_fid_clf", "task_fid_clf")


@register_metric("task_fid_clf", {"task_fid_clf": ("min", "task FID, source->target pairs (eval-classifier features)")},
                 backbone="classifier")
def task_fid_clf(ctx: EvalContext) -> dict:
    return _task_fid(ctx, "classifier", "task_fid_clf")


@register_metric("fid", {"fid": ("min", "FID (Inception)")}, backbone="inception")
def fid_inception(ctx: EvalContext) -> dict:
    return _fid(ctx, "inception", "fid")


@register_metric("kid", {"kid": ("min", "KID (Inception)")}, backbone="inception")
def kid_inception(ctx: EvalContext) -> dict:
    return _kid(ctx, "inception", "kid")


@register_metric("intra_fid", {"intra_fid": ("min", "intra-class FID (Inception)"),
                              "task_fid": ("min", "task FID, source->target pairs (Inception)")}, backbone="inception")
def intra_fid_inception(ctx: EvalContext) -> dict:
    return _intra_fid(ctx, "inception", "intra_fid", "task_fid")


# ---------------------------------------------------------------- classifier-based metrics


def _classifier_provenance(ctx: EvalContext, metric: str) -> dict:
    key = ctx.classifier_key or getattr(ctx.classifier, "cache_key", None) or "uncached"
    return {f"{metric}_classifier": f"eval-classifier:{key}", **ctx.n}


def _needs_training(ctx: EvalContext, metric: str, datasets: Sequence[str]) -> None:
    missing = [n for n in ("train_classifier_fn", *datasets) if getattr(ctx, n) is None]
    if missing:
        raise ValueError(f"metric {metric} needs EvalContext.{', '.join(missing)} (it trains a classifier)")


@register_metric("gan_test", {"gan_test": ("max", "GAN-test accuracy")})
def gan_test_metric(ctx: EvalContext) -> dict:
    return {"gan_test": gan_test(ctx.classifier, ctx.fake_images, ctx.fake_labels),
            **_classifier_provenance(ctx, "gan_test")}


@register_metric("scores", {"accuracy_score": ("max", "prediction accuracy score"),
                           "confidence_score": ("max", "average confidence score")})
def scores_metric(ctx: EvalContext) -> dict:
    return {**classification_scores(ctx.classifier, ctx.fake_images, ctx.fake_labels, ctx.num_classes),
            **_classifier_provenance(ctx, "scores")}


@register_metric("gan_train", {"gan_train": ("max", "GAN-train accuracy"),
                              "gan_train_real_reference": (None, "GAN-train classifier trained on real data")})
def gan_train_metric(ctx: EvalContext) -> dict:
    _needs_training(ctx, "gan_train", ["real_test"])
    acc = gan_train(ctx.train_classifier_fn, ctx.fake_images, ctx.fake_labels, ctx.real_test, ctx.progress)
    # The GAN-train classifier is a fresh one: same architecture and schedule as the reference, generated data.
    key = ctx.classifier_key or getattr(ctx.classifier, "cache_key", None) or "uncached"
    return {"gan_train": acc, "gan_train_real_reference": float(ctx.classifier_test_accuracy),
            "gan_train_classifier": f"retrained-on-fake:eval-classifier:{key}", **ctx.n}


@register_metric("aug_gain", {"aug_gain": ("max", "augmentation gain (real + generated vs real only)"),
                             "aug_accuracy": ("max", "accuracy trained on real + generated"),
                             "aug_real_only_accuracy": (None, "accuracy trained on real only")})
def aug_gain_metric(ctx: EvalContext) -> dict:
    _needs_training(ctx, "aug_gain", ["real_train", "real_test"])
    return {**augmentation_gain(ctx.train_classifier_fn, ctx.real_train, ctx.fake_images, ctx.fake_labels,
                                ctx.real_test, ctx.classifier_test_accuracy, ctx.progress), **ctx.n}

