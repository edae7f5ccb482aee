"""Named metrics and the one entry point used by training and by ``gan-lab eval``.

Each metric is a few lines: a function of an ``EvalContext`` returning a dict, registered with
``@register_metric(name)`` (the shape of stylegan2-ada's ``metric_main``). Every dict says how its
numbers were made: ``<metric>_backbone`` names the feature network (``eval-classifier:<cache key>``
or the Inception FID network), ``<metric>_reference`` the real images it was compared with, and
``n_fake``/``n_real`` the sample counts. FID on classifier features is ``fid_clf``; plain ``fid`` is only
ever Inception FID.

Which real images each metric compares with (docs/evaluation.md has the table):

* ``fid_clf``/``kid_clf`` (and Inception ``fid``/``kid``): the *reference set* (the training split), never the
  images the generated set was made from. Translation: the mean over target classes c of the distance between
  the translations into c and the reference's class-c images (StarGAN v2's multi-domain protocol), so a
  translator that returns its input cannot win; generation: generated vs the whole reference set.
* ``intra_fid_clf``/``task_fid_clf``: per class (and per source->target pair) against the evaluated split's
  class-c images (for translation those are never the inputs of a translation into c).
* ``diversity_clf``: per target class, the generated images' mean pairwise distance over the reference's class-c
  images' (1: as diverse as real; 0: one image per class).
* ``gan_test``/``scores``: the reference classifier (trained on the training split) judges the generated set.
* ``gan_train``/``aug_gain``: a fresh classifier trained on ``EvalContext.gan_train_set()`` (translation:
  translations of *training-split* inputs; generation: the generated set), scored on the real test split,
  whose images it never saw. Its schedule is ``eval.downstream`` (default: the judge's); GAN-train's real
  reference is that schedule on the whole training split, aug_gain's real-only arm that schedule on the GAN's
  own training set (``dataset.train_fraction`` of it), to which aug_gain adds the generated images.

Intervals: with ``EvalContext.bootstrap`` > 0, ``gan_test`` and the FIDs also record a bootstrap 95 %
interval over the generated samples (``<metric>_ci_lo``/``_ci_hi``; ``gan_lab.metrics.bootstrap``).
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
from gan_lab.metrics.bootstrap import bootstrap_interval, interval_keys, mean_interval
from gan_lab.metrics.classifier import predict
from gan_lab.metrics.fid import FrechetReference, fid_from_features, kid
from gan_lab.metrics.keys import declare_keys
from gan_lab.metrics.gan_train_test import augmentation_gain, classification_scores, gan_train
from gan_lab.progress import progress as progress_bar
from gan_lab.registry import ConfigError, Registry

METRICS: Registry[Callable[["EvalContext"], dict]] = Registry("metric", "eval.metrics")
METRIC_BACKBONES: dict[str, str] = {}  # metric name -> feature backbone it needs (feature-distance metrics only)
# metric name -> what it compares with: "reference" (the reference set), "split" (the evaluated split's images),
# "judge" (the reference classifier), "test" (a classifier trained on generated data, scored on the test split).
# A sanity row made of real images of the evaluated split skips the "split" metrics (its stand-ins *are* that set).
METRIC_REFERENCES: dict[str, str] = {}

# Written beside every evaluation's numbers by the evaluator: the judge's real test accuracy (GAN-test and
# GAN-train read against it) and the module's ``evaluation_facts`` (the head weight the model trained with).
declare_keys("(every evaluation)", {"classifier_test_accuracy": (None, "eval classifier, real test accuracy"),
                                    "lambda_cls_in_use": (None, "λ_cls in use (the head's weight)"),
                                    "g_cls_weight": (None, "G's class term relative to D's")})

MIN_CLASS_SAMPLES = 2  # a per-class FID needs a covariance: at least 2 fake and 2 real samples
MIN_TASK_SAMPLES = 10  # a source->target pair enters task FID with at least this many translations
MAX_DIVERSITY_REFERENCE = 2000  # reference images per class in diversity_clf's denominator (its pairs grow as n²)


def register_metric(name: str, keys: dict[str, tuple[str | None, str]], backbone: str | None = None,
                    reference: str = "reference"):
    """Register a metric with the keys it records ``{key: (direction, label)}`` (see ``metrics.keys``);
    ``backbone`` names the feature network it needs (checked before any work); ``reference`` what it compares
    with (``METRIC_REFERENCES``)."""
    if backbone is not None:
        METRIC_BACKBONES[name] = backbone
    if reference not in ("reference", "split", "judge", "test"):
        raise ValueError(f"metric {name!r}: reference={reference!r}; allowed: reference, split, judge, test")
    METRIC_REFERENCES[name] = reference
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
    return cheap_metrics() + ["kid_clf", "intra_fid_clf", "diversity_clf", "gan_train"]


def tensor_fingerprint(x: Tensor) -> str:
    arr = np.ascontiguousarray(x.detach().cpu().numpy())
    return f"{tuple(arr.shape)}:{hashlib.blake2b(arr.data, digest_size=12).hexdigest()}"


@dataclass
class EvalContext:
    """Everything a metric may need; features are computed lazily, once per backbone.

    ``backbones`` and ``feature_cache`` may be dicts the caller keeps across evaluations: the real
    sets' features are then computed once (cached by backbone name and a hash of the real images).
    """

    fake_images: Tensor  # (N, C, H, W) in [-1, 1], CPU
    fake_labels: Tensor  # (N,) target labels
    fake_sources: Tensor | None  # (N,) source labels (translation) or None
    real_images: Tensor  # (M, C, H, W) in [-1, 1]: the real evaluation split
    real_labels: Tensor
    num_classes: int
    classifier: nn.Module  # reference classifier (trained on real train data), eval mode
    classifier_test_accuracy: float
    train_classifier_fn: Callable[..., nn.Module] | None = None  # the downstream classifier's training
    real_train: Dataset | None = None  # the real images aug_gain adds generated ones to (the GAN's training set)
    # the downstream classifier trained on a real dataset alone: (model, real test accuracy); None = the judge
    # (right only when the downstream schedule is the judge's and the dataset its training split)
    real_only_fn: Callable[[Dataset], tuple[nn.Module, float]] | None = None
    reference_train: Dataset | None = None  # the whole real training split (GAN-train's real reference)
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
    # "translation": the headline FID/KID is a mean over target classes against the reference's class-c images
    protocol: str = "generation"
    reference_images: Tensor | None = None  # the FID/KID reference set (None: real_images)
    reference_labels: Tensor | None = None
    reference_name: str = "evaluated split"  # what the reference is, for the records (e.g. "train split")
    # GAN-train / aug_gain training data: given, or made on first use by gan_train_fn, else the fake set
    gan_train_images: Tensor | None = None
    gan_train_labels: Tensor | None = None
    gan_train_fn: Callable[[], tuple[Tensor, Tensor]] | None = None
    gan_train_source: str = "the generated set"  # what GAN-train trained on, for the records
    bootstrap: int = 0  # resamples for the 95 % intervals (0: none)
    _fake_features: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for kind in ("fake", "real"):
            x, y = getattr(self, f"{kind}_images"), getattr(self, f"{kind}_labels")
            if x.dim() != 4 or y.dim() != 1 or len(x) != len(y):
                raise ValueError(f"{kind}_images must be (N, C, H, W) with (N,) {kind}_labels; "
                                 f"got {tuple(x.shape)} and {tuple(y.shape)}")
        if self.fake_sources is not None and len(self.fake_sources) != len(self.fake_labels):
            raise ValueError("fake_sources must have one source label per fake image")
        if self.protocol not in ("generation", "translation"):
            raise ValueError(f"protocol={self.protocol!r}; allowed: generation, translation")
        if (self.reference_images is None) != (self.reference_labels is None):
            raise ValueError("reference_images and reference_labels go together")

    @property
    def n(self) -> dict:
        return {"n_fake": int(self.fake_images.size(0)), "n_real": int(self.real_images.size(0))}

    @property
    def reference(self) -> tuple[Tensor, Tensor]:
        """(images, labels) the headline FID/KID compare with."""
        if self.reference_images is None:
            return self.real_images, self.real_labels
        return self.reference_images, self.reference_labels

    def gan_train_set(self) -> tuple[Tensor, Tensor]:
        """(images, labels) GAN-train and aug_gain learn from (made once)."""
        if self.gan_train_images is None and self.gan_train_fn is not None:
            self.gan_train_images, self.gan_train_labels = self.gan_train_fn()
        if self.gan_train_images is None:
            return self.fake_images, self.fake_labels
        return self.gan_train_images, self.gan_train_labels

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
        """(N, D) float64 features of the ``fake``, ``real`` or ``reference`` set on backbone ``name``, computed
        once (real sets: once per content, across evaluations sharing ``feature_cache``)."""
        bb = self.backbone(name)
        if which == "fake":
            if name not in self._fake_features:
                self._fake_features[name] = bb(self.fake_images, progress=self.progress)
            return self._fake_features[name]
        if which in ("real", "reference"):
            images = self.real_images if which == "real" else self.reference[0]
            key = (bb.name, tensor_fingerprint(images))
            if key not in self.feature_cache:
                self.feature_cache[key] = bb(images, progress=self.progress)
            return self.feature_cache[key]
        raise ValueError(f"which={which!r}; allowed: fake, real, reference")

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


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)


def _class_indices(labels: Tensor, classes) -> list[np.ndarray]:
    labels = labels.long().cpu().numpy()
    return [np.flatnonzero(labels == c) for c in classes]


def _mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _per_target_groups(ctx: EvalContext, min_fake: int = MIN_CLASS_SAMPLES) -> tuple[list[int], list[np.ndarray],
                                                                                    list[np.ndarray]]:
    """Target classes with enough generated and reference images: (classes, fake index groups, reference index
    groups)."""
    ref_labels = ctx.reference[1]
    classes = list(range(ctx.num_classes))
    fake_groups, ref_groups = _class_indices(ctx.fake_labels, classes), _class_indices(ref_labels, classes)
    keep = [i for i, c in enumerate(classes) if len(fake_groups[i]) >= min_fake and len(ref_groups[i]) >= MIN_CLASS_SAMPLES]
    return [classes[i] for i in keep], [fake_groups[i] for i in keep], [ref_groups[i] for i in keep]


def _reference_text(ctx: EvalContext, per_class: bool) -> str:
    if per_class:
        return f"{ctx.reference_name}, per target class (mean over the classes)"
    return f"{ctx.reference_name}, all classes"


def _group_fids(fake: np.ndarray, fake_groups: list[np.ndarray], reals: list[np.ndarray], resamples: int,
                seed: int) -> tuple[float, tuple[float, float] | None]:
    """Mean over groups of FID(fake[group], real): the value (exact path) and, with ``resamples`` > 0, its
    bootstrap interval (each group resampled within itself; fast path against prepared references)."""
    value = _mean_or_nan([fid_from_features(fake[g], r) for g, r in zip(fake_groups, reals)])
    if resamples <= 0 or not fake_groups:
        return value, None
    refs = [FrechetReference(r) for r in reals]

    def statistic(groups):
        return _mean_or_nan([ref.distance(fake[g]) for g, ref in zip(groups, refs)])

    return value, bootstrap_interval(statistic, fake_groups, resamples, seed, value)


def _fid(ctx: EvalContext, backbone: str, metric: str) -> dict:
    """Headline FID against the reference set (module docstring); translation: mean over target classes."""
    fake, ref = _np(ctx.features(backbone, "fake")), _np(ctx.features(backbone, "reference"))
    translation = ctx.protocol == "translation"
    out = {}
    if translation:
        classes, fake_groups, ref_groups = _per_target_groups(ctx)
        reals = [ref[g] for g in ref_groups]
        out[f"{metric}_classes"] = len(classes)
    else:
        fake_groups, reals = [np.arange(len(fake))], [ref]
    out[metric], interval = _group_fids(fake, fake_groups, reals, ctx.bootstrap, ctx.seed)
    if interval is not None:
        out.update(interval_keys(metric, interval))
    return {**out, f"{metric}_reference": _reference_text(ctx, translation), **ctx.provenance(backbone, metric)}


def _kid(ctx: EvalContext, backbone: str, metric: str) -> dict:
    """Headline KID against the reference set; translation: mean over target classes (``_std``: mean subset std)."""
    fake, ref = _np(ctx.features(backbone, "fake")), _np(ctx.features(backbone, "reference"))
    kw = dict(subsets=ctx.kid_subsets, subset_size=ctx.kid_subset_size, seed=ctx.seed)
    translation = ctx.protocol == "translation"
    if translation:
        _, fake_groups, ref_groups = _per_target_groups(ctx)
        pairs = [kid(fake[g], ref[r], **kw) for g, r in zip(fake_groups, ref_groups)]
        mean, std = _mean_or_nan([m for m, _ in pairs]), _mean_or_nan([s for _, s in pairs])
    else:
        mean, std = kid(fake, ref, **kw)
    return {metric: mean, f"{metric}_std": std, f"{metric}_reference": _reference_text(ctx, translation),
            **ctx.provenance(backbone, metric)}


def _task_fid(ctx: EvalContext, backbone: str, metric: str) -> dict:
    """Mean FID over source->target pairs with >= MIN_TASK_SAMPLES translations (vs the split's target class)."""
    if ctx.fake_sources is None:
        return {}
    fake, real = _np(ctx.features(backbone, "fake")), _np(ctx.features(backbone, "real"))
    src, tgt = ctx.fake_sources.long().cpu(), ctx.fake_labels.long().cpu()
    real_labels = ctx.real_labels.long().cpu()
    values = []
    for s, t in sorted({(int(a), int(b)) for a, b in zip(src, tgt)}):
        mask = ((src == s) & (tgt == t)).numpy()
        real_mask = (real_labels == t).numpy()
        if mask.sum() >= MIN_TASK_SAMPLES and real_mask.sum() >= MIN_CLASS_SAMPLES:
            values.append(fid_from_features(fake[mask], real[real_mask]))
    return {metric: _mean_or_nan(values), f"{metric}_pairs": len(values), **ctx.provenance(backbone, metric)}


def _intra_fid(ctx: EvalContext, backbone: str, metric: str, task_metric: str) -> dict:
    """Mean of per-class FIDs (generated class c vs the evaluated split's class c); translation adds task FID."""
    fake, real = _np(ctx.features(backbone, "fake")), _np(ctx.features(backbone, "real"))
    classes = range(ctx.num_classes)
    fake_groups, real_groups = _class_indices(ctx.fake_labels, classes), _class_indices(ctx.real_labels, classes)
    keep = [c for c in classes if len(fake_groups[c]) >= MIN_CLASS_SAMPLES and len(real_groups[c]) >= MIN_CLASS_SAMPLES]
    value, interval = _group_fids(fake, [fake_groups[c] for c in keep], [real[real_groups[c]] for c in keep],
                                  ctx.bootstrap, ctx.seed)
    out = {metric: value, f"{metric}_classes": len(keep), **ctx.provenance(backbone, metric)}
    if interval is not None:
        out.update(interval_keys(metric, interval))
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
                 backbone="classifier", reference="split")
