"""Time ``gan-lab train experiment=smoke`` on every data set, on full-size synthetic copies of their formats.

    python benchmarks/smoke_datasets.py [--out DIR] [--datasets digits,rafd,cifar100,folder] [key=value ...]

The real RaFD, CIFAR-100 and image-folder data are not downloadable here, so this writes stand-ins with the
real on-disk formats and the real sizes that matter for cost (random pixels; every run's numbers mean nothing):

- rafd: the 090-degree camera's 67 subjects x 8 expressions x 3 gazes = 1,608 JPEGs of 681x1024 px (quality 90),
  named as RaFD names them (``Rafd090_<subject>_<group>_<gender>_<expression>_<gaze>.jpg``); the config keeps
  the frontal gaze (536 images) at 128 px, as StarGAN's RaFD setting;
- cifar100: the python-pickle files ``train`` (50,000 rows), ``test`` (10,000) and ``meta``, 32 px;
- folder: 10 class directories x 200 JPEGs of 96x128 px, cropped and resized to 64 px.

Each data set then gets one ``gan-lab train experiment=smoke dataset=<name> dataset.root=<copy>`` in a fresh
process with a cold evaluation-classifier cache (so the classifier's training is counted); the wall time of
the whole command is printed with the time until the first training iteration, from the run's log.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

EXPRESSIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")


def write_rafd(root: Path, subjects: int = 67) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 256, size=(1024, 681, 3), dtype=np.uint8)
    for s in range(1, subjects + 1):
        for e, expr in enumerate(EXPRESSIONS):
            img = Image.fromarray(np.roll(base, 7 * s + 3 * e, axis=1))
            for gaze in ("frontal", "left", "right"):
                img.save(root / f"Rafd090_{s:02d}_Caucasian_{'female' if s % 2 else 'male'}_{expr}_{gaze}.jpg",
                         quality=90)


def write_cifar100(root: Path) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 50_000), ("test", 10_000)):
        fine = rng.permutation(np.arange(n) % 100)
        d = {b"batch_label": split.encode(), b"filenames": [f"{i}.png".encode() for i in range(n)],
             b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"fine_labels": fine.tolist(),
             b"coarse_labels": (fine // 5).tolist()}
        with open(root / split, "wb") as f:
            pickle.dump(d, f)
    with open(root / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"fine{i:02d}".encode() for i in range(100)],
                     b"coarse_label_names": [f"coarse{i:02d}".encode() for i in range(20)]}, f)


def write_folder(root: Path, classes: int = 10, per_class: int = 200) -> None:
    rng = np.random.default_rng(0)
    for c in range(classes):
        d = root / f"class_{c:02d}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, size=(96, 128, 3), dtype=np.uint8)).save(d / f"{i:04d}.jpg", quality=90)


WRITERS = {"rafd": write_rafd, "cifar100": write_cifar100, "folder": write_folder}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None, help="where the copies and runs go (default: a temporary directory)")
    p.add_argument("--datasets", default="digits,rafd,cifar100,folder")
    p.add_argument("override", nargs="*", help="more overrides for every run (key=value)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        rows = []
        for name in args.datasets.split(","):
            overrides = [f"dataset={name}"]
            if name in WRITERS:
                root = out / "data" / name
                if not root.exists():
                    t0 = time.perf_counter()
                    WRITERS[name](root)
                    print(f"wrote the {name} copy in {time.perf_counter() - t0:.0f} s", flush=True)
                overrides.append(f"dataset.root={root}")
            run = out / "runs" / name
            cmd = [sys.executable, "-m", "gan_lab.cli", "train", "experiment=smoke", "logger=none", *overrides,
                   f"hydra.run.dir={run}", f"paths.cache_dir={out / 'cache' / name}", *args.override]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
            rows.append((name, proc.returncode, wall))
            print(f"{name}: rc {proc.returncode}, {wall:.1f} s wall", flush=True)
        print("\n| data set | exit | wall s (whole command, cold classifier cache) |\n|---|---:|---:|")
        for name, rc, wall in rows:
            print(f"| {name} | {rc} | {wall:.1f} |")


if __name__ == "__main__":
    main()
