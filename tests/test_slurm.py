"""SLURM without a cluster: the launcher config as sbatch would see it, the submitit launcher path run as
local processes (hydra/launcher=submitit_local), Lightning's SLURMEnvironment with auto-requeue, and a
requeued job (SLURM_RESTART_COUNT > 0) resuming from last.ckpt in its run directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import TINY, compose
from gan_lab.registry import ConfigError

torch.set_num_threads(1)  # shared 2-core machine: torch's two threads thrash under load

SLURM_ENV = {"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0",
             "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "gan", "SLURM_NNODES": "1", "SLURM_NODELIST": "node1"}


def _records(run_dir: Path) -> list[tuple[int, str]]:
    """(step, kind) of the evaluations (the sanity rows written after each final one left out)."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["kind"]) for r in map(json.loads, lines) if r["kind"] != "sanity"]


def _sbatch_text(overrides: list[str], tmp_path, monkeypatch) -> str:
    """The sbatch script hydra/launcher=slurm would submit, built with the plugin's own parameter mapping."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher not installed")
    import submitit
    from submitit.slurm.slurm import SlurmExecutor

    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # "srun is installed"
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gan_lab.config import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("train", overrides=["hydra/launcher=slurm", *overrides], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    folder = params.pop("submitit_folder").replace("%j", "x")
    executor = submitit.AutoExecutor(folder=tmp_path / folder, cluster="slurm",
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    base = set(OmegaConf.structured(BaseQueueConf).keys())  # as SlurmLauncher.launch maps them
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor._executor._make_submission_file_text("python job.py", "uid")


def test_slurm_launcher_maps_devices_and_nodes_to_tasks(tmp_path, monkeypatch):
    text = _sbatch_text(["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2",
                         "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=90"], tmp_path, monkeypatch)
    for line in ("#SBATCH --ntasks-per-node=4", "#SBATCH --nodes=2", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --signal=USR2@120"):
        assert line in text, line
    cpu = _sbatch_text(["trainer=cpu"], tmp_path, monkeypatch)  # no GPU request for a CPU trainer
    assert "#SBATCH --ntasks-per-node=1" in cpu and "gpus-per-node" not in cpu


def test_resolve_ckpt_path_auto_and_requeued(tmp_path):
    from gan_lab.config import resolve_ckpt_path

    run = tmp_path / "run"
    assert resolve_ckpt_path("auto", run, env={}) is None  # nothing to resume: start fresh
    last = run / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"x")
    assert resolve_ckpt_path("auto", run, env={}) == str(last)
    with pytest.raises(ConfigError, match="ckpt_path=auto"):  # fresh start over a checkpoint is refused
        resolve_ckpt_path(None, run, env={})
    with pytest.raises(ConfigError):  # a restart count outside a SLURM job step is not a requeue
        resolve_ckpt_path(None, run, env={"SLURM_RESTART_COUNT": "1"})
    assert resolve_ckpt_path(None, run, env={**SLURM_ENV, "SLURM_RESTART_COUNT": "1"}) == str(last)
    hpc = run / "hpc_ckpt_1.ckpt"  # Lightning's auto-requeue checkpoint, written after last.ckpt
    hpc.write_bytes(b"y")
    os.utime(hpc, ns=(last.stat().st_mtime_ns + 10**9,) * 2)
    assert resolve_ckpt_path(None, run, env={**SLURM_ENV, "SLURM_RESTART_COUNT": "2"}) == str(hpc)
    assert resolve_ckpt_path("last", run, env={}) == str(last)  # explicit "last" stays last.ckpt


def test_cluster_plugins_only_inside_slurm(monkeypatch, tmp_path):
    from lightning_fabric.plugins.environments import SLURMEnvironment

    from gan_lab.launch.slurm import cluster_plugins

    cfg = compose(["hydra/launcher=slurm"], tmp_path / "run", tmp_path / "cache")
    assert cluster_plugins(cfg, env={}) == []
    for key, value in SLURM_ENV.items():
        monkeypatch.setenv(key, value)
    (env,) = cluster_plugins(cfg)
    assert isinstance(env, SLURMEnvironment) and env.auto_requeue
    cfg.slurm.auto_requeue = False
    assert cluster_plugins(cfg)[0].auto_requeue is False
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")  # salloc shell: Lightning does not treat it as SLURM
    assert cluster_plugins(cfg) == []


def test_requeued_job_resumes_from_last_ckpt(monkeypatch, tmp_path, cache_dir):
    from lightning_fabric.plugins.environments import SLURMEnvironment

    from gan_lab.train import train

    run = tmp_path / "run"
    base = [*TINY, "logger=none", "eval.final_metrics=[fid_clf,gan_test]"]
    train(compose([*base, "trainer.max_steps=3"], run, cache_dir))  # the job before it was preempted
    assert _records(run) == [(3, "final_val"), (3, "final")]

    for key, value in {**SLURM_ENV, "SLURM_RESTART_COUNT": "1"}.items():
        monkeypatch.setenv(key, value)
    _, objects = train(compose([*base, "trainer.max_steps=6"], run, cache_dir))  # ckpt_path stays null
    cluster = objects["trainer"]._accelerator_connector.cluster_environment  # what Lightning's signal handlers read
    assert isinstance(cluster, SLURMEnvironment) and cluster.auto_requeue
    # Resumed at step 3: a fresh start would have written a periodic evaluation at step 3 again.
    assert _records(run) == [(3, "final_val"), (3, "final"), (6, "final_val"), (6, "final")]
    assert objects["trainer"].global_step == 6


@pytest.mark.timeout(300)
def test_submitit_local_launcher_runs_a_two_job_sweep(tmp_path, cache_dir):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher not installed")
    sweep = tmp_path / "sweep"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cmd = [sys.executable, "-m", "gan_lab.cli", "train", "-m", "hydra/launcher=submitit_local", *TINY, "logger=none",
           "trainer.max_steps=3", "eval.every_n_steps=0", "samples.every_n_steps=0", "eval.final_metrics=[gan_test]",
           "head=softmax,aam", f"hydra.sweep.dir={sweep}",
           f"paths.cache_dir={cache_dir}"]
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"submitit_local 2-job sweep: {time.time() - t0:.1f} s")
    for job, head in ((0, "softmax"), (1, "aam")):
        assert _records(sweep / str(job)) == [(3, "final_val"), (3, "final")]
        assert f"head={head}" in (sweep / str(job) / ".hydra" / "overrides.yaml").read_text()
    # Each job went through submitit: pickled submission, its own process, a pickled result.
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2


@pytest.mark.parametrize("procid", ["0", "1"])
def test_wandb_start_up_on_a_slurm_rank_follows_lightning(procid, tmp_path, monkeypatch):
    """srun sets SLURM_PROCID only: rank 1 gets Lightning's dummy W&B experiment and must not touch it."""
    import lightning_fabric.utilities.rank_zero as fabric_rank
    import pytorch_lightning.utilities.rank_zero as pl_rank
    from lightning_fabric.utilities.rank_zero import _get_rank

    from gan_lab.launch.rank import is_rank_zero
    from gan_lab.train import build_loggers

    for key, value in {**SLURM_ENV, "SLURM_NTASKS": "2", "SLURM_PROCID": procid, "SLURM_LOCALID": procid}.items():
        monkeypatch.setenv(key, value)
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert is_rank_zero() == (_get_rank() == 0) == (procid == "0")  # gan_lab and Lightning agree
    for mod in (fabric_rank, pl_rank):  # what Lightning sets at import in such a process
        monkeypatch.setattr(mod.rank_zero_only, "rank", int(procid), raising=False)
    cfg = compose([*TINY, "logger=wandb"], tmp_path / "run", tmp_path / "cache")
    (tmp_path / "run").mkdir()
    (logger,) = build_loggers(cfg, tmp_path / "run")  # raised AttributeError on rank 1 before
    try:
        assert (tmp_path / "run" / "wandb_id.txt").exists() == (procid == "0")
    finally:
        if procid == "0":
            logger.experiment.finish()
