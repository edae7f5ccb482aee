"""Where evaluation numbers are recorded: metrics.jsonl (strict JSON), W&B (scalars, summaries, provenance, table).

``PeriodicEvaluation`` is driven with a stand-in trainer and evaluator (no training), so every
assertion is about the recording itself; one test writes a real offline W&B run and reads its file.
"""

from __future__ import annotations

import glob
import json
import math
import time
from types import SimpleNamespace

import pytest

from gan_lab.callbacks.evaluation import PeriodicEvaluation, summary_direction
from gan_lab.records import append_jsonl, strict_json


BACKBONE = "eval-classifier:0123456789abcdef"
RESULT = {
    "fid_clf": 12.5, "fid_clf_backbone": BACKBONE, "kid_clf": float("nan"), "kid_clf_std": 0.01,
    "kid_clf_backbone": BACKBONE, "gan_test": 0.7, "gan_test_classifier": BACKBONE,
    "confidence_score": 0.6, "per_class_accuracy": [0.5, float("nan"), 1.0], "intra_fid_clf_classes": 2,
    "n_fake": 30, "n_real": 40, "classifier_test_accuracy": 0.9, "eval_seed": 0,
}


class StubEvaluator:
    def __init__(self):
        self.calls = []

    def run(self, module, names, n, seed, progress=True, **kw):
        self.calls.append(dict(names=list(names), n=n, seed=seed, progress=progress, **kw))
        return dict(RESULT)


class FakeExperiment:
    def __init__(self):
        self.defined, self.summary = [], {}

    def define_metric(self, name, **kw):
        self.defined.append((name, kw))


class FakeLogger:
    def __init__(self):
        self.experiment = FakeExperiment()
        self.metrics, self.tables = [], []

    def log_metrics(self, values, step):
        self.metrics.append((step, values))

    def log_table(self, key, columns, data, step):
        self.tables.append((key, columns, data, step))


def fake_trainer(rank0=True, loggers=(), bar=None, step=10, broadcast=None):
    return SimpleNamespace(
        is_global_zero=rank0, global_step=step, max_steps=100, loggers=list(loggers), progress_bar_callback=bar,
        lightning_module=SimpleNamespace(class_names=["a", "b", "c"]),
        strategy=SimpleNamespace(broadcast=broadcast or (lambda obj, src=0: obj)),
    )


def callback(tmp_path, **kw):
    return PeriodicEvaluation(StubEvaluator(), tmp_path / "metrics.jsonl", every_n_steps=10, n_samples=30,
                              final_n_samples=60, metrics=["fid_clf", "gan_test"],
                              final_metrics=["fid_clf", "gan_train"], seed=5, **kw)


