"""Ceiling of any method that only undoes the lighting: the held-out renders divided by their true shading.

Usage (repository root): ``python benchmarks/albedo_oracle.py [--n 256] [--split-seed 0]``

The renderer knows each photo's linear shading S and highlight radiance H (``RenderBatch.shading``,
``.specular``: linear(photo) = linear(albedo)·S + H before blur, noise and JPEG). Dividing the photo by S
(and removing H first) is therefore the best any "lighting-only" method can do; what remains is the
camera's blur, noise, JPEG and clipping. Prints the albedo metrics of the photo and of the two oracles on
the same held-out renders ``albedo_synth`` evaluates on (seed 10¹² + 2·split_seed + 1), overall and per
difficulty tag, as Markdown rows.
"""

from __future__ import annotations

import argparse

import torch

from gan_lab.albedo.evaluation import GROUPS, evaluate_predictions
from gan_lab.data.albedo import DIFFICULTY_TAGS, HOLDOUT_SEED_BASE
from gan_lab.synth.camera import linear_to_srgb
from gan_lab.synth.lighting import srgb_to_linear
from gan_lab.synth.render import render_batch

METRICS = ("psnr", "ssim", "si_mse", "lmse", "delta_e2000", "sharpness")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--split-seed", type=int, default=0)
    args = ap.parse_args()
    b = render_batch(args.n, HOLDOUT_SEED_BASE + 2 * args.split_seed + 1, 64)
    tags = torch.tensor([[float(t in p["difficulty"]) for t in DIFFICULTY_TAGS] for p in b.params])
    data = {"albedo": b.albedo * 2 - 1, "mask": (b.mask > 0.5).float(), "difficulty": tags}
    lin, shading = srgb_to_linear(b.image), b.shading.clamp_min(1e-3)
    methods = {"photo": b.image, "oracle: photo / S": linear_to_srgb((lin / shading).clamp(0, 1)),
               "oracle: (photo − H) / S": linear_to_srgb(((lin - b.specular) / shading).clamp(0, 1))}
    print("| method | group | n | " + " | ".join(METRICS) + " |")
    print("|---|---|---:|" + "---:|" * len(METRICS))
    for name, pred in methods.items():
        r = evaluate_predictions(pred * 2 - 1, data, METRICS)
        for group in ("all", *GROUPS):
            key = "" if group == "all" else f"{group}/"
            n = r["n_eval"] if group == "all" else r[f"n_{group}"]
            print(f"| {name} | {group} | {n} | " + " | ".join(f"{r[key + m]:.4g}" for m in METRICS) + " |")


if __name__ == "__main__":
    main()
