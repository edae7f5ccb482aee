"""SLURM: Lightning's cluster environment with auto-requeue, and where a requeued job resumes from.

Two requeue paths exist and both end in the same run directory:

* ``hydra/launcher=slurm`` (submitit): submitit catches the pre-timeout signal, requeues the job
  (``max_num_timeout`` times) and re-runs the same Hydra job, hence the same run directory.
* plain ``sbatch`` + ``srun gan-lab train ... hydra.run.dir=outputs/slurm/${oc.env:SLURM_JOB_ID}``:
  Lightning's ``SLURMEnvironment(auto_requeue=True)`` saves ``hpc_ckpt_<n>.ckpt`` in the run directory on
  SIGUSR1 (``#SBATCH --signal=SIGUSR1@90``) and runs ``scontrol requeue``.

A requeued job (``SLURM_RESTART_COUNT`` > 0) then resumes from the newest of ``checkpoints/last.ckpt``
and ``hpc_ckpt_*.ckpt`` (see ``gan_lab.config.resolve_ckpt_path``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from omegaconf import OmegaConf

from gan_lab.launch.ddp_guard import on_slurm


def _gpus(accelerator, devices):
    """``gpus_per_node`` for conf/hydra/launcher/slurm.yaml: the device count on GPU trainers, else none."""
    return int(devices) if str(accelerator) in ("gpu", "cuda", "auto") and str(devices).isdigit() else None


if not OmegaConf.has_resolver("gan_lab_gpus"):
    OmegaConf.register_new_resolver("gan_lab_gpus", _gpus)


def is_requeued(env: Mapping[str, str] | None = None) -> bool:
    """A SLURM job that was requeued (preempted or timed out) and is running again."""
    env = os.environ if env is None else env
    try:
        return on_slurm(env) and int(env.get("SLURM_RESTART_COUNT", "0") or 0) > 0
    except ValueError:
        return False


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently written of <run_dir>/checkpoints/last.ckpt and Lightning's <run_dir>/hpc_ckpt_*.ckpt."""
    candidates = [p for p in [Path(run_dir) / "checkpoints" / "last.ckpt", *Path(run_dir).glob("hpc_ckpt_*.ckpt")]
                  if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def cluster_plugins(cfg, env: Mapping[str, str] | None = None) -> list:
    """``[SLURMEnvironment(auto_requeue=...)]`` inside a SLURM job step, else ``[]`` (Lightning's default detection).

    ``slurm.auto_requeue`` (set in conf/hydra/launcher/slurm.yaml; ``+slurm.auto_requeue=false`` elsewhere)
    defaults to true, as Lightning's does.
    """
    if not on_slurm(env):
        return []
    from lightning_fabric.plugins.environments import SLURMEnvironment

    slurm_cfg = cfg.get("slurm") or {}
    return [SLURMEnvironment(auto_requeue=bool(slurm_cfg.get("auto_requeue", True)))]
