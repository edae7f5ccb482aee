"""Sweeps: the DDP-in-multirun guard, a local 2-job sweep (one finished W&B run per job, grouped by sweep)
re-run as a resumption (finished job skipped, interrupted job resumed), and the Optuna study
(``hparams_search=margin_optuna``) stored in sqlite and resumed.
"""

from __future__ import annotations

import glob
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import TINY, compose
from gan_lab.registry import ConfigError

torch.set_num_threads(1)  # shared 2-core machine: torch's two threads thrash under load

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
# Shorter than TINY for the runs whose training is not under test (Optuna trials).
FAST = [*TINY, "trainer.max_steps=3", "eval.every_n_steps=0", "samples.every_n_steps=0",
        "eval.final_metrics=[gan_test]", "logger=none"]


def _records(run_dir: Path) -> list[dict]:
    """The evaluation records (the sanity rows written after each final one left out)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if r["kind"] != "sanity"]


def _wandb_records(run_dir: Path) -> list:
    """Records of the offline W&B runs in run_dir (the .wandb file: a LevelDB-style log of protobuf Records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    out = []
    for path in sorted(glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))):
        data, pos, block, buf = Path(path).read_bytes(), 7, 32768, b""  # 7-byte file header
        while pos + 7 <= len(data):
            if block - pos % block < 7:  # block trailer
                pos += block - pos % block
                continue
            _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
            chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
            buf = chunk if kind in (1, 2) else buf + chunk
            if kind in (1, 4):  # FULL or LAST: one complete Record
                record = pb.Record()
                record.ParseFromString(buf)
                out.append(record)
    return out


# ---------------------------------------------------------------- DDP inside a local sweep

def test_ddp_guard_decisions(tmp_path):
    from gan_lab.launch.ddp_guard import check_multirun_ddp

    ddp_cpu = compose(["trainer=ddp_cpu"], tmp_path, tmp_path).trainer
    with pytest.raises(ConfigError) as e:
        check_multirun_ddp(ddp_cpu, multirun=True, env={})
    msg = str(e.value)
    assert "trainer.strategy=ddp_spawn_find_unused_parameters_true" in msg and "hydra/launcher=slurm" in msg
    check_multirun_ddp(ddp_cpu, multirun=False, env={})  # a single run: Lightning re-runs one job, fine
    check_multirun_ddp(ddp_cpu, multirun=True, env={"SLURM_NTASKS": "2", "SLURM_JOB_NAME": "x"})  # ranks = tasks
    check_multirun_ddp({**ddp_cpu, "strategy": "ddp_spawn_find_unused_parameters_true"}, multirun=True, env={})
    check_multirun_ddp({**ddp_cpu, "devices": 1}, multirun=True, env={})  # one process: nothing re-runs
    with pytest.raises(ConfigError, match="trainer.strategy=ddp_spawn "):  # auto + 2 devices = subprocess ddp
        check_multirun_ddp({"accelerator": "cpu", "devices": 2, "strategy": "auto"}, multirun=True, env={})
    with pytest.raises(ConfigError):  # 1 device x 2 nodes
        check_multirun_ddp({"devices": 1, "num_nodes": 2, "strategy": "ddp"}, multirun=True, env={})


def test_local_multirun_with_ddp_is_refused_before_training(tmp_path, monkeypatch, capsys, cache_dir):
    from gan_lab.train import main

    sweep = tmp_path / "sweep"
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit) as e:
        main(["-m", *FAST, "trainer=ddp_cpu", "head=softmax,aam", f"hydra.sweep.dir={sweep}",
              f"paths.cache_dir={cache_dir}"])
    assert e.value.code == 2
    assert "cannot run inside a local sweep (-m)" in capsys.readouterr().err
    assert not list(sweep.rglob("*.ckpt")) and not list(sweep.rglob("metrics.jsonl"))


def test_sync_batchnorm_passes_through_to_the_batchnorm_nets_and_is_refused_on_cpu(tmp_path):
    import pytorch_lightning as pl
    from omegaconf import OmegaConf
    from torch import nn

    from conftest import TINY_ACGAN
    from gan_lab.config import validate_config
    from gan_lab.modules import MODULES
    from gan_lab.modules.loading import module_args

    cfg = compose([*TINY_ACGAN, "trainer=ddp_cpu", "trainer.sync_batchnorm=true"], tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="trainer.sync_batchnorm=true needs GPUs"):
        validate_config(cfg)  # torch's SyncBatchNorm raises on CPU tensors at the first forward
    from gan_lab.launch.ddp_guard import trainer_kwargs

    trainer = pl.Trainer(**trainer_kwargs(OmegaConf.to_container(cfg.trainer)), logger=False, enable_checkpointing=False)
    module = MODULES.get(cfg.model.module)(
        num_classes=10, channels=1, image_size=16, class_names=None, seed=0, channels_last=False,
        **module_args(cfg))
    assert any(type(m) is nn.BatchNorm2d for m in module.modules())  # the acgan generator uses BatchNorm
    converted = trainer.strategy._layer_sync.apply(module)  # what Lightning does at setup with the option on
    assert any(isinstance(m, nn.SyncBatchNorm) for m in converted.modules())
    assert not any(type(m) is nn.BatchNorm2d for m in converted.modules())


# ---------------------------------------------------------------- a local sweep, re-run as a resumption

