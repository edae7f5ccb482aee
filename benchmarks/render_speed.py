"""Renders/s of ``gan_lab.synth.render_batch`` at 64 px, and where the time goes.

Usage (from the repository root; set the thread count, the numbers are per process)::

    OMP_NUM_THREADS=2 python benchmarks/render_speed.py [--n 64] [--size 64] [--reps 3] [--baseline REV]

Variants: ``batched=False`` (one pass per sample) and ``batched=True`` in chunks of 16 and 32. Each
repetition times every variant once, alternating, so a noisy shared machine slows them alike; the
median renders/s per variant is printed. ``--baseline REV`` also loads ``gan_lab/synth`` as it was at
git revision REV (under another module name, same process) and times it alongside: the speed-up is a
ratio measured in one run. A per-stage breakdown (textures, primary hits, shading, camera, JPEG) of
the default path follows, from wrappers around the stage functions; the artwork ("textures") is drawn
on a helper thread overlapped with the rest, so it is listed apart and "other" includes any wait for it.
``--compare`` also renders ``--n`` samples with both revisions and prints how far apart they are.
``--paired K`` (with ``--baseline``) then times K pairs (new default, baseline chunks of 32) in alternating
order and prints the median of the per-pair ratios, which a machine whose load drifts between the
variants' turns disturbs far less than the ratio of the medians.

``--pool N`` times what training gets instead: ``gan_lab.data.albedo.render_packed`` making a pool of N
renders (chunks of ``--pool-chunks``, default 16 as ``dataset.chunk_size``, packed to 8 bits) in this process with ``--threads`` torch threads, and with 2
spawned render processes of one thread each (``dataset.render_workers=2``), start-up included.

On a machine shared with other jobs, wall-clock rates at 2 threads swing by 10x (OpenMP threads wait for
a descheduled sibling); ``--cpu`` (implies ``--threads 1``) times the CPU time of the process instead
(all its threads: the artwork helper thread included), which other jobs barely move: renders/s per busy
core.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_baseline(rev: str):
    """``gan_lab/synth`` at git revision ``rev`` as a package named ``synth_base`` (imports rewritten)."""
    dst = Path(tempfile.mkdtemp()) / "synth_base"
    dst.mkdir()
    names = subprocess.check_output(["git", "-C", str(ROOT), "ls-tree", "--name-only", rev, "gan_lab/synth/"], text=True)
    for name in names.split():
        src = subprocess.check_output(["git", "-C", str(ROOT), "show", f"{rev}:{name}"], text=True)
        (dst / Path(name).name).write_text(src.replace("gan_lab.synth", "synth_base"))
    sys.path.insert(0, str(dst.parent))
    return importlib.import_module("synth_base.render"), importlib.import_module("synth_base.config")


CLOCK = time.perf_counter
STAGE_CLOCK = time.perf_counter  # --cpu: each stage by the CPU time of the thread that runs it


def rate(render, cfg, n: int, size: int, chunk: int, seed: int = 0) -> float:
    t0 = CLOCK()
    for s in range(0, n, chunk):
        render(min(chunk, n - s), seed, size, cfg, "cpu", list(range(s, min(s + chunk, n))))
    return n / (CLOCK() - t0)


def breakdown(render_mod, cfg, n: int, size: int, chunk: int) -> dict[str, float]:
    """Seconds per stage over ``n`` renders, by wrapping the stage functions the renderer calls."""
    from gan_lab.synth import camera, lighting, products, scene

    spent = defaultdict(float)
    targets = [(scene, "textures"), (lighting, "shade"), (camera, "jpeg"), (camera, "sensor_noise"),
               (camera, "gaussian_blur"), (products.Products, "hit")]
    saved = []
    for owner, name in targets:
        fn = getattr(owner, name)
        saved.append((owner, name, fn))

        def wrapped(*a, _fn=fn, _name=name, **k):
            t0 = STAGE_CLOCK()
            try:
                return _fn(*a, **k)
            finally:
                spent[_name] += STAGE_CLOCK() - t0
        setattr(owner, name, wrapped)
    try:
        t0 = CLOCK()
        for s in range(0, n, chunk):
            render_mod.render_batch(min(chunk, n - s), 0, size, cfg, "cpu", list(range(s, min(s + chunk, n))))
        spent["total"] = CLOCK() - t0
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    spent["textures (helper thread)"] = spent.pop("textures", 0.0)
    spent["other"] = spent["total"] - sum(v for k, v in spent.items() if k != "total" and "helper" not in k)
    return dict(spent)


def compare(base_render, base_config, n: int, size: int) -> None:
    """Max / mean |new - old| per output map over samples 0..n-1 of seed 0 (8-bit codes for the photo)."""
    from gan_lab.synth import render
    from gan_lab.synth.config import RenderConfig

    for batched in (True, False):
        a = base_render.render_batch(n, 0, size, base_config.RenderConfig(batched=batched))
        b = render.render_batch(n, 0, size, RenderConfig(batched=batched))
        print(f"new vs baseline, batched={batched}, {n} renders: params equal: {a.params == b.params}")
        for f in ("image", "albedo", "mask", "shading", "normals", "specular", "depth"):
            x, y = getattr(a, f), getattr(b, f)
            d = (x - y).abs()
            line = f"  {f:9s} max {d.max():.2e}  mean {d.mean():.2e}"
            if f in ("image", "albedo"):
                d8 = ((x * 255).round() - (y * 255).round()).abs()
                line += f"  8-bit: max {d8.max():.0f} codes, {100 * (d8 > 0).float().mean():.3f} % of values differ"
            print(line)


def paired(new: tuple, old: tuple, pairs: int, n: int, size: int, chunk: int = 32) -> None:
    """Renders/s of ``new`` and ``old`` ((render_batch, config) each) timed back to back, alternating which goes
    first; prints both medians and the median, min and max of the per-pair ratios new / old."""
    ratios, a, b = [], [], []
    for k in range(pairs):
        first, second = (new, old) if k % 2 == 0 else (old, new)
        r1, r2 = rate(*first, n, size, chunk, seed=k), rate(*second, n, size, chunk, seed=k)
        rn, ro = (r1, r2) if k % 2 == 0 else (r2, r1)
        a.append(rn)
        b.append(ro)
        ratios.append(rn / ro)
    print(f"paired ({pairs} pairs of {n} renders, chunks of {chunk}): new {statistics.median(a):.1f} renders/s, "
          f"baseline {statistics.median(b):.1f} renders/s, ratio median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


def pool_rates(n: int, size: int, reps: int, chunks: list[int]) -> None:
    """Wall-clock renders/s of ``render_packed`` (a training pool) in one process and in 2 render processes,
    for each chunk size (``dataset.chunk_size``) in ``chunks``; every repetition times every arm once."""
    from gan_lab.data.albedo import render_packed

    render_packed(16, 0, size, None)  # warm-up: imports, fonts
    arms = {}
    for chunk in chunks:
        arms[f"1 process x {torch.get_num_threads()} threads, chunks of {chunk}"] = (1, chunk)
        arms[f"2 processes x 1 thread, chunks of {chunk}"] = (2, chunk)
    results = defaultdict(list)
    for rep in range(reps):
        for name, (workers, chunk) in arms.items():
            t0 = time.perf_counter()
            render_packed(n, rep, size, None, chunk_size=chunk, workers=workers)
            results[name].append(n / (time.perf_counter() - t0))
    print(f"pool of {n} renders at {size} px (render_packed, start-up included), median of {reps}:")
    for name, r in results.items():
        print(f"  {name:42s} {statistics.median(r):6.1f} renders/s   ({', '.join(f'{x:.1f}' for x in r)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--baseline", default=None, help="git revision to time alongside (same process)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu", action="store_true", help="process CPU time instead of wall time (1 torch thread)")
    ap.add_argument("--compare", action="store_true", help="with --baseline: output difference new vs old")
    ap.add_argument("--pool", type=int, default=0, help="time render_packed pools of this size (1 process, 2 processes)")
    ap.add_argument("--pool-chunks", default="16", help="with --pool: comma-separated chunk sizes to time")
    ap.add_argument("--paired", type=int, default=0, help="with --baseline: this many alternating (new, old) pairs")
    args = ap.parse_args()
    global CLOCK, STAGE_CLOCK
    if args.cpu:
        CLOCK, STAGE_CLOCK, args.threads = time.process_time, time.thread_time, 1
    torch.set_num_threads(args.threads)
    if args.pool:
        return pool_rates(args.pool, args.size, args.reps, [int(c) for c in args.pool_chunks.split(",")])
    from gan_lab.synth import render
    from gan_lab.synth.config import RenderConfig

    variants = {"new default": (render.render_batch, RenderConfig(), 32),
                "new batched=False": (render.render_batch, RenderConfig(batched=False), 32),
                "new batched=True chunk 16": (render.render_batch, RenderConfig(batched=True), 16),
                "new batched=True chunk 32": (render.render_batch, RenderConfig(batched=True), 32)}
    if args.baseline:
        base_render, base_config = load_baseline(args.baseline)
        variants.update({f"{args.baseline} batched=False": (base_render.render_batch, base_config.RenderConfig(batched=False), 32),
                         f"{args.baseline} batched=True chunk 32": (base_render.render_batch, base_config.RenderConfig(batched=True), 32)})
    for fn, cfg, chunk in variants.values():  # warm-up: imports, font loading, allocator
        rate(fn, cfg, 4, args.size, chunk)
    results = defaultdict(list)
    for rep in range(args.reps):
        for name, (fn, cfg, chunk) in variants.items():
            results[name].append(rate(fn, cfg, args.n, args.size, chunk, seed=rep))
    clock = "process CPU time" if args.cpu else "wall time"
    print(f"{args.n} renders at {args.size} px, {torch.get_num_threads()} threads, {clock}, median of {args.reps}:")
    for name, r in results.items():
        print(f"  {name:34s} {statistics.median(r):6.1f} renders/s   ({', '.join(f'{x:.1f}' for x in r)})")
    if args.paired and args.baseline:
        paired((render.render_batch, RenderConfig()), (base_render.render_batch, base_config.RenderConfig()),
               args.paired, args.n, args.size)
    print("stage breakdown of the default path (s per render):")
    b = breakdown(render, RenderConfig(), args.n, args.size, 32)
    for k, v in sorted(b.items(), key=lambda kv: -kv[1]):
        print(f"  {k:24s} {1000 * v / args.n:6.1f} ms")
    if args.compare and args.baseline:
        compare(base_render, base_config, args.n, args.size)


if __name__ == "__main__":
    main()
