"""Find run directories and load what ``gan-lab train`` left in them.

A run directory is any directory holding ``.hydra/config.yaml`` (Hydra writes it for every run and
every sweep job). Alongside it a run has ``metrics.jsonl`` (one JSON object per evaluation, written by
``gan_lab.callbacks.evaluation``) and ``samples/step_XXXXXX.png`` grids. ``metrics.jsonl`` also holds
``"kind": "sanity"`` records after the final one: the same metrics on a stand-in for the generator
(``"row"``: identity, real, template). They are not evaluations of the run's model: ``Run.evaluations``
leaves them out, and everything that summarises the model (final, summary, curves, metric names) reads
it. Sweep directories (``outputs/multirun/<date>/<time>/``) are searched recursively, so passing one finds
all its jobs.
Nothing here imports torch or Lightning: the report runs anywhere the run directories are.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from omegaconf import OmegaConf

from gan_lab.records import load_records

from gan_lab.registry import ConfigError

CONFIG_FILE = Path(".hydra") / "config.yaml"
SANITY_KIND = "sanity"  # records of a stand-in for the generator, not of the run's model (gan_lab.records)
SAMPLE_RE = re.compile(r"^step_(\d+)\.png$")


class RunDirError(ConfigError):
    """A directory given to ``gan-lab compare runs=...`` holds no run directory (or does not exist)."""


@dataclass
class Run:
    """One training run: its flattened config, its evaluation records (file order) and sample grids."""

    path: Path
    config: dict[str, object]  # dotted key -> value (interpolations resolved where possible)
    records: list[dict] = field(default_factory=list)
    train_records: list[dict] = field(default_factory=list)  # train_metrics.jsonl: train/* and diagnostics
    samples: list[tuple[int, Path]] = field(default_factory=list)  # (step, png), sorted by step
    warnings: list[str] = field(default_factory=list)

    @property
    def seed(self):
        return self.config.get("seed")

    @property
    def evaluations(self) -> list[dict]:
        """The records that evaluate this run's model: every record but the sanity rows (file order)."""
        return [r for r in self.records if r.get("kind") != SANITY_KIND]

    @property
    def sanity(self) -> dict[str, dict]:
        """Sanity row name -> its last ``kind == "sanity"`` record (identity, real, template, ...)."""
        rows: dict[str, dict] = {}
        for r in self.records:
            if r.get("kind") == SANITY_KIND and isinstance(r.get("row"), str):
                rows[r["row"]] = r  # first appearance sets the order, the last record the value
        return rows

    @property
    def final(self) -> dict | None:
        """The last ``kind == "final"`` record (a resumed run may have written more than one)."""
        finals = [r for r in self.records if r.get("kind") == "final"]
        return finals[-1] if finals else None

    @property
    def summary(self) -> dict | None:
        """The final evaluation, or, when there is none, the last periodic one (see ``has_final``); never a
        sanity row."""
        evaluations = self.evaluations
        return self.final or (evaluations[-1] if evaluations else None)

    @property
    def has_final(self) -> bool:
        return self.final is not None

    @property
    def latest_sample(self) -> tuple[int, Path] | None:
        return self.samples[-1] if self.samples else None


def _canonical(value):
    """Lists become tuples so values can be compared and hashed."""
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    return value


def flatten_config(cfg) -> dict[str, object]:
    """Dotted leaf keys -> values. Each leaf is resolved on its own; one that cannot be resolved outside
    Hydra (``paths.output_dir: ${hydra:runtime.output_dir}``) keeps its raw ``${...}`` text."""
    raw = OmegaConf.to_container(cfg, resolve=False)
    out: dict[str, object] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
            return
        key = prefix[:-1]
        try:
            value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value, resolve=True)
        except Exception:  # an unresolvable interpolation: keep its text
            value = node
        out[key] = _canonical(value)

    walk(raw, "")
    return out


def find_samples(run_dir: Path) -> list[tuple[int, Path]]:
    d = run_dir / "samples"
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := SAMPLE_RE.match(p.name))]
    return sorted(found)


class UnreadableRunError(ValueError):
    """A run directory whose .hydra/config.yaml cannot be read (not YAML): the report skips it with a warning."""


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    warnings: list[str] = []
    try:
        cfg = OmegaConf.load(run_dir / CONFIG_FILE)
    except Exception as e:  # noqa: BLE001 - yaml's parser errors, a directory in its place, a bad encoding
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnreadableRunError(f"{run_dir / CONFIG_FILE} is not readable YAML ({first})") from e
    run = Run(path=run_dir, config=flatten_config(cfg), warnings=warnings)
    run.records = load_records(run_dir / "metrics.jsonl", warnings)
    run.train_records = load_records(run_dir / "train_metrics.jsonl", warnings)
    run.samples = find_samples(run_dir)
    if not run.records:
        warnings.append(f"{run_dir}: no evaluations recorded (metrics.jsonl missing or empty)")
    return run


def find_run_dirs(root: Path) -> list[Path]:
    """Every directory under ``root`` (itself included) holding ``.hydra/config.yaml``; runs do not nest,
    so the walk does not descend into a run (its checkpoints/, wandb/, samples/)."""
    found = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=True):
        d = Path(dirpath)
        if (d / CONFIG_FILE).is_file():
            found.append(d)
            dirnames.clear()
        else:
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
    return sorted(found)


def discover_runs(paths: Iterable[str | Path]) -> list[Run]:
    """All runs under the given run or sweep directories (each path must hold at least one run)."""
    runs, seen, skipped = [], set(), []
    for p in paths:
        root = Path(p)
        if not root.exists():
            raise RunDirError(f"{str(p)!r} does not exist; pass a run directory (outputs/<date>/<time>_<name>) "
                              "or a sweep directory (outputs/multirun/<date>/<time>)")
        dirs = find_run_dirs(root)
        if not dirs:
            raise RunDirError(f"no runs under {str(p)!r}: a run directory holds .hydra/config.yaml (written by "
                              "gan-lab train); pass a run directory or a sweep directory such as "
                              "outputs/multirun/<date>/<time>")
        for d in dirs:
            key = d.resolve()
            if key not in seen:
                seen.add(key)
                try:
                    runs.append(load_run(d))
                except UnreadableRunError as e:
                    skipped.append(str(e))
    if skipped and not runs:
        raise RunDirError(f"no run could be read: {skipped[0]}")
    for run in runs[:1]:
        run.warnings.extend(f"{s}: that run is left out" for s in skipped)
    return runs


def show_value(v) -> str:
    """A config value as a label shows it (and ``baseline=`` reads it back): lists ``[a,b]``, None ``null``."""
    if isinstance(v, tuple):
        return "[" + ",".join(show_value(x) for x in v) + "]"
    return "null" if v is None else str(v)


def finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
