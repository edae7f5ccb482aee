"""Test-time self-ensembles of an albedo checkpoint: metrics on its held-out renders with and without them.

Usage (repository root)::

    OMP_NUM_THREADS=1 python benchmarks/albedo_tta.py RUN/checkpoints/last.ckpt [--n 256] [--cache-dir DIR]

Averages the predictions for transformed photos, each transformed back (as restoration papers'
self-ensembles do): ``none``, ``hflip`` (photo and mirror image), ``flips4`` (+ the two 180° variants) and
``d8`` (all four rotations × mirror). Prints overall PSNR, SSIM, si-MSE, LMSE, ΔE2000, sharpness and the
specular si-MSE per ensemble, on the same renders ``gan-lab albedo-eval`` scores.
"""

from __future__ import annotations

import torch

from albedo_checkpoint_data import checkpoint_test_set

from gan_lab.albedo.evaluation import evaluate_predictions, predict_all
from gan_lab.modules.loading import load_module

ENSEMBLES = {"none": [(0, False)], "hflip": [(0, False), (0, True)],
             "flips4": [(0, False), (0, True), (2, False), (2, True)],
             "d8": [(k, f) for k in range(4) for f in (False, True)]}


def ensemble_predictor(predict, transforms):
    """x -> mean over (k, flip) of T⁻¹(predict(T(x))), T = rot90 by k then an optional horizontal flip."""
    def run(x):
        out = 0
        for k, flip in transforms:
            t = torch.rot90(x, k, (2, 3))
            y = predict(t.flip(3) if flip else t)
            out = out + torch.rot90(y.flip(3) if flip else y, -k, (2, 3))
        return out / len(transforms)
    return run


def main() -> None:
    args, data = checkpoint_test_set(__doc__.split("\n")[0])
    module = load_module(args.ckpt).eval()
    keys = ("psnr", "ssim", "si_mse", "lmse", "delta_e2000", "sharpness", "specular/si_mse")
    print("| ensemble | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys))
    for name, transforms in ENSEMBLES.items():
        r = evaluate_predictions(predict_all(ensemble_predictor(module.predict_albedo, transforms), data["input"]), data)
        print(f"| {name} | " + " | ".join(f"{r[k]:.5g}" for k in keys) + " |", flush=True)


if __name__ == "__main__":
    main()
