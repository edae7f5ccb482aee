"""Exact resume: a run stopped after a checkpoint and resumed with ``ckpt_path=last`` ends bit-identical to
the run that was never stopped — weights (G, D, EMA, head), optimiser and scheduler states, and the same
metrics.jsonl records. Checked in-process at a mid-epoch and an end-of-epoch checkpoint, and with a real
SIGKILL of a ``gan-lab train`` process. Same machine, same thread count: the same computation repeated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import TINY, compose

# 22 batches of 8 per epoch (digits train split 180 images with these fractions): runs cross epochs.
RESUME = [*TINY, "logger=none", "dataset.val_fraction=0.1", "dataset.test_fraction=0.8", "trainer.max_steps=30",
          "checkpoint.every_n_steps=11", "eval.every_n_steps=11", "samples.every_n_steps=11",
          "trainer.log_every_n_steps=2"]


class Crash(RuntimeError):
    pass


def _train(overrides, run, cache):
    from gan_lab.train import train

    return train(compose(overrides, run, cache))


def _records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(s).items() if k != "eval_seconds"} for s in lines]


def _train_lines(run: Path) -> list[str]:
    return (run / "train_metrics.jsonl").read_text().splitlines()


def _best(run: Path) -> list[tuple[str, object]]:
    """The best-*.ckpt files and what last.ckpt's best-checkpoint state says the best is."""
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("ModelCheckpoint"))
    return sorted(p.name for p in (run / "checkpoints").glob("best-*.ckpt")) + [
        (Path(state["best_model_path"]).name, float(state["best_model_score"]))]


