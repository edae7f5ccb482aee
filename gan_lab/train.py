"""Training entry point: a thin ``@hydra.main`` around the pure function ``train(cfg)``.

conf -> train() builds datamodule + module (nets + losses) + callbacks + loggers -> Trainer.fit.
Every run directory ends up with ``.hydra/``, ``checkpoints/last.ckpt`` (+ best),
``samples/*.png``, ``metrics.jsonl`` and the W&B run (offline by default).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sized
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from gan_lab.checkpoints import AtomicCheckpointIO, check_compatible, check_readable
from gan_lab.config import CONF_DIR, check_writable, resolve_ckpt_path, validate_config
from gan_lab.launch.ddp_guard import trainer_kwargs
from gan_lab.launch.rank import is_rank_zero
from gan_lab.launch.run_lock import lock_run_dir
from gan_lab.launch.slurm import cluster_plugins
from gan_lab.registry import ConfigError
from gan_lab.summary import format_summary
from gan_lab.records import final_record, selection_record
from gan_lab.sweep.jobs import is_finished, preflight

log = logging.getLogger("gan_lab")

# Known, harmless Lightning/PyTorch warnings for a two-optimiser GAN with an EMA copy in eval mode.
for _pattern in (".*module\\(s\\) in eval mode.*", ".*lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`.*",
                 ".*no pre-optimization state was saved.*", ".*`val_dataloader` but have no `validation_step`.*",
                 ".*does not have many workers.*",
                 ".*resuming from a checkpoint that ended before the epoch ended.*"):  # gan_lab's sampler resumes exactly
    warnings.filterwarnings("ignore", message=_pattern)


def _to_dict(node) -> dict:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


def build_loggers(cfg: DictConfig, run_dir: Path) -> list:
    """W&B (offline unless WANDB_MODE says otherwise), resuming the run's W&B id when resuming."""
    lcfg = cfg.logger
    if lcfg.name == "none":
        return []
    # The mode must be in the environment before wandb is imported: given only to the logger, wandb's import-time
    # telemetry still looked up a remote host in offline mode (strace: a DNS connect). WANDB_MODE, when set, wins.
    os.environ.setdefault("WANDB_MODE", str(lcfg.mode))
    import wandb

    from gan_lab.loggers import ResilientWandbLogger

    from gan_lab.sweep.jobs import sweep_name

    if wandb.run is not None:  # an earlier job of this process (sweep) left its run open: never log into it
        wandb.finish()
    mode = os.environ.get("WANDB_MODE", lcfg.mode)
    id_file = run_dir / "wandb_id.txt"
    group = lcfg.group or sweep_name() or f"{cfg.dataset.name}-{cfg.model.name}"  # null: the sweep's name
    run_id = id_file.read_text().strip() if id_file.exists() else None
    logger = ResilientWandbLogger(
        project=lcfg.project, entity=lcfg.entity, name=cfg.run_name, save_dir=str(run_dir), mode=mode,
        group=group, job_type=lcfg.job_type, tags=list(lcfg.tags), log_model=lcfg.log_model,
        id=run_id, resume="allow" if run_id else None,
    )
    if is_rank_zero():  # other ranks get Lightning's dummy experiment (no config, no id)
        logger.experiment.config.update(OmegaConf.to_container(cfg, resolve=True), allow_val_change=True)
        run_id = logger.experiment.id
        if not logger.broken and isinstance(run_id, str):  # W&B failed to start: warned once, the run goes on
            id_file.write_text(run_id)
    return [logger]


def diagnostics_callbacks(cfg: DictConfig, module, run_dir: Path) -> list:
    """The diagnostics callback when the module declares diagnostics and they are switched on."""
    from gan_lab.callbacks.diagnostics import Diagnostics

    every = cfg.diagnostics.every_n_steps
    every = cfg.eval.every_n_steps if every is None else every
    if not module.has_diagnostics or not every:
        return []
    return [Diagnostics(run_dir, every, cfg.diagnostics.n_images)]


