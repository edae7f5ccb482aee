"""Refuse a local Hydra sweep (``-m``) with a DDP strategy that re-runs the command line per rank.

Lightning's subprocess DDP launcher (strategies ``ddp``, ``ddp_find_unused_parameters_*``, ``fsdp``,
``deepspeed``, and ``auto`` with several devices) starts ranks > 0 as ``python <argv[0]> <argv[1:]>``.
Under ``-m`` those argv hold the whole sweep, so every child would run every job of the sweep. We refuse
before any training rather than switching strategy silently: ``ddp_spawn`` changes how the module is
pickled and where results live, and a user should choose that knowingly. On SLURM the ranks are SLURM
tasks (``tasks_per_node = devices``) and no process re-runs the command, so SLURM is allowed.
"""

from __future__ import annotations

import os
from typing import Mapping

from gan_lab.registry import ConfigError

_IN_PROCESS = ("spawn", "fork", "notebook", "xla", "single_device")


def world_size(trainer_cfg: Mapping) -> int:
    """devices x num_nodes as far as the config tells (``auto``/-1: 1 on CPU, every visible GPU otherwise)."""
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, str):
        devices = devices.strip()
        if "," in devices:  # "0,1": a list of device indices
            devices = [d for d in devices.split(",") if d.strip()]
        elif devices.lstrip("-").isdigit():
            devices = int(devices)
    if isinstance(devices, (list, tuple)) or (hasattr(devices, "__len__") and not isinstance(devices, str)):
        n = len(devices)
    elif devices in ("auto", -1):
        accelerator = str(trainer_cfg.get("accelerator", "auto"))
        if accelerator == "cpu":
            n = 1
        else:
            import torch

            n = max(1, torch.cuda.device_count())
    else:
        n = int(devices)
    return n * int(trainer_cfg.get("num_nodes", 1) or 1)


def reruns_command(trainer_cfg: Mapping) -> bool:
    """True when Lightning would start the other ranks by re-running this process's command line."""
    strategy = str(trainer_cfg.get("strategy", "auto") or "auto")
    if world_size(trainer_cfg) <= 1:
        return False
    return not any(word in strategy for word in _IN_PROCESS)


def spawn_equivalent(strategy: str) -> str:
    """``ddp`` -> ``ddp_spawn``; ``ddp_find_unused_parameters_true`` -> ``ddp_spawn_find_unused_parameters_true``."""
    if strategy.startswith("ddp"):
        return "ddp_spawn" + strategy[len("ddp"):]
    return "ddp_spawn"


def on_slurm(env: Mapping[str, str] | None = None) -> bool:
    """Inside a SLURM job step whose tasks are the ranks (what Lightning's SLURMEnvironment detects)."""
    env = os.environ if env is None else env
    return "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in ("bash", "interactive")


def check_multirun_ddp(trainer_cfg: Mapping, multirun: bool, env: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError when a multirun job would make Lightning re-run the whole sweep in each rank."""
    if not multirun or on_slurm(env) or not reruns_command(trainer_cfg):
        return
    strategy = str(trainer_cfg.get("strategy", "auto") or "auto")
    raise ConfigError(
        f"trainer.strategy={strategy} with {world_size(trainer_cfg)} processes cannot run inside a local sweep (-m): "
        "Lightning starts the other ranks by re-running the command line, which here is the whole sweep. "
        f"For a local sweep use trainer.strategy={spawn_equivalent(strategy)} (ranks are spawned in-process), "
        "or run the sweep on SLURM with hydra/launcher=slurm (ranks are SLURM tasks)."
    )


def check_sync_batchnorm(trainer_cfg: Mapping) -> None:
    """``trainer.sync_batchnorm=true`` synchronises BatchNorm statistics across ranks (acgan's and pix2pix's
    nets use BatchNorm; StarGAN's instance norm needs none). torch implements SyncBatchNorm on GPU/XPU/HPU
    only: on CPU ranks it fails at the first forward, so refuse it before training."""
    if not trainer_cfg.get("sync_batchnorm", False) or world_size(trainer_cfg) <= 1:
        return
    if str(trainer_cfg.get("accelerator", "auto")) == "cpu":
        raise ConfigError(
            "trainer.sync_batchnorm=true needs GPUs: torch's SyncBatchNorm does not run on CPU processes. "
            "Use trainer=ddp (GPUs) or set trainer.sync_batchnorm=false."
        )


DDP_STRATEGIES = {"ddp": False, "ddp_find_unused_parameters_true": True}  # strategy name -> find_unused_parameters


def trainer_kwargs(trainer_cfg: dict) -> dict:
    """The Trainer's arguments from ``trainer.*``. ``trainer.ddp_timeout_minutes`` (gan_lab's key) becomes the
    process group's timeout: rank 0 evaluates alone (GAN-train classifiers, Inception features, the sanity rows)
    while the other ranks wait in a broadcast, and the default 30 minutes can run out on a large final
    evaluation; the ranks then die with a collective timeout instead of finishing."""
    kw = dict(trainer_cfg)
    minutes = kw.pop("ddp_timeout_minutes", None)
    if minutes is None:
        return kw
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
        from gan_lab.registry import ConfigError

        raise ConfigError(f"trainer.ddp_timeout_minutes={minutes!r} is invalid; allowed: a number of minutes > 0")
    strategy = kw.get("strategy")
    if isinstance(strategy, str) and strategy in DDP_STRATEGIES:
        from datetime import timedelta

        from pytorch_lightning.strategies import DDPStrategy

        kw["strategy"] = DDPStrategy(find_unused_parameters=DDP_STRATEGIES[strategy], timeout=timedelta(minutes=minutes))
    return kw
