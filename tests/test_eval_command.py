"""`gan-lab eval` on a checkpoint from a tiny train() run: the JSON holds every number and says how it was made.

One tiny translation run (module-scoped, ~10 s) is evaluated several times: the requested metrics,
backbone, counts and seed are in the JSON; the same seed reproduces every number; another seed
generates another set; bad requests fail with one line before anything is loaded.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import TINY, compose


METRICS = ["fid_clf", "kid_clf", "gan_test", "gan_train", "scores", "intra_fid_clf"]


def _strict_load(text: str):
    def no_constants(name):
        raise AssertionError(f"non-strict JSON constant {name} in the output")

    return json.loads(text, parse_constant=no_constants)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from gan_lab.train import train

    out = tmp_path_factory.mktemp("eval_run")
    cache = tmp_path_factory.getbasetemp() / "eval_cache"  # shared with conftest's cache_dir fixture
    train(compose([*TINY, "logger=none", "eval.every_n_steps=0", "samples.every_n_steps=0"], out, cache))
    path = out / "checkpoints" / "last.ckpt"
    assert path.is_file()
    return path


def _eval(ckpt, tmp_path, name, *extra):
    from gan_lab.commands.eval import compose_eval, run

    out = tmp_path / f"{name}.json"
    result = run(compose_eval([f"ckpt_path={ckpt}", f"metrics=[{','.join(METRICS)}]", "n_samples=60",
                               f"output={out}", *extra]))
    return result, _strict_load(out.read_text())


def test_eval_json_has_every_number_backbone_counts_and_seed(ckpt, tmp_path):
    result, saved = _eval(ckpt, tmp_path, "a", "seed=0")
    from gan_lab.records import strict_json

    assert saved == json.loads(json.dumps(strict_json(result)))  # the file holds what run() returned
    for key in ("fid_clf", "kid_clf", "kid_clf_std", "gan_test", "gan_train", "confidence_score",
                "intra_fid_clf", "classifier_test_accuracy", "gan_train_real_reference", "lambda_cls_in_use",
                "gan_test_ci_lo", "gan_test_ci_hi", "fid_clf_ci_lo", "fid_clf_ci_hi"):
        assert isinstance(saved[key], float) and math.isfinite(saved[key]), key
    assert saved["gan_test_ci_lo"] <= saved["gan_test"] <= saved["gan_test_ci_hi"]
    assert "accuracy_score" not in saved  # GAN-test is recorded once
    assert saved["fid_clf_reference"] == "train split, per target class (mean over the classes)"
    assert saved["gan_train_data"] == "translations of training-split images (60 images)"
    rows = saved["sanity_rows"]
    assert set(rows) == {"identity", "real"}
    assert rows["identity"]["gan_test"] < 0.15  # the input keeps its source class, never its target
    assert rows["identity"]["fid_clf"] > rows["real"]["fid_clf"] and rows["real"]["gan_test"] > 0.3
    # 60 translations over 90 source->target pairs: no pair has the 10 needed for a task FID -> NaN, written as null
    assert math.isnan(result["task_fid_clf"]) and saved["task_fid_clf"] is None and saved["task_fid_clf_pairs"] == 0
    assert saved["metrics_requested"] == METRICS
    assert saved["n_samples"] == 60 and saved["n_fake"] == 60 and saved["n_real"] > 100
    assert saved["seed"] == 0 and saved["eval_seed"] == 0
    assert saved["checkpoint_step"] == 6 and saved["dataset"] == "digits" and saved["head"] == "softmax"
    clf = saved["fid_clf_backbone"]
    assert clf.startswith("eval-classifier:") and len(clf) > len("eval-classifier:")
    for key in ("kid_clf_backbone", "intra_fid_clf_backbone", "task_fid_clf_backbone", "gan_test_classifier",
                "scores_classifier"):
        assert saved[key] == clf, key  # every number names the network that made it: the same reference classifier
    assert saved["gan_train_classifier"] == f"retrained-on-fake:{clf}"
    assert "fid" not in saved and "kid" not in saved  # no Inception number was asked for, none passes for one
    assert saved["gan_train_real_reference"] == saved["classifier_test_accuracy"] > 0.3
    assert len(saved["per_class_accuracy"]) == 10
    assert saved["eval_classifier"]["steps"] == 30  # the training run's classifier settings (TINY)


def test_same_seed_same_numbers_other_seed_other_set(ckpt, tmp_path):
    from gan_lab.data import build_datamodule
    from gan_lab.evaluation import stack_split
    from gan_lab.modules.loading import load_module

    _, a = _eval(ckpt, tmp_path, "a", "seed=0")
    _, b = _eval(ckpt, tmp_path, "b", "seed=0")
    _, c = _eval(ckpt, tmp_path, "c", "seed=1")
    volatile = {"eval_seconds"}
    assert {k: v for k, v in a.items() if k not in volatile} == {k: v for k, v in b.items() if k not in volatile}
    assert c["seed"] == 1 and c["fid_clf"] != a["fid_clf"] and c["confidence_score"] != a["confidence_score"]

    # the generated sets themselves: same seed -> identical tensors, other seed -> other targets and images
    module = load_module(ckpt)
    dm = build_datamodule({"name": "digits", "image_size": 16, "batch_size": 8})
    dm.prepare_data()
    dm.setup("test")
    x, y = stack_split(dm.dataset("test"))
    s0, s0b, s1 = (module.make_eval_set(x, y, 60, s) for s in (0, 0, 1))
    assert torch.equal(s0["fake_images"], s0b["fake_images"]) and torch.equal(s0["fake_labels"], s0b["fake_labels"])
    assert not torch.equal(s0["fake_labels"], s1["fake_labels"])
    assert not torch.equal(s0["fake_images"], s1["fake_images"])


def test_default_output_path_beside_the_run(ckpt):
    from gan_lab.commands.eval import compose_eval, run

    run(compose_eval([f"ckpt_path={ckpt}", "metrics=[gan_test]", "n_samples=20", "seed=3"]))
    out = ckpt.parent.parent / "eval" / "last-n20-s3.json"
    saved = _strict_load(out.read_text())
    assert 0.0 <= saved["gan_test"] <= 1.0 and "accuracy_score" not in saved and "fid_clf" not in saved
    assert saved["n_fake"] == 20 and saved["seed"] == 3 and saved["metrics_requested"] == ["gan_test"]


@pytest.mark.parametrize("args, message", [
    (["metrics=[fid_clf,fdi]"], "metrics='fdi' is not a known metric; allowed: "),
    (["metrics=[fid]", "inception_weights=/nonexistent/inception.pth"], "eval.inception_weights=/nonexistent"),
    (["n_samples=1"], "n_samples=1 is invalid"),
    (["metrics=[]"], "metrics=[] is empty"),
    (["bootstrap=-1"], "bootstrap=-1 is invalid"),
])
def test_bad_requests_fail_in_one_line_before_loading(ckpt, tmp_path, capsys, monkeypatch, args, message):
    import gan_lab.modules.loading as loading
    from gan_lab.cli import main

    def never(*a, **k):
        raise AssertionError("the checkpoint was loaded before the request was checked")

    monkeypatch.setattr(loading, "load_module", never)
    with pytest.raises(SystemExit) as exit_:
        main(["eval", f"ckpt_path={ckpt}", f"output={tmp_path / 'x.json'}", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-lab eval: error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def test_dataset_and_paths_overrides_compose():
    """The documented `gan-lab eval ckpt_path=... dataset.root=/data/x paths.cache_dir=/c` needs no '+'."""
    from gan_lab.commands.eval import compose_eval

    cfg = compose_eval(["ckpt_path=x.ckpt", "dataset.root=/data/x", "paths.cache_dir=/c", "+dataset.image_size=8"])
    assert cfg.dataset.root == "/data/x" and cfg.paths.cache_dir == "/c" and cfg.dataset.image_size == 8


def test_missing_ckpt_path_named(capsys):
    from gan_lab.cli import main

    with pytest.raises(SystemExit):
        main(["eval"])
    assert "ckpt_path is required" in capsys.readouterr().err