def assert_same_state(a: Path, b: Path) -> None:
    ca = torch.load(a / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    cb = torch.load(b / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ca["global_step"] == cb["global_step"]
    sa, sb = ca["state_dict"], cb["state_dict"]
    assert sa.keys() == sb.keys()
    differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
    for oa, ob in zip(ca["optimizer_states"], cb["optimizer_states"]):
        for pa, pb in zip(oa["state"].values(), ob["state"].values()):
            assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert ca["lr_schedulers"] == cb["lr_schedulers"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("resume")
    run = base / "whole"
    _train(RESUME, run, base / "cache")
    return run, base / "cache"


@pytest.mark.parametrize("crash_at", [11, 22])  # mid-epoch; the last batch of epoch 0
def test_resume_after_a_crash_is_bit_identical(crash_at, uninterrupted, tmp_path, monkeypatch):
    from gan_lab.callbacks.last_checkpoint import LastCheckpoint

    whole, cache = uninterrupted
    run = tmp_path / "run"
    original = LastCheckpoint.on_train_batch_end

    def save_then_crash(self, trainer, *args):
        original(self, trainer, *args)
        if trainer.global_step == crash_at:
            raise Crash(f"simulated crash after the checkpoint at step {crash_at}")

    monkeypatch.setattr(LastCheckpoint, "on_train_batch_end", save_then_crash)
    with pytest.raises(Crash):
        _train(RESUME, run, cache)
    monkeypatch.setattr(LastCheckpoint, "on_train_batch_end", original)
    _train([*RESUME, "ckpt_path=last"], run, cache)
    assert_same_state(whole, run)
    assert _records(run) == _records(whole)
    assert _train_lines(run) == _train_lines(whole)
    assert _best(run) == _best(whole) and len([b for b in _best(run) if isinstance(b, str)]) == 1  # only the best


@pytest.mark.timeout(600)
def test_sigkill_after_the_first_checkpoint_then_resume_is_bit_identical(uninterrupted, tmp_path):
    whole, cache = uninterrupted
    run = tmp_path / "run"
    args = [sys.executable, "-m", "gan_lab.cli", "train", *RESUME, "trainer.max_steps=30",
            f"hydra.run.dir={run}", f"paths.cache_dir={cache}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    step = torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < step < 30
    done = subprocess.run([*args, "ckpt_path=last"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_state(whole, run)
    assert _records(run) == _records(whole)


def test_last_checkpoint_is_written_after_the_best_one(tmp_path, cache_dir):
    """Lightning runs checkpoint callbacks last, in list order: the best checkpoint of a step is chosen before
    that step's last.ckpt is written, so last.ckpt knows it (written first, a resume forgot the latest best
    and kept an older best file beside the new one)."""
    from gan_lab.callbacks.last_checkpoint import LastCheckpoint

    from pytorch_lightning.callbacks import Checkpoint

    _, objs = _train([*TINY, "logger=none", "trainer.max_steps=3"], tmp_path / "run", cache_dir)
    names = [type(c).__name__ for c in objs["trainer"].callbacks]
    checkpoints = [type(c).__name__ for c in objs["trainer"].callbacks if isinstance(c, Checkpoint)]
    assert checkpoints == ["ModelCheckpoint", "LastCheckpoint"] and names[-2:] == checkpoints, names
    assert issubclass(LastCheckpoint, Checkpoint)


def _kinds(run: Path) -> list[tuple[int, str]]:
    return [(r["step"], r["kind"]) for r in _records(run)]


def test_killed_during_the_final_evaluation_then_resumed_records_it_once(tmp_path, cache_dir, monkeypatch):
    from gan_lab.callbacks.evaluation import PeriodicEvaluation

    run = tmp_path / "run"
    original = PeriodicEvaluation._run

    def crash_on_final(self, trainer, module, kind, *args):
        if kind == "final":
            raise Crash("killed during the final evaluation")
        return original(self, trainer, module, kind, *args)

    monkeypatch.setattr(PeriodicEvaluation, "_run", crash_on_final)
    with pytest.raises(Crash):
        _train([*TINY, "logger=none"], run, cache_dir)
    assert _kinds(run)[-1] == (6, "final_val")  # written before the kill
    monkeypatch.setattr(PeriodicEvaluation, "_run", original)
    _train([*TINY, "logger=none", "ckpt_path=last"], run, cache_dir)
    assert _kinds(run) == [(3, "periodic"), (6, "final_val"), (6, "final"), (6, "sanity"), (6, "sanity")]
    assert json.loads((run / "metrics.discarded.jsonl").read_text().splitlines()[-1])["kind"] == "final_val"


def test_a_fresh_restart_after_a_kill_before_the_first_checkpoint_writes_each_record_once(tmp_path, cache_dir,
                                                                                          monkeypatch):
    """Killed at step 2 (no checkpoint yet) and restarted with ckpt_path=auto (what sweeps and SLURM requeues do):
    the restart begins from step 0 and the killed attempt's lines are moved aside, not kept twice."""
    from gan_lab.callbacks.train_record import TrainRecord

    args = [*TINY, "logger=none", "eval.every_n_steps=0"]
    whole = tmp_path / "whole"
    _train(args, whole, cache_dir)
    run = tmp_path / "run"
    original = TrainRecord.on_train_batch_end

    def record_then_crash(self, trainer, *a):
        original(self, trainer, *a)
        if trainer.global_step == 2:
            raise Crash("killed before the first checkpoint")

    monkeypatch.setattr(TrainRecord, "on_train_batch_end", record_then_crash)
    with pytest.raises(Crash):
        _train(args, run, cache_dir)
    assert not (run / "checkpoints" / "last.ckpt").exists() and _train_lines(run)
    monkeypatch.setattr(TrainRecord, "on_train_batch_end", original)
    _train([*args, "ckpt_path=auto"], run, cache_dir)
    steps = [json.loads(line)["step"] for line in _train_lines(run)]
    assert steps == [json.loads(line)["step"] for line in _train_lines(whole)] and len(steps) == len(set(steps))
    assert (run / "train_metrics.discarded.jsonl").read_text().count("\n") == 2  # the killed attempt's steps 1, 2
