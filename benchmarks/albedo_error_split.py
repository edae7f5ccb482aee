"""Where an albedo checkpoint's error lives: spatial frequency bands and per-image colour transforms.

Usage (repository root)::

    OMP_NUM_THREADS=1 python benchmarks/albedo_error_split.py RUN/checkpoints/last.ckpt [--n 256] [--cache-dir DIR]

On the held-out renders ``gan-lab albedo-eval`` scores, prints the overall albedo metrics of the prediction
and of diagnostic hybrids, each a question with the target's help (oracles: not methods):

* ``band σ=s: prediction's low band + target's high band`` (and the reverse): the error left when only the
  prediction's coarse (Gaussian σ = s px) or only its fine structure is kept, i.e. how the error splits
  between lighting-scale structure and artwork detail.
* ``per-image gain + offset`` / ``3×3 matrix`` / ``3×3 matrix + offset``: the prediction after the best
  such colour transform per image (least squares on the masked pixels, sRGB in [0, 1], then clamped). The
  metrics themselves forgive only one achromatic brightness (a scale fitted in linear light; the
  ``*_pc`` variants forgive a gain per channel); what these recover beyond it is error that is *global to
  an image* — the light's or camera's colour left after white balance, saturation, contrast — as opposed
  to pixel-wise error.
* ``one transform for all images``: the same 3×3 + offset fitted once over every image: a systematic bias.
"""

from __future__ import annotations

import torch
from torch import Tensor

from albedo_checkpoint_data import checkpoint_test_set

from gan_lab.albedo.evaluation import evaluate_predictions, predict_all
from gan_lab.modules.loading import load_module

KEYS = ("psnr", "ssim", "si_mse", "lmse", "delta_e2000")


def lowpass(x: Tensor, sigma: float) -> Tensor:
    from kornia.filters import gaussian_blur2d

    k = 2 * int(4 * sigma) + 1
    return gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")


def fit_colour(pred01: Tensor, target01: Tensor, mask: Tensor, kind: str) -> Tensor:
    """Per image: the LS colour transform of ``kind`` (gain_offset | matrix | matrix_offset) to the target."""
    out = torch.empty_like(pred01)
    for i in range(pred01.size(0)):
        w = mask[i, 0].flatten() > 0.5
        p, t = pred01[i].flatten(1).T.double(), target01[i].flatten(1).T.double()  # (HW, 3)
        if kind == "gain_offset":  # per channel: a·p + b
            for c in range(3):
                a = torch.stack([p[:, c], torch.ones_like(p[:, c])], 1)
                s = torch.linalg.lstsq(a[w], t[w, c:c + 1]).solution
                out[i, c] = (a @ s).view(pred01.shape[2:]).float()
            continue
        feats = p if kind == "matrix" else torch.cat([p, torch.ones_like(p[:, :1])], 1)
        sol = torch.linalg.lstsq(feats[w], t[w]).solution
        out[i] = (feats @ sol).T.reshape(pred01.shape[1:]).float()
    return out


def main() -> None:
    args, data = checkpoint_test_set(__doc__.split("\n")[0])
    pred = predict_all(load_module(args.ckpt).eval().predict_albedo, data["input"])
    target, mask = data["albedo"], data["mask"].float()
    rows: list[tuple[str, Tensor]] = [("prediction", pred)]
    for s in (1.0, 2.0, 4.0):
        rows.append((f"band σ={s:g}: prediction's low band + target's high band", lowpass(pred, s) + target - lowpass(target, s)))
        rows.append((f"band σ={s:g}: target's low band + prediction's high band", lowpass(target, s) + pred - lowpass(pred, s)))
    p01, t01 = (pred + 1) / 2, (target + 1) / 2
    for kind, label in (("gain_offset", "per-image gain + offset per channel"), ("matrix", "per-image 3×3 matrix"),
                        ("matrix_offset", "per-image 3×3 matrix + offset")):
        rows.append((label, fit_colour(p01, t01, mask, kind).clamp(0, 1) * 2 - 1))
    w = mask.flatten(2).transpose(1, 2).reshape(-1) > 0.5
    feats = torch.cat([p01, torch.ones_like(p01[:, :1])], 1).flatten(2).transpose(1, 2).double()  # (N, HW, 4)
    sol = torch.linalg.lstsq(feats.reshape(-1, 4)[w], t01.flatten(2).transpose(1, 2).reshape(-1, 3).double()[w]).solution
    rows.append(("one 3×3 + offset for all images", (feats @ sol).transpose(1, 2).reshape(p01.shape).float().clamp(0, 1) * 2 - 1))
    print("| hybrid (oracle: uses the target) | " + " | ".join(KEYS) + " |\n|---|" + "---:|" * len(KEYS))
    for name, p in rows:
        r = evaluate_predictions(p.clamp(-1, 1), data)
        print(f"| {name} | " + " | ".join(f"{r[k]:.5g}" for k in KEYS) + " |", flush=True)


if __name__ == "__main__":
    main()
