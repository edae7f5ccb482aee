"""The metric registry and ``evaluate``: names, provenance, numbers against independent computations."""

from __future__ import annotations

import builtins
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import TensorDataset

import gan_lab.metrics.classifier as clf
from gan_lab.metrics.backbones import BackboneUnavailableError, FeatureExtractor
from gan_lab.metrics.fid import kid
from gan_lab.metrics.suite import METRICS, EvalContext, cheap_metrics, evaluate, full_metrics
from gan_lab.registry import ConfigError


class TinyNet(nn.Module):
    """Stand-in with the EvalClassifier contract (features + forward)."""

    def __init__(self, channels, num_classes, image_size, width=8, feature_dim=32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(2 * width * ((image_size + 1) // 2) ** 2, feature_dim), nn.Tanh(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


HP = dict(num_classes=10, channels=1, image_size=8, steps=150, batch_size=64, lr=1e-2, seed=0, width=8,
          feature_dim=32, progress=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8.0 - 1.0
    y = torch.tensor(d.target, dtype=torch.int64)
    train, test = TensorDataset(x[:1200], y[:1200]), TensorDataset(x[1200:], y[1200:])
    with pytest.MonkeyPatch.context() as m:
        m.setattr(clf, "build_eval_classifier", lambda c, k, s, w=8, f=32, m=0: TinyNet(c, k, s, w, f))
        model, acc = clf.reference_classifier(train, test, cache_dir=tmp_path_factory.mktemp("cache"),
                                              key_info={"data": "digits"}, **HP)
        yield dict(model=model, acc=acc, train=train, test=test, xt=x[1200:], yt=y[1200:])


def make_ctx(s, fake_x, fake_y, sources=None, **kw) -> EvalContext:
    base = dict(fake_images=fake_x, fake_labels=fake_y, fake_sources=sources, real_images=s["xt"], real_labels=s["yt"],
                num_classes=10, classifier=s["model"], classifier_test_accuracy=s["acc"], real_train=s["train"],
                real_test=s["test"], seed=3)
    return EvalContext(**{**base, **kw})


def independent_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID with S1 = AᵀA, S2 = BᵀB: tr sqrt(S1·S2) is the nuclear norm of A·Bᵀ (no matrix square root)."""
    a = (f1 - f1.mean(0)) / np.sqrt(len(f1) - 1)
    b = (f2 - f2.mean(0)) / np.sqrt(len(f2) - 1)
    diff = f1.mean(0) - f2.mean(0)
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * np.linalg.svd(a @ b.T, compute_uv=False).sum())


def feats(model, x) -> np.ndarray:
    with torch.no_grad():
        return model.features(x).double().numpy()


def noisy(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def test_cheap_metrics_on_real_images_names_and_provenance(setup):
    s = setup
    out = evaluate(cheap_metrics(), make_ctx(s, s["xt"], s["yt"]), progress=False)
    assert abs(out["fid_clf"]) < 1e-6  # the real set against itself
    assert out["gan_test"] == s["acc"]
    assert "accuracy_score" not in out  # it was GAN-test under a second name: recorded once
    assert out["fid_clf_backbone"] == f"eval-classifier:{s['model'].cache_key}"
    assert out["gan_test_classifier"] == f"eval-classifier:{s['model'].cache_key}"
    assert out["n_fake"] == out["n_real"] == 597
    assert len(out["per_class_accuracy"]) == 10 and 0 < out["confidence_score"] <= 1
    assert "fid" not in out and "kid" not in out  # classifier features never pass for Inception FID


def test_fid_clf_matches_independent_computation_and_grows_with_noise(setup):
    s = setup
    real_f = feats(s["model"], s["xt"])
    values = []
    for sigma in (0.1, 0.3, 0.6):
        fake = noisy(s["xt"], sigma)
        out = evaluate(["fid_clf"], make_ctx(s, fake, s["yt"]), progress=False)
        assert out["fid_clf"] == pytest.approx(independent_fid(feats(s["model"], fake), real_f), rel=1e-8)
        values.append(out["fid_clf"])
    assert values[0] < values[1] < values[2] and values[0] > 0


def test_intra_and_task_fid_are_means_of_group_fids(setup):
    s = setup
    x, y = s["xt"], s["yt"]
    fake = noisy(x, 0.3, seed=1)
    rank = torch.zeros_like(y)
    for c in range(10):
        idx = (y == c).nonzero().flatten()
        rank[idx] = torch.arange(len(idx))
    sources = torch.where(rank < 3, (y + 3) % 10, torch.where(rank % 2 == 0, (y + 1) % 10, (y + 2) % 10))
    out = evaluate(["intra_fid_clf"], make_ctx(s, fake, y, sources=sources), progress=False)
    ff, rf = feats(s["model"], fake), feats(s["model"], x)
    yn, sn = y.numpy(), sources.numpy()
    per_class = [independent_fid(ff[yn == c], rf[yn == c]) for c in range(10)]
    assert out["intra_fid_clf"] == pytest.approx(np.mean(per_class), rel=1e-8)
    assert out["intra_fid_clf_classes"] == 10
    pairs = [independent_fid(ff[(sn == (c + k) % 10) & (yn == c)], rf[yn == c]) for c in range(10) for k in (1, 2)]
    assert out["task_fid_clf_pairs"] == 20  # the 3-sample (c+3 -> c) pairs are below the minimum
    assert out["task_fid_clf"] == pytest.approx(np.mean(pairs), rel=1e-8)
    no_sources = evaluate(["intra_fid_clf"], make_ctx(s, fake, y), progress=False)
    assert "task_fid_clf" not in no_sources and no_sources["intra_fid_clf"] == out["intra_fid_clf"]


def test_kid_clf_is_kid_on_classifier_features(setup):
    s = setup
    fake = noisy(s["xt"], 0.3)
    out = evaluate(["kid_clf"], make_ctx(s, fake, s["yt"], kid_subsets=10, kid_subset_size=200), progress=False)
    mean, std = kid(feats(s["model"], fake), feats(s["model"], s["xt"]), subsets=10, subset_size=200, seed=3)
    assert out["kid_clf"] == pytest.approx(mean, rel=1e-9) and out["kid_clf_std"] == pytest.approx(std, rel=1e-9)
    assert out["kid_clf_backbone"].startswith("eval-classifier:")


def test_full_metrics_gan_train_on_real_training_images(setup):
    s = setup
    train_x, train_y = s["train"].tensors
    fn = partial(clf.train_classifier, **HP)
    out = evaluate(full_metrics(), make_ctx(s, train_x, train_y, train_classifier_fn=fn), progress=False)
    assert set(full_metrics()) == {"fid_clf", "gan_test", "scores", "kid_clf", "intra_fid_clf", "diversity_clf",
                                   "gan_train"}
    assert abs(out["gan_train"] - s["acc"]) <= 0.02
    assert out["gan_train_real_reference"] == s["acc"]
    assert out["gan_test"] > 0.9  # the classifier on its own training images
    for key in ("fid_clf", "kid_clf", "intra_fid_clf", "confidence_score", "n_fake", "n_real"):
        assert key in out
    assert out["n_fake"] == 1200 and out["n_real"] == 597


def test_same_seed_same_numbers(setup):
    s = setup
    fake = noisy(s["xt"], 0.2)
    names = ["fid_clf", "kid_clf", "scores"]
    a = evaluate(names, make_ctx(s, fake, s["yt"], kid_subsets=5, kid_subset_size=100), progress=False)
    b = evaluate(names, make_ctx(s, fake, s["yt"], kid_subsets=5, kid_subset_size=100), progress=False)
    assert a == b


def test_unknown_metric_name_fails_before_any_work(setup):
    s = setup
    ctx = make_ctx(s, s["xt"], s["yt"])
    with pytest.raises(ConfigError, match=r"eval.metrics='fdi'.*fid_clf.*gan_train"):
        evaluate(["fid_clf", "fdi"], ctx, progress=False)
    assert ctx.backbones == {}  # fid_clf did not run


def test_training_metrics_need_a_train_fn(setup):
    s = setup
    with pytest.raises(ValueError, match="train_classifier_fn"):
        evaluate(["gan_train"], make_ctx(s, s["xt"], s["yt"]), progress=False)


def test_aug_gain_metric(setup):
    s = setup
    seen = []

    def train_fn(dataset, progress=True):
        seen.append(len(dataset))
        return s["model"]

    out = evaluate(["aug_gain"], make_ctx(s, s["xt"][:100], s["yt"][:100], train_classifier_fn=train_fn),
                   progress=False)
    assert seen == [1300] and out["aug_gain"] == 0.0 and out["aug_accuracy"] == s["acc"]
    # the average confidence score: the mean soft-max probability of each real test image's true class
    with torch.no_grad():
        probs = torch.softmax(s["model"](s["xt"]), 1)
    expected = float(probs[torch.arange(len(s["yt"])), s["yt"]].double().mean())
    assert out["aug_confidence"] == pytest.approx(expected, rel=1e-6) == out["aug_real_only_confidence"]
    assert out["aug_data"] == "the generated set (100 images)"


def test_downstream_real_only_references(setup):
    """With ``real_only_fn`` (a downstream schedule other than the judge's, or a data-efficient run): aug_gain's
    real-only arm is that schedule on ``real_train`` (the GAN's training set) and GAN-train's real reference
    that schedule on the whole training split, never the judge."""
    s = setup
    subset = torch.utils.data.Subset(s["train"], range(120))
    other = TinyNet(1, 10, 8, 8, 32).eval()  # an untrained stand-in: its accuracy differs from the judge's
    asked = []

    def real_only_fn(dataset):
        asked.append(len(dataset))
        return (other, 0.123) if len(dataset) == 120 else (s["model"], 0.456)

    ctx = make_ctx(s, s["xt"][:100], s["yt"][:100], train_classifier_fn=lambda d, progress=True: s["model"],
                   real_train=subset, reference_train=s["train"], real_only_fn=real_only_fn)
    out = evaluate(["aug_gain", "gan_train"], ctx, progress=False)
    assert asked == [120, 1200]
    with torch.no_grad():
        base = float((other(s["xt"]).argmax(1) == s["yt"]).double().mean())
    assert out["aug_real_only_accuracy"] == pytest.approx(base) and out["aug_accuracy"] == pytest.approx(s["acc"])
    assert out["aug_gain"] == pytest.approx(s["acc"] - base)
    assert out["gan_train_real_reference"] == 0.456


def test_gan_train_learns_from_the_gan_train_set_not_the_evaluated_one(setup):
    """Translation: GAN-train must learn from translations of training inputs, never from the scored test images."""
    s = setup
    seen = []

    def train_fn(dataset, progress=True):
        seen.append(dataset[len(dataset) - 1][0].clone())  # aug_gain: real train + generated, generated last
        return s["model"]

    made = []

    def make():
        made.append(1)
        return s["train"].tensors[0][:50], s["train"].tensors[1][:50]

    ctx = make_ctx(s, s["xt"], s["yt"], train_classifier_fn=train_fn, gan_train_fn=make,
                   gan_train_source="translations of training-split images")
    out = evaluate(["gan_train", "gan_test"], ctx, progress=False)
    assert made == [1] and torch.equal(seen[0], s["train"].tensors[0][49])
    assert out["gan_train_data"] == "translations of training-split images (50 images)"
    evaluate(["aug_gain"], ctx, progress=False)
    assert made == [1] and torch.equal(seen[1], s["train"].tensors[0][49])  # made once, shared with aug_gain


class Counting(FeatureExtractor):
    name = "counting"

    def __init__(self, model):
        self.model, self.sizes = model, []

    def __call__(self, images, progress=False):
        self.sizes.append(len(images))
        return torch.from_numpy(feats(self.model, images))


def test_real_features_computed_once_across_evaluations(setup):
    s = setup
    bb = Counting(s["model"])
    backbones, cache = {"classifier": bb}, {}
    for sigma in (0.1, 0.2):
        ctx = make_ctx(s, noisy(s["xt"][:300], sigma), s["yt"][:300], backbones=backbones, feature_cache=cache,
                       kid_subsets=3, kid_subset_size=100)
        out = evaluate(["fid_clf", "kid_clf", "intra_fid_clf"], ctx, progress=False)
        assert out["fid_clf_backbone"] == "counting"
    assert sorted(bb.sizes) == [300, 300, 597]  # real once, each fake set once


@pytest.fixture
def no_torch_fidelity(monkeypatch):
    real_import = builtins.__import__
    for name in list(sys.modules):
        if name.startswith("torch_fidelity"):
            monkeypatch.delitem(sys.modules, name)

    def fake_import(name, *args, **kwargs):
        if name.startswith("torch_fidelity"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_inception_metric_never_falls_back_to_classifier(setup, no_torch_fidelity):
    s = setup
    with pytest.raises(BackboneUnavailableError, match=r"pip install gan_lab\[inception\]"):
        evaluate(["fid_clf", "fid"], make_ctx(s, s["xt"], s["yt"]), progress=False)


def test_registry_names_and_config_defaults():
    expected = {"fid_clf", "kid_clf", "intra_fid_clf", "task_fid_clf", "fid", "kid", "intra_fid", "gan_test",
                "gan_train", "scores", "aug_gain", "diversity_clf"}
    assert set(METRICS.names()) == expected
    assert cheap_metrics() == ["fid_clf", "gan_test", "scores"]
    conf = Path(__file__).resolve().parent.parent / "conf" / "train.yaml"
    if conf.is_file():
        cfg = OmegaConf.load(conf)
        for name in list(cfg.eval.metrics) + list(cfg.eval.final_metrics):
            assert name in METRICS


def test_check_metrics_names_key_and_needed_backbones(no_torch_fidelity):
    from gan_lab.metrics.suite import METRIC_BACKBONES, check_metrics

    assert {m for m, b in METRIC_BACKBONES.items() if b == "inception"} == {"fid", "kid", "intra_fid"}
    check_metrics(full_metrics() + ["aug_gain", "task_fid_clf"])  # offline metrics: fine without the extra
    with pytest.raises(ConfigError, match=r"^metrics='fdi' is not a known metric; allowed: .*fid_clf"):
        check_metrics(["fid_clf", "fdi"], key="metrics")
    for name in ("fid", "kid", "intra_fid"):
        with pytest.raises(BackboneUnavailableError, match=r"pip install gan_lab\[inception\]"):
            check_metrics(["gan_test", name])


def test_evaluator_refuses_unavailable_inception_before_training(no_torch_fidelity, tmp_path):
    """Asked for Inception FID at the end of training on a machine without it: stop at construction, not hours later."""
    from gan_lab.evaluation import Evaluator

    cfg = {"metrics": ["fid_clf"], "final_metrics": ["fid_clf", "fid"], "classifier": {}}
    with pytest.raises(BackboneUnavailableError, match="Inception FID/KID"):
        Evaluator(None, cfg, str(tmp_path), {})
    with pytest.raises(ConfigError, match="eval.inception_resize='nearest'"):
        Evaluator(None, {**cfg, "final_metrics": ["kid"], "inception_resize": "nearest"}, str(tmp_path), {})
    Evaluator(None, {**cfg, "final_metrics": ["fid_clf", "gan_train"]}, str(tmp_path), {})  # classifier only: fine


def test_translation_fid_is_a_mean_over_target_classes_against_the_reference(setup):
    """The headline translation FID: translations into c against the reference's class-c images, averaged."""
    s = setup
    ref_x, ref_y = s["train"].tensors
    fake = noisy(s["xt"], 0.3, seed=2)
    sources = (s["yt"] + 1) % 10
    ctx = make_ctx(s, fake, s["yt"], sources=sources, protocol="translation", reference_images=ref_x,
                   reference_labels=ref_y, reference_name="train split", kid_subsets=5, kid_subset_size=50)
    out = evaluate(["fid_clf", "kid_clf"], ctx, progress=False)
    ff, rf = feats(s["model"], fake), feats(s["model"], ref_x)
    yn, rn = s["yt"].numpy(), ref_y.numpy()
    expected = np.mean([independent_fid(ff[yn == c], rf[rn == c]) for c in range(10)])
    assert out["fid_clf"] == pytest.approx(expected, rel=1e-8)
    assert out["fid_clf_classes"] == 10 and out["fid_clf_reference"].startswith("train split, per target class")
    kids = [kid(ff[yn == c], rf[rn == c], subsets=5, subset_size=50, seed=3)[0] for c in range(10)]
    assert out["kid_clf"] == pytest.approx(np.mean(kids), rel=1e-9)
    # the same images under the generation protocol: one FID against the whole reference set
    gen = evaluate(["fid_clf"], make_ctx(s, fake, s["yt"], reference_images=ref_x, reference_labels=ref_y),
                   progress=False)
    assert gen["fid_clf"] == pytest.approx(independent_fid(ff, rf), rel=1e-8)


def test_identity_translator_cannot_win_the_headline_fid(setup):
    """Returning the input must score far worse than real images of the target class (the old protocol, FID of
    the translations against the very images they were made from, gave the identity ~0)."""
    s = setup
    ref_x, ref_y = s["train"].tensors
    gen = torch.Generator().manual_seed(0)
    targets = (s["yt"] + torch.randint(1, 10, s["yt"].shape, generator=gen)) % 10
    kw = dict(protocol="translation", reference_images=ref_x, reference_labels=ref_y)
    identity = evaluate(["fid_clf", "gan_test"], make_ctx(s, s["xt"], targets, sources=s["yt"], **kw), progress=False)
    real = evaluate(["fid_clf", "gan_test"], make_ctx(s, s["xt"], s["yt"], **kw), progress=False)
    assert identity["fid_clf"] > 5 * real["fid_clf"] and identity["gan_test"] < 0.1
    assert real["gan_test"] == s["acc"]  # real images of the target class: the judge's real test accuracy
    old = evaluate(["fid_clf"], make_ctx(s, s["xt"], targets, sources=s["yt"]), progress=False)
    assert old["fid_clf"] < 1e-6  # what the old protocol measured: the identity's translations are the test set


def test_bootstrap_intervals_cover_the_value_and_are_seeded(setup):
    s = setup
    fake = noisy(s["xt"], 0.3, seed=3)
    ctx = dict(bootstrap=50, protocol="translation", reference_images=s["train"].tensors[0],
               reference_labels=s["train"].tensors[1])
    names = ["fid_clf", "gan_test", "intra_fid_clf"]
    a = evaluate(names, make_ctx(s, fake, s["yt"], **ctx), progress=False)
    b = evaluate(names, make_ctx(s, fake, s["yt"], **ctx), progress=False)
    assert a == b  # seeded
    correct = None
    for m in ("fid_clf", "gan_test", "intra_fid_clf"):
        lo, hi = a[f"{m}_ci_lo"], a[f"{m}_ci_hi"]
        assert lo < hi
    # GAN-test's interval against the binomial normal approximation of the same accuracy
    with torch.no_grad():
        correct = (s["model"](fake).argmax(1) == s["yt"]).double()
    p, n = float(correct.mean()), len(correct)
    half = 1.96 * (p * (1 - p) / n) ** 0.5
    assert a["gan_test_ci_lo"] == pytest.approx(p - half, abs=0.02) and a["gan_test_ci_hi"] == pytest.approx(p + half, abs=0.02)
    none = evaluate(["gan_test"], make_ctx(s, fake, s["yt"]), progress=False)
    assert "gan_test_ci_lo" not in none


def test_diversity_clf_against_scipy_and_its_sanity_points(setup):
    """Per class: mean pairwise feature distance of the generated images over the reference's; real images of the
    same distribution score about 1, one image per class (a collapsed generator) exactly 0."""
    from scipy.spatial.distance import pdist

    s = setup
    ref_x, ref_y = s["train"].tensors
    fake, y = s["xt"], s["yt"]
    out = evaluate(["diversity_clf"], make_ctx(s, fake, y, reference_images=ref_x, reference_labels=ref_y),
                   progress=False)
    f_fake, f_ref = feats(s["model"], fake), feats(s["model"], ref_x)
    expected = np.mean([pdist(f_fake[(y == c).numpy()]).mean() / pdist(f_ref[(ref_y == c).numpy()]).mean()
                        for c in range(10)])
    assert out["diversity_clf"] == pytest.approx(expected, rel=1e-9)
    assert out["diversity_clf_classes"] == 10
    assert 0.8 < out["diversity_clf"] < 1.2  # held-out real images: about as diverse as the reference
    template = torch.stack([ref_x[(ref_y == c).nonzero()[0, 0]] for c in range(10)])[y]  # one image per class
    collapsed = evaluate(["diversity_clf"], make_ctx(s, template, y, reference_images=ref_x, reference_labels=ref_y),
                         progress=False)
    assert collapsed["diversity_clf"] == pytest.approx(0.0, abs=1e-6)
    from gan_lab.metrics.keys import direction

    assert direction("diversity_clf") is None  # shown beside GAN-test, never ranked: above 1 is not better