def train(cfg: DictConfig) -> tuple[dict, dict[str, Any]]:
    """Train one model as configured; returns (final metrics, objects: trainer, module, datamodule)."""
    from gan_lab.callbacks import PeriodicEvaluation, SampleGrids
    from gan_lab.callbacks.config_in_checkpoint import ConfigInCheckpoint
    from gan_lab.callbacks.last_checkpoint import LastCheckpoint, save_atomically
    from gan_lab.callbacks.progress import StepProgressBar
    from gan_lab.callbacks.train_record import TrainRecord
    from gan_lab.data import build_datamodule
    from gan_lab.modules import MODULES
    from gan_lab.modules.loading import module_args

    validate_config(cfg)
    run_dir = Path(cfg.paths.output_dir)
    if is_rank_zero():
        lock_run_dir(run_dir)  # every run, sweep jobs too (a single run took it before Hydra wrote its .hydra/)
    for key, path in (("hydra.run.dir", run_dir), ("paths.cache_dir", Path(cfg.paths.cache_dir)),
                      ("WANDB_DIR", os.environ.get("WANDB_DIR"))):
        if path:
            check_writable(Path(path), key)  # before step 0, not at the first checkpoint or evaluation
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, run_dir)
    if ckpt_path:
        check_readable(ckpt_path)  # a truncated/corrupt file: one line naming it and any intact one beside it
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    dm = build_datamodule(cfg.dataset)
    dm.shuffle_seed = int(cfg.seed)  # the training data order follows the run's seed
    dm.prepare_data()
    dm.setup("fit")
    train_set = dm.dataset("train")
    n_train = len(train_set) if isinstance(train_set, Sized) else None  # an endless render stream has no length
    if n_train is not None and dm.batch_size > n_train:  # drop_last: not one batch, so no training at all
        raise ConfigError(f"dataset.batch_size={dm.batch_size} is larger than the training split ({n_train} images): "
                          f"not one training batch; allowed: dataset.batch_size <= {n_train}")
    log.info("data: %s", dm.describe())
    module_cls = MODULES.get(cfg.model.module)
    module = module_cls(
        num_classes=dm.num_classes, channels=dm.channels, image_size=dm.image_size, class_names=dm.class_names,
        seed=cfg.seed, channels_last=cfg.channels_last, **module_args(cfg),
    )

    if ckpt_path:
        check_compatible(module, ckpt_path)  # another model or width: one line, before Lightning loads it
    evaluator = module_cls.build_evaluator(dm, _to_dict(cfg.eval), cfg.paths.cache_dir, _to_dict(cfg.dataset))
    eval_cb = PeriodicEvaluation(
        evaluator, run_dir / "metrics.jsonl", every_n_steps=cfg.eval.every_n_steps, n_samples=cfg.eval.n_samples,
        final_n_samples=cfg.eval.final_n_samples, metrics=list(cfg.eval.metrics),
        final_metrics=list(cfg.eval.final_metrics), seed=cfg.seed,
        select_split=cfg.eval.get("select_split"), report_split=cfg.eval.split,
        bootstrap=cfg.eval.get("bootstrap", 0), sanity=cfg.eval.get("sanity", False),
    )
    samples_cb = SampleGrids(run_dir / "samples", cfg.samples.every_n_steps, cfg.samples.n_inputs,
                             cfg.samples.max_classes, seed=cfg.seed)
    ckpt_cbs = []  # the best checkpoint first, then last.ckpt (holding the best chosen at its step: exact resume)
    if cfg.checkpoint.monitor and cfg.eval.every_n_steps > 0:  # best-by-metric, checked after each evaluation
        ckpt_cbs.append(pl.callbacks.ModelCheckpoint(
            dirpath=run_dir / "checkpoints", filename="best-{step:06d}", monitor=cfg.checkpoint.monitor,
            mode=cfg.checkpoint.mode, save_top_k=1, save_last=False, every_n_train_steps=cfg.eval.every_n_steps,
            auto_insert_metric_name=False,
        ))
    ckpt_cbs.append(LastCheckpoint(run_dir / "checkpoints" / "last.ckpt", cfg.checkpoint.every_n_steps))
    trainer = pl.Trainer(
        **trainer_kwargs(_to_dict(cfg.trainer)), callbacks=[  # every record of a step is written before that step's checkpoint (exact resume)
            samples_cb, eval_cb, TrainRecord(run_dir / "train_metrics.jsonl", cfg.trainer.log_every_n_steps),
            *diagnostics_callbacks(cfg, module, run_dir), *ckpt_cbs, ConfigInCheckpoint(_to_dict(cfg))]
        + ([StepProgressBar()] if cfg.trainer.get("enable_progress_bar", True) else []),
        logger=build_loggers(cfg, run_dir) or False, default_root_dir=str(run_dir),
        plugins=[AtomicCheckpointIO(), *cluster_plugins(cfg)],  # + SLURMEnvironment(auto_requeue) under SLURM
    )
    if trainer.is_global_zero:
        evaluator.prepare()  # e.g. train or load the reference classifier before the progress bar starts
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    if eval_cb.last_result is None:  # resumed at max_steps (the fit loop ran no step), or ddp_spawn's main process
        if trainer.strategy.broadcast(is_finished(cfg, run_dir) is None, src=0):  # rank 0 decides for all ranks
            eval_cb.evaluate(trainer, module, final=True)  # e.g. a job killed during its final evaluation
    save_atomically(trainer, run_dir / "checkpoints" / "last.ckpt")

    metrics = dict(eval_cb.last_result or final_record(run_dir) or {})  # ddp_spawn: result from metrics.jsonl
    if trainer.is_global_zero:
        print(format_summary(run_dir, metrics, trainer.loggers), flush=True)
    for logger in trainer.loggers:
        if hasattr(logger, "experiment") and trainer.is_global_zero:
            logger.experiment.finish()
    selection = dict(eval_cb.selection_result or selection_record(run_dir) or metrics)
    return metrics, {"trainer": trainer, "module": module, "datamodule": dm, "run_dir": run_dir,
                     "selection": selection}


