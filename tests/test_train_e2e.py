"""End-to-end: train() and the `gan-lab` CLI write a complete run directory, resume, and fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan_lab.losses import HEADS

from conftest import TINY, TINY_ACGAN, compose


def _run(overrides, out, cache):
    from gan_lab.train import train

    return train(compose(overrides, out, cache))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# The head-independent evaluation (sanity rows, bootstrap, GAN-train) runs in full for the default head only:
# the other heads check that training and the evaluation hooks work with them, at a third of the cost.
CHEAP_EVAL = ["eval.sanity=false", "eval.bootstrap=0", "eval.final_metrics=[fid_clf,gan_test]"]


@pytest.mark.parametrize("head", HEADS.names())
def test_translation_trains_with_each_head(head, tmp_path, cache_dir):
    full = head == "softmax"
    metrics, objs = _run([*TINY, f"head={head}", "logger=none", *([] if full else CHEAP_EVAL)], tmp_path / "run", cache_dir)
    assert objs["trainer"].global_step == 6  # max_steps counts iterations, not optimiser steps
    records = _jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [(r["step"], r["kind"], r["split"], r.get("row")) for r in records] == [
        (3, "periodic", "val", None), (6, "final_val", "val", None), (6, "final", "test", None),
        *([(6, "sanity", "test", "identity"), (6, "sanity", "test", "real")] if full else [])]
    assert ("gan_test_ci_lo" in metrics) == full and ("gan_train" in metrics) == full
    assert 0.0 <= metrics["gan_test"] <= 1.0
    assert metrics["classifier_test_accuracy"] > 0.3  # the independent classifier learned something real
    ema = objs["module"].G_ema.state_dict()
    g = objs["module"].G.state_dict()
    assert any(not torch.equal(ema[k], g[k]) for k in g if g[k].is_floating_point())  # EMA is not a copy


@pytest.mark.parametrize("head", HEADS.names())
def test_generation_trains_with_heads(head, tmp_path, cache_dir):
    cheap = [] if head == "softmax" else CHEAP_EVAL
    metrics, objs = _run([*TINY_ACGAN, f"head={head}", "logger=none", "adversarial.lambda_gp=1", *cheap],
                         tmp_path / "run", cache_dir)
    assert objs["trainer"].global_step == 6
    assert (tmp_path / "run" / "samples").is_dir() and any((tmp_path / "run" / "samples").glob("*.png"))
    assert "gan_test" in metrics and metrics["n_fake"] == 60


def test_resume_continues_step_count(tmp_path, cache_dir):
    out = tmp_path / "run"
    _run([*TINY, "logger=none", "trainer.max_steps=3"], out, cache_dir)
    assert (out / "checkpoints" / "last.ckpt").is_file()
    # Starting fresh over an existing run is refused: nothing is overwritten.
    from gan_lab.registry import ConfigError

    with pytest.raises(ConfigError, match="ckpt_path=last"):
        _run([*TINY, "logger=none", "trainer.max_steps=6"], out, cache_dir)
    _, objs = _run([*TINY, "logger=none", "trainer.max_steps=6", "ckpt_path=last"], out, cache_dir)
    assert objs["trainer"].global_step == 6
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 6
    assert {"torch", "numpy", "python"} <= set(ckpt["rng_states"])
    assert len(ckpt["optimizer_states"]) == 2 and len(ckpt["lr_schedulers"]) == 2
    assert any(k.startswith("G_ema.") for k in ckpt["state_dict"]) and any(k.startswith("head.") for k in ckpt["state_dict"])


def test_data_efficient_run_with_diffaugment(tmp_path, cache_dir):
    """10 % of each class and DiffAugment on every D input: the documented data-efficient setting trains."""
    metrics, objs = _run([*TINY, "logger=none", "dataset.train_fraction=0.1", "head=projection",
                          "model.diffaugment=[color,translation,cutout]"], tmp_path / "run", cache_dir)
    dm, module = objs["trainer"].datamodule, objs["module"]
    labels = [int(dm.dataset("train")[i][1]) for i in range(len(dm.dataset("train")))]
    assert len(labels) < 0.11 * 1797 and sorted(set(labels)) == list(range(10))  # every class kept
    # the judge (reference classifier) learns from the whole training split, cached under the same key
    assert len(dm.reference_train()) > 5 * len(labels)
    from omegaconf import OmegaConf

    from gan_lab.data import build_datamodule
    from gan_lab.evaluation import Evaluator

    full = compose([*TINY, "logger=none"], tmp_path / "full", cache_dir)  # the same judge as a full-data run
    full_dm = build_datamodule(full.dataset)
    judge = Evaluator(full_dm, OmegaConf.to_container(full.eval), cache_dir, OmegaConf.to_container(full.dataset))
    assert judge.classifier()[1] == metrics["classifier_test_accuracy"]
    # aug_gain's real-only arm: the judge's schedule on the GAN's 10 % (a classifier of its own), while on the
    # whole training split with the judge's schedule it is the judge itself
    assert judge.real_only(full_dm.reference_train()) == judge.classifier()
    subset_model, _ = judge.real_only(dm.dataset("train"))
    assert subset_model.cache_key != judge.classifier()[0].cache_key
    assert module.augment.policies == ("color", "translation", "cutout") and 0.0 <= metrics["gan_test"] <= 1.0


def test_bad_config_fails_before_training(tmp_path, cache_dir):
    from gan_lab.registry import ConfigError

    with pytest.raises(ConfigError, match=r"head.margin=-0.1.*>= 0"):
        _run([*TINY, "logger=none", "head=aam", "head.margin=-0.1"], tmp_path / "a", cache_dir)
    with pytest.raises(ConfigError, match=r"adversarial='wgan'.*hinge"):
        _run([*TINY, "logger=none", "adversarial.name=wgan"], tmp_path / "b", cache_dir)
    with pytest.raises(ConfigError, match=r"dataset.image_size"):
        _run([*TINY, "logger=none", "dataset.image_size=20"], tmp_path / "c", cache_dir)
    assert not (tmp_path / "a" / "checkpoints").exists()


def _cli(args, cwd, timeout=300):
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "gan_lab.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_train_writes_run_directory_and_translate_uses_it(tmp_path, cache_dir):
    run_dir = tmp_path / "run"
    r = _cli(["train", *TINY, f"hydra.run.dir={run_dir}", f"paths.cache_dir={cache_dir}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert list((run_dir / "checkpoints").glob("best-*.ckpt"))  # best by eval/gan_test
    assert list((run_dir / "samples").glob("step_*.png"))
    records = _jsonl(run_dir / "metrics.jsonl")
    final = [r for r in records if r["kind"] == "final"][-1]
    assert final["step"] == 6 and "gan_test" in final and "fid_clf" in final and "gan_test_ci_lo" in final
    assert [r["row"] for r in records if r["kind"] == "sanity"] == ["identity", "real"]  # after the final record
    assert records.index(final) == len(records) - 3
    wandb_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 1 and list(wandb_runs[0].glob("run-*.wandb"))
    assert "Run directory:" in r.stdout and "GAN-test accuracy" in r.stdout
    assert "Sanity rows" in r.stdout and "identity" in r.stdout  # the model beside its stand-ins

    # translate: odd sizes and modes in; each centre-cropped like the training data, out at the model's 16 px
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    Image.new("L", (13, 21), 128).save(src / "a.png")
    Image.new("RGBA", (40, 30), (10, 200, 30, 255)).save(src / "b.png")
    r = _cli(["translate", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"input={src}", "target=3",
              f"output={tmp_path / 'out'}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert Image.open(tmp_path / "out" / "a.png").size == (16, 16)
    assert Image.open(tmp_path / "out" / "b.png").size == (16, 16)
    r = _cli(["translate", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"input={src}", "target=42",
              f"output={tmp_path / 'out'}"], cwd=tmp_path)
    assert r.returncode == 2 and "target='42'" in r.stderr and "Traceback" not in r.stderr


def test_cli_reports_bad_values_in_one_line(tmp_path):
    r = _cli(["train", "head=arcface", f"hydra.run.dir={tmp_path / 'x'}"], cwd=tmp_path, timeout=120)
    assert r.returncode != 0
    assert "arcface" in r.stderr and "aam" in r.stderr  # names the bad value and the allowed ones
    r = _cli(["train", "head=aam", "head.margin=-1", f"hydra.run.dir={tmp_path / 'y'}"], cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "head.margin=-1" in r.stderr and "Traceback" not in r.stderr


def test_bf16_autocast_and_channels_last_train(tmp_path, cache_dir):
    metrics, objs = _run([*TINY, "logger=none", "trainer.precision=bf16-mixed", "channels_last=true",
                          "trainer.max_steps=3", "eval.every_n_steps=0"], tmp_path / "run", cache_dir)
    assert objs["trainer"].global_step == 3
    assert all(torch.isfinite(p).all() for p in objs["module"].parameters())
    assert 0.0 <= metrics["gan_test"] <= 1.0


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path, cache_dir, monkeypatch):
    from gan_lab.losses.margin import AAMHead
    from gan_lab.modules.base import NonFiniteLossError

    calls = {"n": 0}
    forward = AAMHead.forward

    def poisoned(self, emb, labels):  # the head's loss turns NaN from its 9th call on (step 4 or so)
        calls["n"] += 1
        loss = forward(self, emb, labels)
        return loss * float("nan") if calls["n"] > 8 else loss

    monkeypatch.setattr(AAMHead, "forward", poisoned)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=r"loss '\w+' became nan at step (\d+).*last.ckpt") as err:
        _run([*TINY, "head=aam", "logger=none", "trainer.max_steps=40", "checkpoint.every_n_steps=1",
              "eval.every_n_steps=0", "samples.every_n_steps=0"], out, cache_dir)
    failed_at = int(err.value.args[0].split(" at step ")[1].split(".")[0])
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert 0 < ckpt["global_step"] <= failed_at  # the last good state is on disk
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