def intra_fid_clf(ctx: EvalContext) -> dict:
    return _intra_fid(ctx, "classifier", "intra_fid_clf", "task_fid_clf")


@register_metric("task_fid_clf", {"task_fid_clf": ("min", "task FID, source->target pairs (eval-classifier features)")},
                 backbone="classifier", reference="split")
def task_fid_clf(ctx: EvalContext) -> dict:
    return _task_fid(ctx, "classifier", "task_fid_clf")


def mean_pairwise_distance(features: np.ndarray) -> float:
    """Mean Euclidean distance over the distinct pairs of rows of ``features`` (n >= 2)."""
    sq = (features * features).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * features @ features.T, 0.0)
    n = len(features)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


@register_metric("diversity_clf", {"diversity_clf": (None, "intra-class diversity / real's (eval-classifier features)")},
                 backbone="classifier")
def diversity_clf(ctx: EvalContext) -> dict:
    """Mode collapse, seen directly: per target class c, the mean pairwise feature distance among the generated
    class-c images divided by the same among the reference's class-c images; the mean over classes. About 1 for
    real images, 0 when the generator draws one image per class (a collapse FID and GAN-test can hide:
    one sharp template per class scores well on both). Not ranked (direction None): above 1 is not better --
    translation's identity row, inputs of other classes, scores about 2 -- so it is read beside GAN-test."""
    fake, ref = _np(ctx.features("classifier", "fake")), _np(ctx.features("classifier", "reference"))
    classes, fake_groups, ref_groups = _per_target_groups(ctx)
    ratios = [mean_pairwise_distance(fake[g]) / mean_pairwise_distance(ref[r][:MAX_DIVERSITY_REFERENCE])
              for g, r in zip(fake_groups, ref_groups)]
    return {"diversity_clf": _mean_or_nan(ratios), "diversity_clf_classes": len(classes),
            "diversity_clf_reference": _reference_text(ctx, True), **ctx.provenance("classifier", "diversity_clf")}


