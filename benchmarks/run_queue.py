"""Run a list of ``gan-lab train`` runs a few at a time, one torch thread each, skipping finished ones.

A CPU campaign (docs/results/lgad_fashion.md) is a long list of short runs; on a 2-core machine two at a time
with one thread each is the fastest honest way through it. Each run gets its own ``hydra.run.dir`` under
``--out`` named by its overrides, so the runs can be compared with ``gan-lab compare runs=<out>``; a run whose
directory already holds a ``final`` record is skipped, so the queue can be stopped and started again.

    python benchmarks/run_queue.py --out outputs/lgad_fashion_gen --jobs 2 \\
        --grid "head=softmax,aam" "seed=0,1,2,3,4" "dataset.train_fraction=0.1,0.01" \\
        -- experiment=lgad_fashion_gen logger=none
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def expand(grid: list[str]) -> list[list[str]]:
    """``["a=1,2", "b=x"]`` -> ``[["a=1", "b=x"], ["a=2", "b=x"]]`` (the order of Hydra's basic sweeper)."""
    axes = []
    for item in grid:
        key, _, values = item.partition("=")
        axes.append([f"{key}={v}" for v in values.split(",")])
    return [list(combo) for combo in itertools.product(*axes)]


def run_name(overrides: list[str]) -> str:
    """``["seed=0", "head=aam"]`` -> ``seed0_aam`` (no ``=``: Hydra would read the directory as an override)."""
    parts = []
    for o in overrides:
        key, value = o.split("=", 1)
        parts.append(f"{key.split('.')[-1]}{value}" if key.split(".")[-1] in ("seed",) else value)
    return "_".join(parts).replace("/", "-").replace("=", "-")


def finished(run_dir: Path) -> bool:
    records = run_dir / "metrics.jsonl"
    if not records.is_file():
        return False
    return any(json.loads(line).get("kind") == "final" for line in records.read_text().splitlines() if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="one run directory per grid point under here")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--grid", nargs="+", default=[], help="key=v1,v2 ... (the product is run)")
    parser.add_argument("common", nargs="*", help="overrides every run gets (after --)")
    args = parser.parse_args()
    todo = [(o, args.out / run_name(o)) for o in expand(args.grid)]
    todo = [(o, d) for o, d in todo if not finished(d)]
    print(f"[run_queue] {len(todo)} runs to go under {args.out}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_SILENT": "true"}
    running: list[tuple[subprocess.Popen, Path, float]] = []
    while todo or running:
        while todo and len(running) < args.jobs:
            overrides, run_dir = todo.pop(0)
            run_dir.mkdir(parents=True, exist_ok=True)
            ckpt = ["ckpt_path=last"] if (run_dir / "checkpoints" / "last.ckpt").is_file() else []
            cmd = ["gan-lab", "train", *args.common, *overrides, f"hydra.run.dir={run_dir}", *ckpt]
            log = open(run_dir / "queue.log", "w")
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), run_dir, time.time()))
            print(f"[run_queue] start {run_dir.name}: {' '.join(cmd)}", flush=True)
        time.sleep(5)
        for proc, run_dir, t0 in list(running):
            if proc.poll() is not None:
                running.remove((proc, run_dir, t0))
                print(f"[run_queue] {'done' if proc.returncode == 0 else f'FAILED ({proc.returncode})'} "
                      f"{run_dir.name} in {time.time() - t0:.0f} s", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
