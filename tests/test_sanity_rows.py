"""The evaluation protocol on real digits: which real images each metric compares with, and the sanity rows.

A stand-in that knows nothing (the identity translator, the class template) must never beat real images of
the target class; the real row's GAN-test is the judge's real test accuracy; GAN-train never learns from the
images it is scored on. These are the orderings that the old protocol (translations compared with their own
inputs, GAN-train trained on translations of the test split) broke.
"""

from __future__ import annotations

import math
from typing import ClassVar

import pytest
import torch

from gan_lab.config import group_option
from gan_lab.data import build_datamodule
from gan_lab.evaluation import Evaluator
from gan_lab.metrics.keys import direction
from gan_lab.metrics.sanity import class_means, real_of_classes

EVAL = {"metrics": [], "final_metrics": [], "split": "test", "classifier": {
    "width": 8, "feature_dim": 32, "steps": 200, "batch_size": 64, "lr": 0.004, "seed": 0, "max_input": 0}}
METRICS = ["fid_clf", "kid_clf", "intra_fid_clf", "gan_test", "scores", "gan_train"]


class Stub(torch.nn.Module):
    """The sampling hooks of a module, with a trivial generator (a GANModule needs none of Lightning here)."""

    eval_protocol: ClassVar[str] = "generation"
    gan_train_source: ClassVar[str] = "stub"
    sanity_rows: ClassVar[tuple[str, ...]] = ()

    def __init__(self, pool_x, pool_y, num_classes):
        super().__init__()
        self.pool_x, self.pool_y, self.k = pool_x, pool_y, num_classes
        self.make_train_calls = 0

    def evaluation_facts(self):
        return {"lambda_cls_in_use": 0.5}

    def pick(self, targets, seed):
        """A random pool image of each target class (a generator that draws real images of the class)."""
        out = torch.empty(len(targets), *self.pool_x.shape[1:])
        gen = torch.Generator().manual_seed(seed)
        for c in range(self.k):
            idx = (targets == c).nonzero().flatten()
            pool = (self.pool_y == c).nonzero().flatten()
            out[idx] = self.pool_x[pool[torch.randint(len(pool), (len(idx),), generator=gen)]]
        return out


class StubTranslator(Stub):
    """Translates by returning a training image of the target class (the best a memoriser can do)."""

    eval_protocol = "translation"
    sanity_rows = ("identity", "real")

    def make_eval_set(self, x, y, n, seed):
        gen = torch.Generator().manual_seed(seed)
        idx = torch.arange(n) % len(x)
        trg = (y[idx] + torch.randint(1, self.k, (n,), generator=gen)) % self.k
        return {"fake_images": self.pick(trg, seed), "fake_labels": trg, "fake_sources": y[idx], "input_index": idx}

    def make_gan_train_set(self, x, y, n, seed):
        self.make_train_calls += 1
        return self.make_eval_set(x, y, n, seed)


class StubGenerator(Stub):
    sanity_rows = ("real", "template")

    def make_eval_set(self, x, y, n, seed):
        labels = torch.arange(n) % self.k
        return {"fake_images": self.pick(labels, seed), "fake_labels": labels, "fake_sources": None}

    def make_gan_train_set(self, x, y, n, seed):
        self.make_train_calls += 1
        return self.make_eval_set(x, y, n, seed)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    dm = build_datamodule(group_option("dataset", "digits", image_size=8, root="unused"))  # digits' own 8 px
    dm.setup()
    cache = tmp_path_factory.mktemp("cache")
    ev = Evaluator(dm, EVAL, str(cache), data_key={"name": "digits", "image_size": 8})
    train_x, train_y = ev.real("train")
    return dict(dm=dm, ev=ev, cache=cache, train=(train_x, train_y))


@pytest.fixture(scope="module")
def translation(setup):
    """One evaluation of the memorising translator with its sanity rows (seed 0, 600 translations)."""
    ev, (tx, ty) = setup["ev"], setup["train"]
    module = StubTranslator(tx, ty, 10)
    out = ev.run(module, METRICS, 600, seed=0, progress=False, bootstrap=20, sanity=True)
    return module, out


def worse(metric: str, a: float, b: float) -> bool:
    """a is worse than b for metric, by the direction the metric declared (FIDs: higher; accuracies: lower)."""
    return a > b if direction(metric) == "min" else a < b


