"""Evaluation classifier lifecycle, GAN-test, GAN-train, scores and the reference-classifier cache.

Real data: sklearn's bundled 8×8 digits. The network is a tiny stand-in with the EvalClassifier
contract (``features`` + ``forward``) so the tests stay fast and independent of the nets package;
one test runs the real ``gan_lab.nets.classifier.EvalClassifier`` when it is importable.
"""

from __future__ import annotations

import json
import math
import time
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import Dataset

import gan_lab.metrics.classifier as clf
from gan_lab.nets.classifier import input_pool
from gan_lab.metrics.gan_train_test import augmentation_gain, classification_scores, gan_test, gan_train


class TinyNet(nn.Module):
    """Stand-in with the EvalClassifier contract."""

    def __init__(self, channels, num_classes, image_size, width=8, feature_dim=32, max_input=0):
        super().__init__()
        pool = input_pool(image_size, max_input)  # as EvalClassifier's max_input
        image_size = image_size // pool
        self.body = nn.Sequential(nn.AvgPool2d(pool),
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(2 * width * ((image_size + 1) // 2) ** 2, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.features(x))


class Digits(Dataset):
    """Items as the project's datamodules give them: (float32 (1, 8, 8) in [-1, 1], int64 label)."""

    def __init__(self, split: str):
        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8.0 - 1.0
        y = torch.tensor(d.target, dtype=torch.int64)
        sl = slice(0, 1200) if split == "train" else slice(1200, None)
        self.x, self.y = x[sl], y[sl]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


HP = dict(num_classes=10, channels=1, image_size=8, steps=150, batch_size=64, lr=1e-2, seed=0, width=8,
          feature_dim=32, progress=False)


@pytest.fixture(scope="module", autouse=True)
def stand_in_net():
    with pytest.MonkeyPatch.context() as m:
        m.setattr(clf, "build_eval_classifier", lambda c, k, s, w=8, f=32, m=0: TinyNet(c, k, s, w, f, m))
        yield


@pytest.fixture(scope="module")
def data():
    return Digits("train"), Digits("test")


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    train, test = data
    model, acc = clf.reference_classifier(train, test, cache_dir=tmp_path_factory.mktemp("cache"),
                                          key_info={"data": "digits"}, **HP)
    return model, acc


def test_reference_classifier_learns_digits(reference):
    _, acc = reference
    assert 0.85 < acc <= 1.0


def test_gan_test_of_real_test_images_equals_reference_accuracy(reference, data):
    model, acc = reference
    test = data[1]
    assert gan_test(model, test.x, test.y) == acc  # exactly
    assert clf.accuracy(model, test.x, test.y) == clf.accuracy(model, test)
    wrong = (test.y + 1) % 10
    assert gan_test(model, test.x, wrong) < 0.1  # wrong targets are caught


def test_gan_train_on_real_training_images_reaches_reference(reference, data):
    _, ref_acc = reference
    train, test = data
    train_fn = partial(clf.train_classifier, **HP)
    assert abs(gan_train(train_fn, train.x, train.y, test) - ref_acc) <= 0.02
    shuffled = train.y[torch.randperm(len(train.y), generator=torch.Generator().manual_seed(0))]
    assert gan_train(train_fn, train.x, shuffled, test) < 0.3  # images that do not match their labels


def test_confidence_score_is_mean_target_probability(reference, data):
    model, _ = reference
    test = data[1]
    with torch.no_grad():
        probs = F.softmax(model(test.x), dim=1)
    expected = probs[torch.arange(len(test.y)), test.y].mean().item()
    s = classification_scores(model, test.x, test.y, 10)
    assert s["confidence_score"] == pytest.approx(expected, rel=1e-6)
    assert "accuracy_score" not in s  # that was GAN-test under another name
    per_class = [(probs.argmax(1)[test.y == c] == c).float().mean().item() for c in range(10)]
    assert s["per_class_accuracy"] == pytest.approx(per_class, rel=1e-6)


class PixelOracle(nn.Module):
    """Predicts the class written in pixel (0, 0): logits 5·one_hot."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return 5.0 * F.one_hot(x[:, 0, 0, 0].long(), 4).float()


def test_per_class_accuracy_on_constructed_case():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 0, 0, 3, 0, 2, 2])
    images = predicted.float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()
    s = classification_scores(PixelOracle(), images, labels, num_classes=4)
    assert s["per_class_accuracy"][:3] == [0.75, 0.0, 1.0]
    assert math.isnan(s["per_class_accuracy"][3])  # no image generated for class 3
    p_hit, p_miss = math.exp(5) / (math.exp(5) + 3), 1 / (math.exp(5) + 3)
    assert s["confidence_score"] == pytest.approx((4 * p_hit + 3 * p_miss) / 7, rel=1e-6)


def test_training_deterministic_given_seed_and_leaves_global_rng(data):
    train = data[0]
    hp = {**HP, "steps": 20}
    state = torch.get_rng_state()
    a = clf.train_classifier(train, **hp)
    assert torch.equal(torch.get_rng_state(), state)
    b = clf.train_classifier(train, **hp)
    c = clf.train_classifier(train, **{**hp, "seed": 1})
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_reference_cache_loads_and_retrains_on_change(data, tmp_path, monkeypatch):
    train, test = data
    calls = []
    real_train = clf.train_classifier

    def counting(*a, **k):
        calls.append(1)
        return real_train(*a, **k)

    monkeypatch.setattr(clf, "train_classifier", counting)
    hp = {**HP, "steps": 40}
    m1, acc1 = clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits"}, **hp)
    assert len(calls) == 1
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"{m1.cache_key}.json", f"{m1.cache_key}.pt"]  # no temp files left behind
    side = json.loads((tmp_path / f"{m1.cache_key}.json").read_text())
    assert side["test_accuracy"] == acc1 and side["key_info"] == {"data": "digits"}
    assert side["hparams"]["steps"] == 40 and side["train_data"]["len"] == 1200

    t0, rng = time.time(), torch.get_rng_state()
    m2, acc2 = clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits"}, **hp)
    assert torch.equal(torch.get_rng_state(), rng)  # loading does not consume the caller's random stream
    assert len(calls) == 1 and acc2 == acc1 and m2.cache_key == m1.cache_key  # loaded, not retrained
    assert time.time() - t0 < 2.0
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not m2.training

    clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits-v2"}, **hp)
    assert len(calls) == 2  # changed key info
    clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits"}, **{**hp, "steps": 41})
    assert len(calls) == 3  # changed hyper-parameter
    changed = Digits("train")
    changed.x = changed.x.clone()
    changed.x[-1] = -changed.x[-1]
    clf.reference_classifier(changed, test, cache_dir=tmp_path, key_info={"data": "digits"}, **hp)
    assert len(calls) == 4  # changed data (same length)

    clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits"}, **{**hp, "max_input": 8})
    assert len(calls) == 4  # max_input >= image size changes nothing: the same key, loaded
    clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits"}, **{**hp, "max_input": 4})
    assert len(calls) == 5  # a pooling judge is another network

    (tmp_path / f"{m1.cache_key}.pt").write_bytes(b"not a checkpoint")
    _, acc5 = clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits"}, **hp)
    assert len(calls) == 6 and acc5 == acc1  # corrupt cache: retrained (deterministically) and rewritten
    clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={"data": "digits"}, **hp)
    assert len(calls) == 6


def test_augmentation_gain_trains_on_real_plus_generated(reference, data):
    model, ref_acc = reference
    train, test = data
    seen = {}

    def fake_train(dataset, progress=True):
        seen["n"], seen["item"] = len(dataset), dataset[len(dataset) - 1]
        return model

    class Uniform(nn.Module):  # a real-only stand-in that knows nothing: accuracy of class 0, confidence 1/10
        def forward(self, x):
            return torch.zeros(len(x), 10)

    gen = train.x[:50].clone()
    out = augmentation_gain(fake_train, train, gen, train.y[:50], test, real_only=Uniform(), progress=False)
    assert seen["n"] == 1250 and torch.equal(seen["item"][0], gen[-1])
    chance = float((test.y == 0).double().mean())
    assert out["aug_accuracy"] == ref_acc and out["aug_real_only_accuracy"] == pytest.approx(chance)
    assert out["aug_gain"] == pytest.approx(ref_acc - chance)
    assert out["aug_real_only_confidence"] == pytest.approx(0.1) and 0.5 < out["aug_confidence"] <= 1


def test_real_eval_classifier_through_the_cache(data, tmp_path):
    try:
        from gan_lab.nets.classifier import EvalClassifier
    except ImportError as e:
        pytest.skip(f"gan_lab.nets.classifier not available yet ({e})")
    train, test = data
    with pytest.MonkeyPatch.context() as m:
        m.setattr(clf, "build_eval_classifier",
                  lambda c, k, s, w=32, f=128, m=0: EvalClassifier(c, k, s, width=w, feature_dim=f, max_input=m))
        model, acc = clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={}, **{**HP, "steps": 60})
        again, acc2 = clf.reference_classifier(train, test, cache_dir=tmp_path, key_info={}, **{**HP, "steps": 60})
    assert isinstance(model, EvalClassifier) and acc == acc2 and acc > 0.5
    assert model.features(test.x[:4]).shape == (4, HP["feature_dim"])
