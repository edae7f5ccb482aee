"""What a Hydra job checks before it trains: the DDP-in-multirun guard and "is this job already done?".

A sweep re-run into the same ``hydra.sweep.dir`` (e.g. ``outputs/multirun/<name>``) skips every job whose
run directory already holds its final evaluation in ``metrics.jsonl``; an interrupted job resumes from its
``last.ckpt`` (in a sweep, ``ckpt_path`` null means ``auto``). Each job records its overrides in ``sweep_job.json`` so a
re-run with a different sweep (job numbers now meaning other settings) is refused instead of silently
skipping or resuming the wrong configuration.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from gan_lab.records import final_record
from gan_lab.registry import ConfigError

JOB_FILE = "sweep_job.json"
# Overrides that may change between a sweep and its resumption without changing what a job computes.
_KEY_IGNORED = ("ckpt_path=", "hydra.", "hydra/", "paths.", "logger", "+logger", "trainer.enable_progress_bar=")


def is_finished(cfg: DictConfig, run_dir: Path) -> dict | None:
    """The final record if it covers the configured ``trainer.max_steps`` (a raised max_steps means: go on)."""
    record = final_record(run_dir)
    max_steps = int(cfg.trainer.get("max_steps", -1) or -1)
    if record is None or (max_steps > 0 and int(record.get("step", -1)) < max_steps):
        return None
    return record


def job_key(overrides) -> list[str]:
    return sorted(o for o in overrides if not o.startswith(_KEY_IGNORED))


def _rank_zero() -> bool:
    from gan_lab.launch.rank import is_rank_zero

    return is_rank_zero()


def check_job_key(run_dir: Path, overrides) -> None:
    """Refuse to reuse a sweep job directory that belonged to other overrides; record ours on first use."""
    path = Path(run_dir) / JOB_FILE
    key = job_key(overrides)
    if path.is_file():
        old = json.loads(path.read_text()).get("overrides", [])
        if old != key:
            there, here = sorted(set(old) - set(key)), sorted(set(key) - set(old))
            raise ConfigError(
                f"{run_dir} holds a sweep job run with {there or 'fewer overrides'} where this job has "
                f"{here or 'fewer overrides'}: the sweep changed since that directory was written. "
                "Use a new hydra.sweep.dir for a different sweep."
            )
    elif _rank_zero():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"overrides": key}, indent=1) + "\n")


def preflight(cfg: DictConfig) -> dict | None:
    """Run before train() in a Hydra job: refuse DDP that would re-run a local sweep; return the final
    record of a finished job (the caller skips it), else None. Prints why a job is skipped."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from gan_lab.launch.ddp_guard import check_multirun_ddp

    hc = HydraConfig.get() if HydraConfig.initialized() else None
    multirun = hc is not None and hc.mode == RunMode.MULTIRUN
    check_multirun_ddp(cfg.trainer, multirun)
    run_dir = Path(cfg.paths.output_dir)
    if not (multirun or cfg.get("ckpt_path") == "auto"):
        return None
    if multirun:
        check_job_key(run_dir, list(hc.overrides.task))
        if cfg.get("ckpt_path") in (None, "", "null"):
            cfg.ckpt_path = "auto"  # same overrides, same directory: an interrupted sweep job resumes
    record = is_finished(cfg, run_dir)
    if record is not None:
        print(f"skipping finished job {run_dir} (final evaluation at step {record.get('step')} in metrics.jsonl)",
              flush=True)
    return record


def sweep_name() -> str | None:
    """The sweep's name for W&B ``group``: hydra.sweep.dir relative to outputs/multirun (None outside -m)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    sweep_dir = Path(str(HydraConfig.get().sweep.dir))
    parts = sweep_dir.parts
    for i in range(len(parts) - 1):
        if parts[i] == "outputs" and parts[i + 1] == "multirun" and len(parts) > i + 2:
            return "/".join(parts[i + 2:])
    return sweep_dir.name
