"""The run records: ``metrics.jsonl`` (one object per evaluation) and ``train_metrics.jsonl`` (training
scalars and diagnostics), both strict JSON, one object per line, appended as the run goes.

Written by the training callbacks (``append_jsonl``), read back by training (the final numbers), sweeps
(is a job done? its objective) and ``gan-lab compare`` through ``load_records`` / ``final_record`` /
``selection_record``; which keys are bookkeeping rather than metrics is decided here (``is_bookkeeping``). Kinds of ``metrics.jsonl`` records: ``periodic`` and ``final_val`` (the selection split), ``final`` (the
reported numbers) and ``sanity`` (the same metrics on a stand-in for the generator, written after the final
record: ``"row"`` names it, ``identity`` / ``real`` / ``template`` / ...; see docs/evaluation.md). A resumed run first drops the
records past its checkpoint's step (they are recomputed identically); the dropped lines are kept in
``<name>.discarded.jsonl`` beside the file, so nothing written is ever lost.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


def strict_json(value):
    """``value`` with every non-finite float replaced by None: the records stay strict JSON (no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def append_jsonl(path: Path, record: dict) -> None:
    """Append one record as a line of strict JSON (NaN/inf written as null). A failed write (a full disk) is one
    :class:`gan_lab.errors.RunOutputError` naming the file; a line cut short by it is skipped on reading and
    moved aside on resume (``load_records``, ``drop_after``)."""
    from gan_lab.errors import RunOutputError

    path = Path(path)
    line = json.dumps(strict_json(record), sort_keys=False, allow_nan=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(line)
    except OSError as e:
        raise RunOutputError(path, e) from e


def keep_before_start(path: Path, step: int) -> int:
    """At the start of training from ``step`` (0: a fresh start): move aside every record a killed earlier attempt
    wrote past that step (all of them on a fresh start, e.g. a job restarted with ``ckpt_path=auto`` before its
    first checkpoint), so no record appears twice. Returns how many lines were moved (``drop_after``)."""
    return drop_after(path, step if step > 0 else -1)


def drop_after(path: Path, step: int) -> int:
    """Keep the records with ``step <= step`` (a resume from that step); move the others, and any line cut
    short by a kill, to ``<name>.discarded.jsonl``. Returns how many lines were moved."""
    path = Path(path)
    if not path.is_file():
        return 0
    keep, drop = [], []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            ok = int(json.loads(line)["step"]) <= step
        except (ValueError, KeyError, TypeError):
            ok = False
        (keep if ok else drop).append(line)
    if drop:
        with open(path.with_name(path.stem + ".discarded.jsonl"), "a") as f:
            f.write("\n".join(drop) + "\n")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, path)
    return len(drop)


# Bookkeeping in each record, not metrics (KID's *_std is over KID subsets, not seeds: left out; n_* are counts).
BOOKKEEPING = {"step", "kind", "split", "row", "n_fake", "n_real", "eval_seed", "eval_seconds", "per_class_accuracy",
               "bootstrap"}
# *_ci_lo / *_ci_hi: a bootstrap 95 % interval over the generated samples of one evaluation (not over seeds).
BOOKKEEPING_SUFFIXES = ("_std", "_classes", "_pairs", "_ci_lo", "_ci_hi")


def is_bookkeeping(key: str) -> bool:
    """Counts, timings, seeds and spreads recorded beside the metrics (not ranked, no best value)."""
    base = key.rpartition("/")[2]
    return base in BOOKKEEPING or base.startswith("n_") or base.endswith(BOOKKEEPING_SUFFIXES)


def _number(v):
    """JSON null stands for NaN (strict JSON cannot hold NaN)."""
    return float("nan") if v is None else v


def load_records(path: Path, warnings: list[str] | None = None) -> list[dict]:
    """Every record of a ``*.jsonl`` file with a ``step``, nulls read back as NaN; a line that cannot be read
    (the last line of a killed run) or is not a record is skipped with a note in ``warnings``."""
    warnings = [] if warnings is None else warnings
    path = Path(path)
    records = []
    if not path.is_file():
        return records
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            warnings.append(f"{path}:{i}: unreadable line skipped ({e.msg})")
            continue
        if not isinstance(rec, dict) or "step" not in rec:
            warnings.append(f"{path}:{i}: not an evaluation record (no 'step'), skipped")
            continue
        if isinstance(rec["step"], bool) or not isinstance(rec["step"], int):
            warnings.append(f"{path}:{i}: step {rec['step']!r} is not an integer, record skipped")
            continue
        per_class = rec.get("per_class_accuracy", [])
        if not isinstance(per_class, list) or not all(x is None or isinstance(x, (int, float)) for x in per_class):
            warnings.append(f"{path}:{i}: per_class_accuracy is not a list of numbers, left out")
            rec.pop("per_class_accuracy")
        records.append({k: _number(v) if k != "per_class_accuracy" else [_number(x) for x in v or []]
                        for k, v in rec.items()})
    return records


def last_record(run_dir: Path, *kinds: str) -> dict | None:
    """The last record of the first of ``kinds`` present in <run_dir>/metrics.jsonl (None if none)."""
    records = load_records(Path(run_dir) / "metrics.jsonl")
    for kind in kinds:
        chosen = [r for r in records if r.get("kind") == kind]
        if chosen:
            return chosen[-1]
    return None


def final_record(run_dir: Path) -> dict | None:
    """The last ``"kind": "final"`` evaluation (None if the run never finished)."""
    return last_record(run_dir, "final")


def selection_record(run_dir: Path) -> dict | None:
    """The record model selection reads: the last ``"kind": "final_val"`` evaluation (the cheap metrics on
    ``eval.select_split`` at the end of training), else the final one (a run without a selection split)."""
    return last_record(run_dir, "final_val", "final")
