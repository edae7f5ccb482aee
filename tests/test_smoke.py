"""Evaluation costs only what it must: the documented smoke setting (``experiment=smoke``) runs every part
of a run quickly, and a run that asks for no metric neither trains the evaluation classifier nor
generates a single image."""

from __future__ import annotations

import json
import time

from conftest import TINY, compose


def test_smoke_experiment_runs_on_digits_and_writes_a_checkpoint(tmp_path, cache_dir):
    from gan_lab.train import train

    t0 = time.time()
    metrics, objs = train(compose(["experiment=smoke", "logger=none"], tmp_path / "run", cache_dir))
    seconds = time.time() - t0
    assert objs["trainer"].global_step == 3
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["periodic", "final_val", "final", "sanity", "sanity"]
    # the final evaluation is followed by the translation task's sanity rows, scored on the same metrics
    final, sanity = records[2], records[3:]
    assert sorted(r["row"] for r in sanity) == ["identity", "real"]
    assert all(r["step"] == final["step"] and "gan_test" in r for r in sanity)
    assert metrics["n_fake"] == 32 and 0.0 <= metrics["gan_test"] <= 1.0
    assert seconds < 300, seconds  # about 30 s on 2 shared cores; generous for a loaded machine


def test_no_requested_metric_generates_no_images(tmp_path, cache_dir, monkeypatch):
    import gan_lab.evaluation as evaluation
    from gan_lab.modules.translation import TranslationGAN
    from gan_lab.train import train

    def refuse(*args, **kwargs):
        raise AssertionError("an evaluation with no metric generated images or trained a classifier")

    monkeypatch.setattr(TranslationGAN, "make_eval_set", refuse)
    monkeypatch.setattr(evaluation, "reference_classifier", refuse)
    metrics, _ = train(compose([*TINY, "logger=none", "eval.metrics=[]", "eval.final_metrics=[]",
                                "checkpoint.monitor=null"], tmp_path / "run", cache_dir))
    assert metrics["n_fake"] == 0 and metrics["kind"] == "final"
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
