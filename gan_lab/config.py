"""Where the configs live, and the checks that make a bad config fail before any training.

Hydra already rejects unknown keys (struct mode). Here: values — registry names, ranges, and
the run-directory guard that keeps an existing checkpoint from being overwritten.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gan_lab.launch import slurm as _slurm  # noqa: F401  registers ${gan_lab_gpus:...} (conf/hydra/launcher/slurm.yaml)
from gan_lab.registry import ConfigError


def find_conf_dir(env: str | None = None, prefix: str | None = None) -> Path:
    """Where the Hydra configs are: ``GAN_LAB_CONF`` if set; else conf/ beside the package (a checkout or an
    editable install); else ``<prefix>/share/gan_lab/conf`` (a non-editable ``pip install .``)."""
    env = os.environ.get("GAN_LAB_CONF") if env is None else env
    if env:
        return Path(env)
    source = Path(__file__).resolve().parent.parent / "conf"
    installed = Path(sys.prefix if prefix is None else prefix) / "share" / "gan_lab" / "conf"
    return source if (source / "train.yaml").is_file() or not (installed / "train.yaml").is_file() else installed


CONF_DIR = find_conf_dir()


def _positive(cfg: DictConfig, key: str, allow_zero: bool = False) -> None:
    value = cfg
    for part in key.split("."):
        value = value[part]
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        raise ConfigError(f"{key}={value} is invalid; allowed: a number {'>= 0' if allow_zero else '> 0'}")


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming the key and the allowed values for the first invalid setting."""
    from gan_lab.data import DATASETS
    from gan_lab.launch.ddp_guard import check_sync_batchnorm
    from gan_lab.losses import ADVERSARIAL
    from gan_lab.modules import MODULES
    from gan_lab.modules.specs import AdversarialSpec, EMASpec, OptimSpec, read_spec

    module_cls = MODULES.get(cfg.model.module)
    module_cls.validate_config(cfg)  # the task's own checks (conditional: the head; paired: no head)
    ADVERSARIAL.get(cfg.adversarial.name)
    DATASETS.get(cfg.dataset.name)
    for name in list(cfg.eval.metrics) + list(cfg.eval.final_metrics):
        module_cls.metric_registry.get(name)  # the task's metrics (albedo: gan_lab.metrics.albedo)
    read_spec(OptimSpec, cfg.model.optim, "model.optim")
    read_spec(EMASpec, cfg.model.ema, "model.ema")
    read_spec(AdversarialSpec, cfg.adversarial, "adversarial")
    for key in ("dataset.batch_size", "dataset.image_size"):
        _positive(cfg, key)
    for key in ("eval.every_n_steps", "samples.every_n_steps", "eval.bootstrap"):
        _positive(cfg, key, allow_zero=True)
    if not isinstance(cfg.eval.sanity, bool):
        raise ConfigError(f"eval.sanity={cfg.eval.sanity!r} is invalid; allowed: true, false")
    if str(cfg.trainer.get("precision")) in ("16-mixed", "16", "16-true") and cfg.adversarial.lambda_gp > 0:
        raise ConfigError(
            f"trainer.precision={cfg.trainer.precision} with adversarial.lambda_gp={cfg.adversarial.lambda_gp} is "
            "refused: the gradient penalty's autograd.grad would run on unscaled fp16 gradients; allowed: "
            "trainer.precision=bf16-mixed or 32-true (or adversarial.lambda_gp=0)")
    if cfg.checkpoint.mode not in ("min", "max"):
        raise ConfigError(f"checkpoint.mode={cfg.checkpoint.mode!r} is invalid; allowed: min, max")
    check_sync_batchnorm(cfg.trainer)  # torch's SyncBatchNorm is GPU-only
    max_steps = cfg.trainer.get("max_steps", -1)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not (max_steps > 0 or max_steps == -1):
        raise ConfigError(f"trainer.max_steps={max_steps!r} is invalid; allowed: a positive number of iterations "
                          "(or -1 with trainer.max_epochs)")
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed={seed!r} is invalid; allowed: an integer >= 0")
    check_devices(cfg.trainer.get("devices", "auto"))


def check_devices(devices) -> None:
    """``trainer.devices``: a count >= 1, -1 or "auto" (all), or a list of device indices."""
    if devices in ("auto", -1) or (isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1):
        return
    if OmegaConf.is_list(devices) or isinstance(devices, (list, tuple)):
        if len(devices) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices):
            return
    raise ConfigError(f"trainer.devices={devices!r} is invalid; allowed: a number of devices >= 1, -1 or auto (all), "
                      "or a list of device indices like [0,1]")


def check_writable(path: Path, key: str) -> None:
    """Create ``path`` if needed and write a probe file in it; ConfigError naming the key and the fix if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".gan_lab_write_probe_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{key}={path} is not a writable directory ({e.strerror or e}); choose another "
                          f"{key}=<dir> where this user can write") from e


def resolve_ckpt_path(ckpt_path: str | None, run_dir: Path, env=None) -> str | None:
    """``last`` -> this run's last.ckpt; ``auto`` -> resume if a checkpoint exists, else start fresh;
    null -> start fresh, refusing to overwrite an existing checkpoint (a requeued SLURM job resumes as ``auto``)."""
    from gan_lab.launch.slurm import is_requeued, newest_checkpoint

    last = run_dir / "checkpoints" / "last.ckpt"
    if ckpt_path == "auto" or (ckpt_path in (None, "", "null") and is_requeued(env)):
        newest = newest_checkpoint(run_dir)  # last.ckpt, or Lightning's hpc_ckpt_*.ckpt if written later
        return str(newest) if newest else None
    if ckpt_path in (None, "", "null"):
        if last.exists():
            raise ConfigError(
                f"{last} already exists: starting a new run here would overwrite it. Pass ckpt_path=last (or "
                "ckpt_path=auto) to resume it, or choose another hydra.run.dir."
            )
        return None
    if ckpt_path == "last":
        if not last.exists():
            raise ConfigError(
                f"ckpt_path=last but {last} does not exist; resume a run by pointing hydra.run.dir at its "
                "directory (e.g. hydra.run.dir=outputs/2026-01-01/12-00-00_stargan-aam-digits-s0 ckpt_path=last)."
            )
        return str(last)
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return str(ckpt_path)


def group_option(group: str, name: str, **overrides) -> dict:
    """One option file of a config group (``conf/<group>/<name>.yaml``) as a dict, with ``overrides`` merged in
    (nested dicts merge key by key): how tests and benchmarks build a module from the real defaults without
    composing a whole run config. Options with a ``defaults`` list (e.g. ``model/stargan_cpu``) are refused."""
    from omegaconf import OmegaConf

    path = CONF_DIR / group / f"{name}.yaml"
    node = OmegaConf.load(path)
    if "defaults" in node:
        raise ConfigError(f"{path} has a defaults list; compose it with Hydra instead")
    return OmegaConf.to_container(OmegaConf.merge(node, OmegaConf.create(overrides)), resolve=True)