def test_translation_sanity_rows_order_and_the_real_row_is_the_judges_accuracy(setup, translation):
    module, out = translation
    rows = out["sanity_rows"]
    identity, real = rows["identity"], rows["real"]
    acc = out["classifier_test_accuracy"]
    assert acc > 0.85
    assert real["gan_test"] == pytest.approx(acc, abs=1e-12)  # every test image once: exactly the test accuracy
    assert real["n_fake"] == len(setup["dm"].dataset("test"))
    for m in ("fid_clf", "kid_clf", "gan_test", "confidence_score", "gan_train"):
        assert worse(m, identity[m], real[m]), (m, identity[m], real[m])
        assert worse(m, identity[m], out[m]), (m, identity[m], out[m])  # the identity never beats a translator
    assert "intra_fid_clf" not in real  # its reference is the split the real stand-ins come from
    assert identity["intra_fid_clf"] > 5 * out["intra_fid_clf"]
    assert identity["gan_test"] < 0.05 and identity["gan_train"] < 0.2
    assert real["gan_train"] > acc - 0.08  # real training images of the class (600 of 1,079): about the judge
    assert out["fid_clf_reference"] == "train split, per target class (mean over the classes)"
    assert out["gan_train_data"].startswith("stub (600 images)") and module.make_train_calls == 1
    assert out["lambda_cls_in_use"] == 0.5
    for m in ("fid_clf", "gan_test", "intra_fid_clf"):
        assert out[f"{m}_ci_lo"] <= out[m] <= out[f"{m}_ci_hi"]
        assert f"{m}_ci_lo" not in real and f"{m}_ci_lo" not in identity  # reference points: no intervals


def test_gan_train_data_comes_from_the_training_split(setup):
    """The generated training set is made from training-split inputs, never from the test images it is scored on."""
    ev, (tx, ty) = setup["ev"], setup["train"]
    seen = {}

    class Recording(StubTranslator):
        def make_gan_train_set(self, x, y, n, seed):
            seen["inputs"] = x
            return super().make_gan_train_set(x, y, n, seed)

    ev.run(Recording(tx, ty, 10), ["gan_train"], 100, seed=0, progress=False)
    assert torch.equal(seen["inputs"], tx)
    test_x, _ = ev.real("test")
    flat = {tuple(v.flatten().tolist()) for v in test_x}
    assert not any(tuple(v.flatten().tolist()) in flat for v in seen["inputs"])


def test_generation_template_row_loses_to_real_where_it_must(setup):
    ev, (tx, ty) = setup["ev"], setup["train"]
    out = ev.run(StubGenerator(tx, ty, 10), ["fid_clf", "kid_clf", "gan_test", "gan_train"], 400, seed=1,
                 progress=False, sanity=True)
    real, template = out["sanity_rows"]["real"], out["sanity_rows"]["template"]
    for m in ("fid_clf", "kid_clf", "gan_train"):
        assert worse(m, template[m], real[m]), (m, template[m], real[m])
    assert real["gan_test"] == pytest.approx(out["classifier_test_accuracy"], abs=0.03)  # 400 of the 539 test images
    # GAN-test alone cannot tell a class mean from real data: documented, and why it never stands alone
    assert template["gan_test"] > 0.5
    assert out["fid_clf_reference"] == "train split, all classes"


def test_sanity_rows_are_cached_on_disk(setup, translation, monkeypatch):
    ev, (tx, ty) = setup["ev"], setup["train"]
    _, first = translation
    calls = []
    monkeypatch.setattr(ev, "train_classifier_fn", lambda: (lambda *a, **k: calls.append(1) or ev.classifier()[0]))
    again = ev.run(StubTranslator(tx, ty, 10), METRICS, 600, seed=0, progress=False, bootstrap=20, sanity=True)
    assert again["sanity_rows"] == first["sanity_rows"] and len(calls) == 1  # only the model's GAN-train retrained
    files = set((setup["cache"] / "sanity").glob("*.json"))
    other = ev.run(StubTranslator(tx, ty, 10), ["gan_test"], 200, seed=6, progress=False, sanity=True)
    assert set(other["sanity_rows"]) == {"identity", "real"}
    assert len(set((setup["cache"] / "sanity").glob("*.json")) - files) == 2  # another plan: computed afresh


def test_stand_in_helpers():
    x = torch.arange(12.0).view(12, 1, 1, 1)
    y = torch.tensor([0, 1, 2] * 4)
    imgs, labels = real_of_classes(x, y, torch.tensor([0, 0, 1, 2, 2, 2, 2, 2]), 3, seed=0)
    assert sorted(labels.tolist()) == [0, 0, 1, 2, 2, 2, 2]  # at most the 4 distinct images of class 2
    assert len(set(imgs.flatten().tolist())) == len(imgs)  # never an image twice
    means = class_means(x, y, 4)
    assert means[:3].flatten().tolist() == [4.5, 5.5, 6.5] and means[3].abs().sum() == 0
    assert not math.isnan(float(means.sum()))