_started = False  # set once Hydra has composed a config and called hydra_main (see main)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """Hydra entry; returns the optimised metric for sweepers (``optimized_metric`` when set)."""
    from gan_lab.errors import user_error_types

    global _started
    _started = True

    try:
        done = preflight(cfg)  # refuses DDP that would re-run a local sweep; a finished job returns its record
        if done is not None:
            selection = selection_record(Path(cfg.paths.output_dir)) or done
        else:
            selection = train(cfg)[1]["selection"]
    except user_error_types() as e:
        log.error("%s", e)
        print(f"gan-lab train: error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    key = cfg.get("optimized_metric")
    return selection.get(key) if key else None  # measured on eval.select_split (val), not on test


def one_line(error: BaseException) -> str:
    """An error's message on one line (Hydra's and OmegaConf's span several: the key, the object type, hints)."""
    import re

    text = str(error).split("\nConfig search path")[0]
    unknown = re.match(r"Could not override '([^']+)'", text)
    if unknown:
        return (f"{unknown.group(1)} is not a key of this configuration (a typo, or an option another choice of its "
                "group has); `gan-lab train --cfg job` prints every key")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("full_key:",
                                                                                              "object_type="))]
    return " ".join(lines) or type(error).__name__


# What a checkpoint's weights depend on: resuming with another value of one of these cannot load them.
SHAPE_KEYS = ("model.name", "model.generator", "model.discriminator", "model.z_dim", "head.name", "dataset.name",
              "dataset.image_size", "dataset.label")


