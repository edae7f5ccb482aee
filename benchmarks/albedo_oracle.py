"""Ceiling of any method that only undoes the lighting: the held-out renders divided by their true shading.

Usage (repository root): ``python benchmarks/albedo_oracle.py [--n 256] [--split-seed 0] [--size 64] [--baselines]``

The renderer knows each photo's linear shading S and highlight radiance H (``RenderBatch.shading``,
``.specular``: linear(photo) = linear(albedo)·S + H before blur, noise and JPEG). Dividing the photo by S
(and removing H first) is therefore the best any "lighting-only" method can do; what remains is the
camera's blur, noise, JPEG and clipping. Prints the albedo metrics of the photo and of the two oracles on
the same held-out renders ``albedo_synth`` evaluates on (seed 10¹² + 2·split_seed + 1), overall and per
difficulty tag, as Markdown rows. ``--size`` renders the same scenes at another resolution (blur is in
output pixels, noise per pixel); ``--camera no-noise|no-jpeg|no-blur|clean`` renders the same scenes with
camera degradations switched off, to see which of them bounds the oracle; ``--baselines`` adds the rows
of ``gan-lab albedo-eval``'s baselines and, last, the issue's thresholds that follow from them
(si-MSE ≤ 0.6×, LMSE ≤ 0.7×, ΔE2000 ≤ 0.75× the best baseline; SSIM ≥ photo + 0.1, PSNR ≥ photo + 3 dB).
"""

from __future__ import annotations

import argparse

import torch

from gan_lab.albedo.baselines import BASELINES
from gan_lab.albedo.evaluation import GROUPS, evaluate_predictions
from gan_lab.data.albedo import DIFFICULTY_TAGS, HOLDOUT_SEED_BASE
from gan_lab.synth.camera import linear_to_srgb
from gan_lab.synth.config import RenderConfig
from gan_lab.synth.lighting import srgb_to_linear
from gan_lab.synth.render import render_batch

METRICS = ("psnr", "ssim", "si_mse", "lmse", "delta_e2000", "sharpness")
CAMERAS = {  # --camera: the renderer's camera with one degradation (or all) switched off; same scenes
    "default": {}, "no-noise": {"noise": (0.0, 0.0)}, "no-jpeg": {"jpeg_prob": 0.0}, "no-blur": {"blur_sigma": (0.0, 0.0)},
    "clean": {"noise": (0.0, 0.0), "jpeg_prob": 0.0, "blur_sigma": (0.0, 0.0)}}
ERROR_FACTORS = {"si_mse": 0.6, "lmse": 0.7, "delta_e2000": 0.75}  # at most this times the best baseline
PHOTO_MARGINS = {"psnr": 3.0, "ssim": 0.1}                          # at least the photo's plus this


def thresholds(rows: dict[str, dict], group_key: str) -> dict[str, float]:
    """The issue's targets for one group from the baselines' results (rows: name -> evaluate_predictions)."""
    out = {m: rows["input as albedo"][group_key + m] + d for m, d in PHOTO_MARGINS.items()}
    for m, f in ERROR_FACTORS.items():
        out[m] = f * min(r[group_key + m] for r in rows.values())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--camera", choices=sorted(CAMERAS), default="default",
                    help="switch camera degradations off (the same scenes and lights) to see what limits the oracle")
    ap.add_argument("--baselines", action="store_true", help="add the baselines' rows and the issue's thresholds")
    args = ap.parse_args()
    b = render_batch(args.n, HOLDOUT_SEED_BASE + 2 * args.split_seed + 1, args.size, RenderConfig(**CAMERAS[args.camera]))
    tags = torch.tensor([[float(t in p["difficulty"]) for t in DIFFICULTY_TAGS] for p in b.params])
    data = {"albedo": b.albedo * 2 - 1, "mask": (b.mask > 0.5).float(), "difficulty": tags}
    lin, shading = srgb_to_linear(b.image), b.shading.clamp_min(1e-3)
    if args.baselines:  # their "input as albedo" row is the photo
        methods = {f"baseline: {k}": (f(b.image * 2 - 1) + 1) / 2 for k, f in BASELINES.items()}
    else:
        methods = {"photo": b.image}
    methods |= {"oracle: photo / S": linear_to_srgb((lin / shading).clamp(0, 1)),
                "oracle: (photo − H) / S": linear_to_srgb(((lin - b.specular) / shading).clamp(0, 1))}
    print("| method | group | n | " + " | ".join(METRICS) + " |")
    print("|---|---|---:|" + "---:|" * len(METRICS))
    results = {}
    for name, pred in methods.items():
        results[name] = r = evaluate_predictions(pred * 2 - 1, data, METRICS)
        for group in ("all", *GROUPS):
            key = "" if group == "all" else f"{group}/"
            n = r["n_eval"] if group == "all" else r[f"n_{group}"]
            print(f"| {name} | {group} | {n} | " + " | ".join(f"{r[key + m]:.4g}" for m in METRICS) + " |")
    if args.baselines:
        rows = {k.removeprefix("baseline: "): v for k, v in results.items() if k.startswith("baseline: ")}
        for group in ("all", *GROUPS):
            t = thresholds(rows, "" if group == "all" else f"{group}/")
            print(f"| target (issue 10) | {group} | | " + " | ".join(
                ("≥ " if m in PHOTO_MARGINS else "≤ ") + f"{t[m]:.4g}" if m in t else "" for m in METRICS) + " |")


if __name__ == "__main__":
    main()