@pytest.mark.timeout(400)
def test_sweep_jobs_own_wandb_runs_and_rerun_skips_or_resumes(tmp_path, cache_dir):
    sweep = tmp_path / "outputs" / "multirun" / "margin_sweep"
    cmd = [sys.executable, "-m", "gan_lab.cli", "train", "-m", *TINY, "logger=wandb", "eval.final_metrics=[gan_test]",
           "head=softmax,aam", f"hydra.sweep.dir={sweep}", f"paths.cache_dir={cache_dir}"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]

    ids = {}
    for job, head in ((0, "softmax"), (1, "aam")):
        run = sweep / str(job)
        assert [(r["step"], r["kind"]) for r in _records(run)] == [(3, "periodic"), (6, "final_val"), (6, "final")]
        records = _wandb_records(run)
        (meta,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]  # exactly one W&B run
        assert meta.run_group == "margin_sweep" and meta.job_type == head
        assert {f"head:{head}", "dataset:digits", "adversarial:wgan-gp"} <= set(meta.tags)
        assert any(r.WhichOneof("record_type") == "exit" for r in records), "W&B run not finished"
        ids[job] = meta.run_id
    assert ids[0] != ids[1]  # the second job did not log into the first job's run

    # Interrupt job 1 after its last checkpoint: drop its final evaluation, then run the same sweep again.
    first = _records(sweep / "1")
    (sweep / "1" / "metrics.jsonl").write_text(json.dumps(first[0]) + "\n")
    job0_before = (sweep / "0" / "metrics.jsonl").read_bytes()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"skipping finished job {sweep / '0'}" in proc.stdout
    assert f"skipping finished job {sweep / '1'}" not in proc.stdout
    assert (sweep / "0" / "metrics.jsonl").read_bytes() == job0_before
    assert len(glob.glob(str(sweep / "0" / "wandb" / "offline-run-*"))) == 1  # no new run for a skipped job
    resumed = _records(sweep / "1")  # resumed from last.ckpt at step 6: only the final evaluation is new
    assert [(r["step"], r["kind"]) for r in resumed] == [(3, "periodic"), (6, "final_val"), (6, "final")]
    assert resumed[1]["gan_test"] == pytest.approx(first[1]["gan_test"])  # same weights, same seeded evaluation
    assert {r.run.run_id for r in _wandb_records(sweep / "1") if r.WhichOneof("record_type") == "run"} == {ids[1]}


# ---------------------------------------------------------------- Optuna

def test_tune_rejects_bad_search_settings(tmp_path):
    pytest.importorskip("optuna", reason="optuna not installed (pip install -e '.[optuna]')")
    from gan_lab.sweep.tune import tune

    with pytest.raises(ConfigError, match="head.margin is searched by optuna"):
        tune(["head.margin=0.3", f"hydra.sweep.dir={tmp_path}"])
    with pytest.raises(ConfigError, match="not a key of the train config"):
        tune(["+optuna.params.nope={type:float,low:0,high:1}", f"hydra.sweep.dir={tmp_path}"])
    with pytest.raises(ConfigError, match="optimized_metric is not set"):
        tune(["optimized_metric=null", f"hydra.sweep.dir={tmp_path}"])


@pytest.mark.timeout(400)
def test_optuna_study_in_sqlite_resumes_and_reruns_interrupted_trial(tmp_path, monkeypatch, cache_dir):
    optuna = pytest.importorskip("optuna", reason="optuna not installed (pip install -e '.[optuna]')")
    from gan_lab.sweep import tune as tune_mod
    from gan_lab.train import main

    sweep = tmp_path / "study"
    args = [*FAST, f"hydra.sweep.dir={sweep}", f"paths.cache_dir={cache_dir}", "optuna.study_name=t"]
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    main(["-m", "hparams_search=margin_optuna", *args, "optuna.n_trials=1"])  # the documented way in
    storage = f"sqlite:///{sweep / 'optuna.db'}"
    study = optuna.load_study(study_name="t", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]

    # A trial left RUNNING by an interrupted invocation: the next invocation must run it, not a new one.
    space = tune_mod.distributions(optuna, compose(["hparams_search=margin_optuna"], tmp_path, tmp_path).optuna.params,
                                   compose(["head=aam"], tmp_path, tmp_path))
    study.enqueue_trial({"head.margin": 0.3, "head.scale": 16.0})
    assert study.ask(space).number == 1
    result = tune_mod.tune(["hparams_search=margin_optuna", *args, "optuna.n_trials=2"])

    study = optuna.load_study(study_name="t", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2  # resumed, nothing extra
    assert study.trials[1].params == {"head.margin": 0.3, "head.scale": 16.0}
    for trial in study.trials:
        run = sweep / str(trial.number)
        cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        assert cfg["head"]["margin"] == pytest.approx(trial.params["head.margin"])  # the sampled values trained
        assert cfg["head"]["scale"] == pytest.approx(trial.params["head.scale"])
        records = _records(run)
        final, selection = records[-1], records[-2]  # the objective is measured on val, never on test
        assert final["kind"] == "final" and final["split"] == "test"
        assert (selection["kind"], selection["split"]) == ("final_val", "val")
        assert trial.value == pytest.approx(selection["gan_test"])
    best = max(study.trials, key=lambda t: t.value)
    assert result["best_value"] == pytest.approx(best.value) and result["n_finished"] == 2
