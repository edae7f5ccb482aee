"""The run records: ``metrics.jsonl`` (one object per evaluation) and ``train_metrics.jsonl`` (training
scalars and diagnostics), both strict JSON, one object per line, appended as the run goes.

Written by the training callbacks, read by sweeps and ``gan-lab compare``. A resumed run first drops the
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
    """Append one record as a line of strict JSON (NaN/inf written as null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(strict_json(record), sort_keys=False, allow_nan=False) + "\n")


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
