"""The Optuna study behind ``gan-lab tune`` (CLI: gan_lab.commands.tune), on the ask/tell API.

Why not hydra-optuna-sweeper: its 1.3.0 release pins optuna < 3, and that optuna crashes on ``sqlite:``
storage with SQLAlchemy 2. Here optuna is any current release (the ``optuna`` extra) and
each trial is one ordinary ``gan-lab train`` process:

* the search space, direction, trial count and sampler come from ``optuna:`` in
  conf/hparams_search/<name>.yaml; the objective is ``optimized_metric`` of the trial's final evaluation on ``eval.select_split`` (val)
  (read from its metrics.jsonl, the project's own record);
* trial ``n`` trains in ``<hydra.sweep.dir>/<n>`` (a normal Hydra run directory: ``gan-lab compare`` reads it)
  with ``ckpt_path=auto``, as its own W&B run (group = study name); DDP works per trial, since a trial is
  not a multirun;
* the study lives in ``sqlite:///<hydra.sweep.dir>/optuna.db``: running the same command again loads it,
  re-runs a trial left RUNNING by an interrupted invocation (resuming its last.ckpt) and tops the study up
  to ``optuna.n_trials`` finished trials. One tune process per study at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gan_lab.registry import ConfigError
from gan_lab.report.runs import finite
from gan_lab.records import selection_record

DEFAULT_SEARCH = "margin_optuna"


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError('hparams_search needs optuna: pip install -e ".[optuna]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def compose_search(argv: list[str]) -> DictConfig:
    """The train config (with its hydra node) as `gan-lab train` would compose it for these overrides."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from gan_lab.config import CONF_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("train", overrides=argv, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def distributions(optuna, params: DictConfig, cfg: DictConfig) -> dict:
    """``optuna.params`` -> optuna distributions; every key must be a key of the train config."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, spec in params.items():
        if OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
            raise ConfigError(f"optuna.params: {key!r} is not a key of the train config")
        kind = spec.get("type", "float")
        try:
            if kind == "float":
                out[key] = FloatDistribution(float(spec.low), float(spec.high), log=bool(spec.get("log", False)),
                                             step=spec.get("step"))
            elif kind == "int":
                out[key] = IntDistribution(int(spec.low), int(spec.high), log=bool(spec.get("log", False)),
                                           step=int(spec.get("step", 1)))
            elif kind == "categorical":
                out[key] = CategoricalDistribution(list(spec.choices))
            else:
                raise ConfigError(f"optuna.params.{key}.type={kind!r} is invalid; allowed: float, int, categorical")
        except ValueError as e:  # optuna's own range checks (low > high, log with low <= 0, ...)
            raise ConfigError(f"optuna.params.{key}: {e}") from None
    return out


def _override(key: str, value) -> str:
    return f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"


def run_trial(number: int, params: dict, base_argv: list[str], sweep_dir: Path, extra: list[str],
              metric: str) -> tuple[float | None, str]:
    """One ``gan-lab train`` process for trial ``number``; returns (objective or None, why it is None)."""
    run_dir = sweep_dir / str(number)
    cmd = [sys.executable, "-m", "gan_lab.cli", "train", *base_argv, *extra, f"hydra.run.dir={run_dir}",
           "ckpt_path=auto", *(_override(k, v) for k, v in params.items())]
    print(f"[tune] trial {number}: {' '.join(_override(k, v) for k, v in params.items())} -> {run_dir}", flush=True)
    rc = subprocess.run(cmd, env=os.environ.copy()).returncode
    if rc == 2:  # a configuration/data error: every trial would fail the same way
        raise ConfigError(f"trial {number} stopped with a configuration error (printed above); fix it and re-run "
                          "the same command: the study resumes")
    if rc != 0:
        return None, f"gan-lab train exited with status {rc}"
    record = selection_record(run_dir)  # measured on eval.select_split (val), never on the reported test split
    if record is None:
        return None, f"no final evaluation in {run_dir / 'metrics.jsonl'}"
    value = record.get(metric)
    if not finite(value):
        return None, (f"optimized_metric={metric!r} is not a finite number in the final {record.get('split', '')} evaluation "
                      f"(keys: {', '.join(k for k in record if not k.startswith('n_'))})")
    return float(value), ""


def tune(argv: list[str]) -> dict:
    """Run (or resume) the study; returns {"best_value", "best_params", "best_run_dir", "n_finished"}."""
    optuna = _import_optuna()
    if not any(a.startswith("hparams_search=") for a in argv):
        argv = [f"hparams_search={DEFAULT_SEARCH}", *argv]
    cfg = compose_search(argv)
    ocfg = cfg.get("optuna")
    if ocfg is None:
        raise ConfigError("this hparams_search config has no 'optuna:' section; pick one that has, e.g. "
                          f"hparams_search={DEFAULT_SEARCH}")
    metric = cfg.get("optimized_metric")
    if not metric:
        raise ConfigError("optimized_metric is not set: name the final-evaluation metric to optimise, e.g. "
                          "optimized_metric=gan_test")
    if ocfg.direction not in ("maximize", "minimize"):
        raise ConfigError(f"optuna.direction={ocfg.direction!r} is invalid; allowed: maximize, minimize")
    space = distributions(optuna, ocfg.params, cfg)
    for a in argv:
        if a.split("=", 1)[0].lstrip("+~") in space:
            raise ConfigError(f"{a}: {a.split('=', 1)[0]} is searched by optuna (optuna.params); remove it from "
                              "the command or from optuna.params")
    sweep_dir = Path(str(cfg.hydra.sweep.dir)).resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    storage = ocfg.get("storage") or f"sqlite:///{sweep_dir / 'optuna.db'}"
    if ocfg.sampler.name not in ("tpe", "random"):
        raise ConfigError(f"optuna.sampler.name={ocfg.sampler.name!r} is invalid; allowed: tpe, random")
    study = optuna.create_study(study_name=str(ocfg.study_name), storage=storage, direction=str(ocfg.direction),
                                load_if_exists=True)
    seed = int(ocfg.sampler.get("seed", 0)) + len(study.trials)  # a resumed study must not redraw old points
    sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=int(ocfg.sampler.get("n_startup_trials", 5)))
               if ocfg.sampler.name == "tpe" else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.load_study(study_name=str(ocfg.study_name), storage=storage, sampler=sampler)

    base_argv = [a for a in argv if not a.startswith(("hydra.sweep.", "hydra.run.dir="))]
    extra = [f"logger.group={ocfg.study_name}"] if cfg.logger.name == "wandb" and cfg.logger.group is None else []
    n_target = int(ocfg.n_trials)
    print(f"[tune] study {ocfg.study_name!r} in {storage}: {len(study.trials)} trials so far, target {n_target} "
          f"finished, {ocfg.direction} {metric}", flush=True)

    TS = optuna.trial.TrialState
    for stale in [t for t in study.trials if t.state == TS.RUNNING]:  # left by an interrupted invocation
        value, why = run_trial(stale.number, stale.params, base_argv, sweep_dir, extra, metric)
        study.tell(stale.number, value, state=TS.COMPLETE if value is not None else TS.FAIL)
        if why:
            print(f"[tune] trial {stale.number} failed: {why}", flush=True)
    while sum(t.state.is_finished() for t in study.trials) < n_target:
        trial = study.ask(space)
        trial.set_user_attr("run_dir", str(sweep_dir / str(trial.number)))
        value, why = run_trial(trial.number, trial.params, base_argv, sweep_dir, extra, metric)
        if value is None:
            print(f"[tune] trial {trial.number} failed: {why}", flush=True)
            study.tell(trial, state=TS.FAIL)
        else:
            study.tell(trial, value)
            print(f"[tune] trial {trial.number}: {metric} = {value:.4f}", flush=True)

    complete = [t for t in study.trials if t.state == TS.COMPLETE]
    if not complete:
        raise ConfigError(f"no trial of study {ocfg.study_name!r} completed; see the trial logs under {sweep_dir}")
    best = study.best_trial
    result = {"best_value": best.value, "best_params": best.params, "best_run_dir": str(sweep_dir / str(best.number)),
              "n_finished": sum(t.state.is_finished() for t in study.trials)}
    print(f"[tune] best of {len(complete)} completed trials: trial {best.number}, {metric} = {best.value:.4f}, "
          f"{' '.join(_override(k, v) for k, v in best.params.items())} ({result['best_run_dir']})", flush=True)
    return result