def check_resume_config(cfg: DictConfig, argv: list[str]) -> None:
    """ConfigError when ``ckpt_path`` (a file, or ``last`` of an explicit ``hydra.run.dir``) was trained with other
    values of the keys its weights depend on (``SHAPE_KEYS``): named before anything is written."""
    from gan_lab.checkpoints import load_checkpoint

    path = cfg.get("ckpt_path")
    run_dir = next((a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")), None)
    if path == "last" and run_dir:
        path = str(Path(run_dir) / "checkpoints" / "last.ckpt")
    if not path or path in ("last", "auto") or not Path(path).is_file():
        return  # resolved (or refused) later, with the run directory known
    from gan_lab.report.runs import flatten_config

    saved = flatten_config(OmegaConf.create(load_checkpoint(path).get("gan_lab_config") or {}))
    mine = flatten_config(cfg)
    for key in sorted(k for k in saved if any(k == p or k.startswith(p + ".") for p in SHAPE_KEYS)):
        if mine.get(key) != saved[key]:
            raise ConfigError(f"ckpt_path={path} was trained with {key}={saved[key]}, this configuration has "
                              f"{key}={mine.get(key)}: its weights cannot be loaded. Resume with the run's own settings "
                              "(its .hydra/overrides.yaml), or start a new run")


def precheck(argv: list[str]) -> None:
    """Compose and validate a single run's config before Hydra creates anything: an unknown key, a group option
    that does not exist, a wrong type or value stops here in one line (status 2), instead of Hydra's six-line
    report or a traceback from deep inside training. Sweeps (-m) and Hydra's own flags are left to Hydra."""
    if any(a.startswith("-") for a in argv):
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = [a for a in argv if not a.lstrip("+~").startswith("hydra.")]  # hydra.* keys: Hydra's own
    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("train", overrides=overrides)
        validate_config(cfg)
        check_resume_config(cfg, argv)
    except (HydraException, OmegaConfBaseException, ConfigError) as e:
        print(f"gan-lab train: error: {one_line(e)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    finally:
        GlobalHydra.instance().clear()


def main(argv: list[str] | None = None) -> None:
    """``gan-lab train ARGS``: Hydra parses ``ARGS`` (overrides, ``-m``, ``--cfg job``) from ``sys.argv``."""
    if argv is not None:
        # argv[0] must be this file: Lightning's DDP launcher re-runs `python sys.argv[0] ...` for ranks > 0
        sys.argv = [__file__, *argv]
        if {"-m", "--multirun"} & set(argv) and any(a.startswith("hparams_search=") and a != "hparams_search=null"
                                                    for a in argv):
            from gan_lab.commands import tune  # an Optuna study (ask/tell), one `gan-lab train` per trial

            return tune.main([a for a in argv if a not in ("-m", "--multirun")])
        if is_rank_zero():  # the config first: a bad one creates no directory (DDP's other ranks: rank 0 checked it)
            precheck(argv)
        explicit = any(a.startswith("hydra.run.dir=") for a in argv)
        if not explicit and not any(a.startswith("-") for a in argv):
            try:  # Hydra's default outputs/<date>/... under the working directory
                check_writable(Path("outputs"), "hydra.run.dir (default outputs/ in the working directory)")
            except ConfigError as e:
                print(f"gan-lab train: error: {e}", file=sys.stderr, flush=True)
                raise SystemExit(2) from None
        for a in argv:  # Hydra creates the run directory before train(): check it first, in gan_lab's words
            if a.startswith(("hydra.run.dir=", "hydra.sweep.dir=")) and "${" not in a:
                key, path = a.split("=", 1)
                if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
                    path = path[1:-1]  # quoted as Hydra's grammar allows (Lightning's DDP relaunch quotes it)
                try:
                    check_writable(Path(path), key)
                    if key == "hydra.run.dir" and is_rank_zero():  # before Hydra rewrites its .hydra/
                        lock_run_dir(path, key)
                except ConfigError as e:
                    print(f"gan-lab train: error: {e}", file=sys.stderr, flush=True)
                    raise SystemExit(2) from None
    try:
        hydra_main()
    except SystemExit as e:
        # Hydra prints a command line it cannot compose (unknown key, bad value) and exits with 1; that is a
        # usage error like any other gan-lab command's: status 2. A crash inside training keeps its 1.
        if e.code == 1 and not _started:
            raise SystemExit(2) from None
        raise


if __name__ == "__main__":
    main()
