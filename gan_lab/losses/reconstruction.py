"""Reconstruction losses for image-to-image translation (albedo extraction), knowing nothing of nets.

Every loss takes ``pred`` and ``target`` (N, C, H, W) and a per-pixel weight ``w`` (N, 1, H, W) ≥ 0
(1 inside the label, ``model.objective.l1_outside_mask`` outside) and returns a scalar: a weighted mean over the
weighted pixels and channels. Computed in float32.

Why more than L1: a photo does not determine its albedo's absolute scale (a brighter light and a
darker label give the same photo), and L1 on absolute values then pulls towards the blurred
conditional median. The intrinsic-image literature trains with

* ``si_mse``: scale-invariant MSE (Grosse et al. 2009's metric; as a loss in Narihira et al. 2015,
  Li & Snavely 2018): per image and channel the prediction is first multiplied by the least-squares
  scale α_c = Σ w·p·t / Σ w·p² (gradients flow through α), then the weighted MSE. Images in [0, 1].
* ``gradient``: multi-scale gradient matching (Li & Snavely 2018, "CGIntrinsics"): at scales
  s = 0 .. S−1 (2×2 average pooling, weights pooled alike), L1 between the forward differences of
  prediction and target, each difference weighted by the product of the weights of its two pixels;
  the mean over scales. Penalises blurred or displaced edges, which a per-pixel loss barely sees.
* ``lab``: colour error as the eye (and the ΔE2000 metric) sees it: the prediction is scale-fitted per
  image and channel as in ``si_mse``, clamped to [0, 1], both images go sRGB → CIELAB (D65, kornia) and
  the loss is the weighted mean Euclidean Lab distance (CIE76 ΔE, ≈ 1 = a just-noticeable difference).
  L1/MSE on sRGB weigh a change in saturation or hue like any other; Lab weighs it as perceived.
* ``l1``: weighted L1 (pix2pix).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def weighted_mean(values: Tensor, w: Tensor) -> Tensor:
    """Σ w·v / Σ w over pixels and channels (``w`` broadcast over the channels)."""
    w = w.expand_as(values)
    return (values * w).sum() / w.sum().clamp_min(1.0)


def l1_loss(pred: Tensor, target: Tensor, w: Tensor) -> Tensor:
    """Σ w·|p − t| / Σ w over pixels and channels."""
    return weighted_mean((pred.float() - target.float()).abs(), w.float())


def ls_scale(p: Tensor, t: Tensor, w: Tensor, eps: float = 1e-6) -> Tensor:
    """Per image and channel α = Σ w·p·t / (Σ w·p² + eps), differentiable (si-MSE's and the Lab loss's fit)."""
    return (w * p * t).sum((2, 3), keepdim=True) / ((w * p * p).sum((2, 3), keepdim=True) + eps)


def si_mse_loss(pred: Tensor, target: Tensor, w: Tensor, eps: float = 1e-6) -> Tensor:
    """Scale-invariant MSE: (α_c·p − t)² with α_c = Σ w·p·t / Σ w·p² per image and channel."""
    p, t, w = pred.float(), target.float(), w.float().expand_as(pred)
    return weighted_mean((ls_scale(p, t, w, eps) * p - t) ** 2, w)


def lab_loss(pred: Tensor, target: Tensor, w: Tensor, eps: float = 1e-6) -> Tensor:
    """Σ w·‖Lab(clamp(α·p)) − Lab(t)‖ / Σ w (CIE76 ΔE after the per-channel LS scale α of ``si_mse``)."""
    from kornia.color import rgb_to_lab

    p, t, w = pred.float(), target.float(), w.float()
    diff = rgb_to_lab((ls_scale(p, t, w.expand_as(p), eps) * p).clamp(0, 1)) - rgb_to_lab(t.clamp(0, 1))
    dist = (diff.pow(2).sum(1, keepdim=True) + eps).sqrt()  # eps: a finite gradient where the colours agree
    return weighted_mean(dist, w)


def gradient_loss(pred: Tensor, target: Tensor, w: Tensor, scales: int = 4) -> Tensor:
    """Mean over ``scales`` dyadic scales of the weighted L1 between forward differences (x and y)."""
    p, t, w = pred.float(), target.float(), w.float()
    total = p.new_zeros(())
    used = 0
    for s in range(scales):
        if s:
            if min(p.shape[-2:]) < 4:
                break
            p, t, w = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2), F.avg_pool2d(w, 2)
        e = p - t
        wx = w[..., :, 1:] * w[..., :, :-1]
        wy = w[..., 1:, :] * w[..., :-1, :]
        dx = (e[..., :, 1:] - e[..., :, :-1]).abs() * wx
        dy = (e[..., 1:, :] - e[..., :-1, :]).abs() * wy
        den = (wx.sum() + wy.sum()) * p.size(1)
        total = total + (dx.sum() + dy.sum()) / den.clamp_min(1.0)
        used += 1
    return total / max(used, 1)


__all__ = ["weighted_mean", "l1_loss", "si_mse_loss", "lab_loss", "gradient_loss"]
