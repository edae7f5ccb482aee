"""How the default job's cost grows: training images/s against batch size, image size and CPU processes, and
peak memory. One row per setting; each setting is timed as two ``gan-lab train`` runs of different lengths, so
start-up (imports, data, model building) cancels:

    s/iteration = (wall(long run) - wall(short run)) / (long - short iterations)
    images/s    = batch size x processes / (s/iteration)

    python benchmarks/scaling.py [--short 5] [--long 25] [--plot docs/scaling_cost.png]

Settings: the default job (``model=stargan_cpu``, digits, 32 px, batch 16, 1 process) varied one knob at a time:
``dataset.batch_size`` 8/16/32/64; ``dataset.image_size`` 32/64/128 (digits upsampled; StarGAN D needs a size
divisible by 2^4); ``trainer=ddp_cpu`` with ``trainer.devices`` 1 or 2 (each process its own batch of 16 and
``OMP_NUM_THREADS=1``, against 1 process with 1 and with 2 threads). Evaluation, samples and loggers are off;
peak memory is the largest resident set of the run's process tree (``ru_maxrss`` of the children, long run).
Run it on an otherwise idle machine: the rows are compared with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUIET = ["logger=none", "eval.every_n_steps=0", "samples.every_n_steps=0", "eval.metrics=[]",
         "eval.final_metrics=[]", "diagnostics.every_n_steps=0", "checkpoint.every_n_steps=0"]
SETTINGS = [  # (label, overrides, processes, threads per process)
    *[(f"batch {b}", [f"dataset.batch_size={b}"], 1, 2) for b in (8, 16, 32, 64)],
    *[(f"{s} px", [f"dataset.image_size={s}"], 1, 2) for s in (64, 128)],
    ("1 process x 1 thread", [], 1, 1),
    ("ddp_cpu 1 process", ["trainer=ddp_cpu", "trainer.devices=1"], 1, 1),
    ("ddp_cpu 2 processes", ["trainer=ddp_cpu", "trainer.devices=2"], 2, 1),
]

MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t0
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc.returncode)
sys.stderr.write(rc.stderr[-2000:] if rc.returncode else "")
"""


def timed_run(overrides: list[str], steps: int, threads: int, out: Path) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one ``gan-lab train`` of ``steps`` iterations."""
    run_dir = out / f"run_{time.time_ns()}"
    cmd = [sys.executable, "-m", "gan_lab.cli", "train", *QUIET, *overrides, f"trainer.max_steps={steps}",
           f"hydra.run.dir={run_dir}", f"paths.cache_dir={out / 'cache'}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env, check=False)
    wall, rss_kib, rc = proc.stdout.split()
    if int(rc) != 0:
        raise SystemExit(f"gan-lab train failed ({' '.join(overrides)}):\n{proc.stderr}")
    return float(wall), int(rss_kib) / 1024


def plot(rows: list[dict], out: Path) -> None:
    """scaling_batch.svg and scaling_size.svg: two small line charts (gan_lab's own chart code, no plotting library); the inline
    charts of the compare page carry no namespace (that page must contain no URL), standalone files do."""
    from gan_lab.report.svg import Series, line_chart

    out.mkdir(parents=True, exist_ok=True)
    for name, prefix, unit in (("batch", "batch ", "batch size"), ("size", None, "image size (px)")):
        pts = [(float(r["setting"].split()[1 if prefix else 0]), r["images_per_s"], 1, False) for r in rows
               if (r["setting"].startswith(prefix) if prefix else r["setting"].endswith(" px"))]
        if name == "size":  # the default job's 32 px is the batch-16 row
            pts += [(32.0, r["images_per_s"], 1, False) for r in rows if r["setting"] == "batch 16"]
        svg = line_chart([Series("training images/s", 0, sorted(pts))], x_label=unit)
        svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)  # a standalone file needs it
        (out / f"scaling_{name}.svg").write_text(svg + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--short", type=int, default=5)
    p.add_argument("--long", type=int, default=25)
    p.add_argument("--only", default=None, help="comma-separated labels to run (default: all)")
    p.add_argument("--plot", default=None, help="write scaling_batch.svg and scaling_size.svg into this folder")
    p.add_argument("--json", default=None, help="write the rows as JSON here")
    p.add_argument("--from-json", default=None, help="comma-separated JSON files of earlier runs: merge (later files win "
                   "per setting) and only plot")
    args = p.parse_args(argv)
    if args.from_json:
        merged = {}
        for f in args.from_json.split(","):
            merged.update({r["setting"]: r for r in json.loads(Path(f).read_text())})
        plot([merged[label] for label, *_ in SETTINGS if label in merged], Path(args.plot or "."))
        return
    rows = []
    print("| setting | processes x threads | s / iteration | training images/s | peak memory (MiB) |")
    print("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, overrides, procs, threads in SETTINGS:
            if args.only and label not in args.only.split(","):
                continue
            batch = next((int(o.split("=")[1]) for o in overrides if o.startswith("dataset.batch_size=")), 16)
            short, _ = timed_run(overrides, args.short, threads, Path(tmp))
            long, rss = timed_run(overrides, args.long, threads, Path(tmp))
            per_it = (long - short) / (args.long - args.short)
            rows.append({"setting": label, "processes": procs, "threads": threads, "s_per_iteration": per_it,
                         "images_per_s": batch * procs / per_it, "peak_mib": rss})
            print(f"| {label} | {procs} x {threads} | {per_it:.3f} | {batch * procs / per_it:.0f} | {rss:.0f} |",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.plot:
        plot(rows, Path(args.plot))

if __name__ == "__main__":
    main()