@register_metric("fid", {"fid": ("min", "FID (Inception)")}, backbone="inception")
def fid_inception(ctx: EvalContext) -> dict:
    return _fid(ctx, "inception", "fid")


@register_metric("kid", {"kid": ("min", "KID (Inception)")}, backbone="inception")
def kid_inception(ctx: EvalContext) -> dict:
    return _kid(ctx, "inception", "kid")


@register_metric("intra_fid", {"intra_fid": ("min", "intra-class FID (Inception)"),
                              "task_fid": ("min", "task FID, source->target pairs (Inception)")}, backbone="inception",
                 reference="split")
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


@register_metric("gan_test", {"gan_test": ("max", "GAN-test accuracy")}, reference="judge")
def gan_test_metric(ctx: EvalContext) -> dict:
    pred, _ = predict(ctx.classifier, ctx.fake_images)
    correct = (pred == ctx.fake_labels.long().cpu()).double().numpy()
    out = {"gan_test": float(correct.mean())}
    if ctx.bootstrap > 0:
        out.update(interval_keys("gan_test", mean_interval(correct, ctx.bootstrap, ctx.seed)))
    return {**out, **_classifier_provenance(ctx, "gan_test")}


@register_metric("scores", {"confidence_score": ("max", "average confidence score (target-class probability)")},
                 reference="judge")
