"""Shared command line of the albedo checkpoint benchmarks: ``CKPT [--n 256] [--cache-dir DIR]``.

Returns the parsed arguments and the held-out test renders ``gan-lab albedo-eval`` scores the checkpoint on.
"""

from __future__ import annotations

import argparse

from gan_lab.albedo.evaluation import held_out
from gan_lab.commands.albedo_eval import eval_datamodule


def checkpoint_test_set(description: str) -> tuple[argparse.Namespace, dict]:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("ckpt")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--cache-dir", default="datasets/.cache/albedo_synth")
    args = ap.parse_args()
    return args, held_out(eval_datamodule([args.ckpt], 64, args.n, 0, args.cache_dir), "test", args.n)
