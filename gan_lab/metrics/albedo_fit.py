"""The scale fits the albedo metrics make before comparing (used by ``gan_lab.metrics.albedo``).

A photo fixes an albedo only up to one global brightness: a label twice as bright under half the light
gives the same photo. It does not leave the albedo's *colour* open: a red cast left in a prediction is
an error, the very error a white balance (the ``coloured_light`` difficulty) must undo. So the headline
metrics fit ONE achromatic scale per image, and fit it where light is a gain, in linear light:

    α = Σ m·lin(p)·lin(t) / Σ m·lin(p)²        (sums over the masked pixels and all three channels)
    fitted = sRGB(clamp(α·lin(p), 0, 1))

with ``lin`` the standard sRGB decoding (IEC 61966-2-1: c/12.92 for c ≤ 0.04045, else
((c + 0.055)/1.055)^2.4) and ``sRGB`` its inverse (12.92·l for l ≤ 0.0031308, else 1.055·l^(1/2.4) − 0.055).
A prediction that equals the target up to a lighting gain (a product in linear light) is restored
exactly; a scale on sRGB values is not a lighting gain and is not fully forgiven. α = 0 (a black
prediction) where Σ m·lin(p)² is not above ``min_energy``.

The per-channel fit (the ``*_pc`` metrics, the definition before issue 25) scales each sRGB channel by
its own α_c = Σ m·p_c·t_c / Σ m·p_c²; it forgives any colour cast that is a per-channel gain, which is
why it is not the headline.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-12
# Written beside every albedo evaluation's numbers (records, albedo-eval): how the prediction was fitted first.
FIT_PROVENANCE = "one achromatic scale per image, least squares in linear light, inside the label mask"


def srgb_to_linear(x: Tensor) -> Tensor:
    """Standard sRGB decoding (IEC 61966-2-1), elementwise, in the input's dtype."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: Tensor) -> Tensor:
    """Standard sRGB encoding (the inverse of ``srgb_to_linear``), elementwise; for values ≥ 0."""
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def ls_scale(pred: Tensor, target: Tensor, mask: Tensor, dims=(2, 3), min_energy: float = 0.0) -> Tensor:
    """Least-squares ``alpha`` minimising Σ m·(alpha·p − t)² over ``dims`` (0 where Σ m·p² <= min_energy).

    ``mask`` broadcasts against ``pred``: with (N, 1, H, W) masks, ``dims=(2, 3)`` gives one scale per
    channel (N, C, 1, 1) and ``dims=(1, 2, 3)`` one for all channels together (N, 1, 1, 1)."""
    num = (mask * pred * target).sum(dims, keepdim=True)
    den = (mask * pred * pred).sum(dims, keepdim=True)
    ok = den > max(min_energy, EPS)
    return torch.where(ok, num / den.clamp_min(EPS), torch.zeros_like(num))


def achromatic_fit(pred: Tensor, target: Tensor, mask: Tensor, dims=(1, 2, 3), min_energy: float = 0.0) -> Tensor:
    """sRGB(clamp(α·lin(pred), 0, 1)) with one α per slice over ``dims`` (channels included), fitted in linear
    light inside ``mask`` (see the module docstring). Images in sRGB, any shape the mask broadcasts to."""
    lp, lt = srgb_to_linear(pred), srgb_to_linear(target)
    alpha = ls_scale(lp, lt, mask, dims=dims, min_energy=min_energy)
    return linear_to_srgb((alpha * lp).clamp(0, 1))


def per_channel_fit(pred: Tensor, target: Tensor, mask: Tensor, dims=(2, 3), min_energy: float = 0.0) -> Tensor:
    """pred·α_c with one α_c per channel on the sRGB values (no clamp): the ``*_pc`` metrics' fit."""
    return pred * ls_scale(pred, target, mask, dims=dims, min_energy=min_energy)


__all__ = ["srgb_to_linear", "linear_to_srgb", "ls_scale", "achromatic_fit", "per_channel_fit"]