def scores_metric(ctx: EvalContext) -> dict:
    """GAN-test's companions: the mean target-class probability and the accuracy per target class."""
    return {**classification_scores(ctx.classifier, ctx.fake_images, ctx.fake_labels, ctx.num_classes),
            **_classifier_provenance(ctx, "scores")}


@register_metric("gan_train", {"gan_train": ("max", "GAN-train accuracy"),
                              "gan_train_real_reference": (None, "GAN-train classifier trained on real data")},
                 reference="test")
def gan_train_metric(ctx: EvalContext) -> dict:
    _needs_training(ctx, "gan_train", ["real_test"])
    images, labels = ctx.gan_train_set()
    acc = gan_train(ctx.train_classifier_fn, images, labels, ctx.real_test, ctx.progress)
    # A fresh classifier trained on generated data; its reference: the same training on the real training split.
    reference, ref_acc = ctx.classifier, float(ctx.classifier_test_accuracy)
    if ctx.real_only_fn is not None and ctx.reference_train is not None:
        reference, ref_acc = ctx.real_only_fn(ctx.reference_train)
    key = getattr(reference, "cache_key", None) or ctx.classifier_key or "uncached"
    return {"gan_train": acc, "gan_train_real_reference": float(ref_acc),
            "gan_train_classifier": f"retrained-on-fake:eval-classifier:{key}",
            "gan_train_data": f"{ctx.gan_train_source} ({len(labels)} images)", **ctx.n}


@register_metric("aug_gain", {"aug_gain": ("max", "augmentation gain (real + generated vs real only)"),
                             "aug_accuracy": ("max", "accuracy trained on real + generated"),
                             "aug_confidence": ("max", "true-class confidence trained on real + generated"),
                             "aug_real_only_accuracy": (None, "accuracy trained on real only"),
                             "aug_real_only_confidence": (None, "true-class confidence trained on real only")},
                 reference="test")
def aug_gain_metric(ctx: EvalContext) -> dict:
    _needs_training(ctx, "aug_gain", ["real_train", "real_test"])
    images, labels = ctx.gan_train_set()
    real_only = ctx.classifier if ctx.real_only_fn is None else ctx.real_only_fn(ctx.real_train)[0]
    return {**augmentation_gain(ctx.train_classifier_fn, ctx.real_train, images, labels, ctx.real_test,
                                real_only, ctx.progress),
            "aug_data": f"{ctx.gan_train_source} ({len(labels)} images)", **ctx.n}