def strict_lines(path):
    def refuse(name):
        raise AssertionError(f"non-strict JSON constant {name}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_metrics_jsonl_is_strict_json_with_nan_as_null_and_backbone_beside_number(tmp_path):
    cb = callback(tmp_path)
    trainer = fake_trainer()
    cb.evaluate(trainer, None, final=False)
    trainer.global_step = 100
    cb.evaluate(trainer, None, final=True)
    first, last = strict_lines(tmp_path / "metrics.jsonl")
    assert (first["step"], first["kind"], last["step"], last["kind"]) == (10, "periodic", 100, "final")
    assert first["kid_clf"] is None and first["per_class_accuracy"] == [0.5, None, 1.0]
    assert first["fid_clf"] == 12.5 and first["fid_clf_backbone"] == BACKBONE and first["kid_clf_backbone"] == BACKBONE
    assert [c["n"] for c in cb.evaluator.calls] == [30, 60]
    assert cb.evaluator.calls[1]["names"] == ["fid_clf", "gan_train"]
    assert all(c["seed"] == 5 for c in cb.evaluator.calls)  # the same fixed generated set at every evaluation
    assert math.isnan(cb.last_result["kid_clf"])  # the in-memory result keeps NaN; only the file writes null


def test_strict_json_nested_and_append(tmp_path):
    value = {"a": float("inf"), "b": [1.0, float("-inf"), {"c": float("nan")}], "d": "x", "e": 3}
    assert strict_json(value) == {"a": None, "b": [1.0, None, {"c": None}], "d": "x", "e": 3}
    append_jsonl(tmp_path / "sub" / "m.jsonl", value)
    assert strict_lines(tmp_path / "sub" / "m.jsonl") == [strict_json(value)]


def test_wandb_scalars_summaries_provenance_and_table(tmp_path):
    logger = FakeLogger()
    cb = callback(tmp_path)
    cb.evaluate(fake_trainer(loggers=[logger]), None, final=False)
    cb.evaluate(fake_trainer(loggers=[logger], step=20), None, final=False)
    step, values = logger.metrics[0]
    assert step == 10 and values["eval/fid_clf"] == 12.5 and values["trainer/global_step"] == 10
    assert all(isinstance(v, float) or k == "trainer/global_step" for k, v in values.items())  # charts take numbers
    assert "eval/fid_clf_backbone" not in values
    # the backbone sits beside the number in the run summary
    assert logger.experiment.summary["eval/fid_clf_backbone"] == BACKBONE
    assert logger.experiment.summary["eval/gan_test_classifier"] == BACKBONE
    assert "eval/kind" not in logger.experiment.summary
    defined = dict(logger.experiment.defined)
    assert defined["eval/*"] == {"step_metric": "trainer/global_step"}
    assert defined["eval/fid_clf"]["summary"] == "min" and defined["eval/kid_clf"]["summary"] == "min"
    assert defined["eval/gan_test"]["summary"] == "max" and defined["eval/confidence_score"]["summary"] == "max"
    for bookkeeping in ("eval/n_fake", "eval/eval_seconds", "eval/kid_clf_std", "eval/classifier_test_accuracy",
                        "eval/intra_fid_clf_classes"):
        assert bookkeeping not in defined, bookkeeping
    assert len(logger.experiment.defined) == len(defined)  # each metric defined once, not once per evaluation
    key, columns, rows, tstep = logger.tables[0]
    assert key == "eval/per_class_accuracy_periodic" and columns == ["class", "accuracy"] and tstep == 10
    assert rows[0] == ["a", 0.5] and rows[2] == ["c", 1.0] and math.isnan(rows[1][1])


def test_summary_direction_table():
    assert [summary_direction(k) for k in ("fid", "intra_fid_clf", "task_fid_clf", "kid", "gan_train", "aug_gain",
                                           "glare/psnr", "lmse")] == ["min", "min", "min", "min", "max", "max", "max",
                                                                      "min"]
    for k in ("n_fake", "eval_seed", "task_fid_clf_pairs", "gan_train_real_reference", "kid_std", "n_specular"):
        assert summary_direction(k) is None, k


def test_only_rank_zero_evaluates_and_everyone_gets_its_numbers(tmp_path):
    """The GAN-train and reference classifiers are trained by rank 0 alone; other ranks receive the result."""
    cb = callback(tmp_path)
    sent = {"step": 10, "kind": "periodic", "gan_test": 0.42}
    # Rank 0 broadcasts (result, selection); a non-zero rank offers (None, None) and receives rank 0's pair.
    got = cb.evaluate(fake_trainer(rank0=False, broadcast=lambda obj, src=0: (sent, None) if obj == (None, None)
                                   else None), None, final=False)
    assert cb.evaluator.calls == [] and got == sent and cb.last_result == sent
    assert not (tmp_path / "metrics.jsonl").exists()  # nothing written by a non-zero rank


def test_progress_bars_follow_the_trainer_unless_set(tmp_path, monkeypatch):
    import sys

    cb = callback(tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    cb.evaluate(fake_trainer(bar=object()), None, final=False)
    cb.evaluate(fake_trainer(bar=None), None, final=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)  # a log file: no transient bars
    cb.evaluate(fake_trainer(bar=object()), None, final=False)
    assert [c["progress"] for c in cb.evaluator.calls] == [True, False, False]  # periodic evaluations get a bar too
    quiet = callback(tmp_path, progress=False)
    quiet.evaluate(fake_trainer(bar=object()), None, final=True)
    assert quiet.evaluator.calls[0]["progress"] is False


def test_real_offline_wandb_run_records_backbone_in_summary(tmp_path, monkeypatch):
    """A real (offline) W&B run: the provenance string and the metric reach the run file."""
    pytest.importorskip("wandb")
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(project="gan_lab_test", save_dir=str(tmp_path), mode="offline")
    try:
        cb = callback(tmp_path)
        cb.evaluate(fake_trainer(loggers=[logger]), None, final=True)
    finally:
        logger.experiment.finish()
    deadline = time.time() + 60  # the W&B service process may still be writing the file after finish()
    files = []
    while not files and time.time() < deadline:  # under load the service creates the file late
        files = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
        time.sleep(0.2)
    assert len(files) == 1
    while True:
        raw = open(files[0], "rb").read()  # records are protobuf: their strings appear verbatim
        if BACKBONE.encode() in raw or time.time() > deadline:
            break
        time.sleep(0.5)
    assert b"eval/fid_clf_backbone" in raw and BACKBONE.encode() in raw
    assert b"eval/per_class_accuracy_final" in raw and b"eval/gan_test" in raw
