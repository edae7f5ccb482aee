"""Albedo baselines (no training), all mapping photos (N, 3, H, W) in [-1, 1] to albedos in [-1, 1].

* ``input``: the photo itself taken as the albedo (what doing nothing scores).
* ``retinex``: multi-scale Retinex (Jobson, Rahman & Woodell 1997) in linear light. Per channel,
  log R = mean over surround scales σ of [log(I + ε) − log(G_σ ∗ I + ε)], with I the linearised photo,
  G_σ a Gaussian (replicate border), σ = (1/32, 3/32, 5/16) of the image side (2, 6, 20 px at 64 px;
  the classic 15/80/250 px at ~800 px), ε = 1/255. Dividing by the local surround removes smooth
  shading and, channel by channel, the light's colour; it cannot remove sharp shadow edges or
  highlights. R is rescaled by one global factor to the photo's mean linear brightness, encoded back
  to sRGB and clipped to [0, 1] (only PSNR/SSIM see that scale; the other metrics fit their own).
  Its known weakness: large flat regions of different colour are pulled toward the same grey.
* ``retinex_gradient``: the thresholded-gradient Retinex (Horn 1974; Grosse et al. 2009's baseline):
  small log-gradients are shading, large ones albedo; the kept gradients are re-integrated (Poisson, DCT).
* ``... + grey-world`` / ``... + white-patch``: each Retinex's output white-balanced in linear light by
  grey-world (channel means made equal) or robust white-patch (each channel's 99th percentile made
  white) (gan_lab.albedo.colour_constancy): the classical answer to a coloured light. The gradient
  Retinex restores each channel's mean log value from the photo, so it keeps the light's colour; the
  multi-scale one divides it out locally, channel by channel, already.

Used by ``gan-lab albedo-eval`` (gan_lab.commands.albedo_eval) as the rows a learned model must beat.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lab.albedo.colour_constancy import grey_world, white_patch

RETINEX_SIGMAS = (1 / 32, 3 / 32, 5 / 16)


def input_as_albedo(x: Tensor) -> Tensor:
    return x.clone()


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W), radius ceil(3σ), replicate border."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.size(1)
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def retinex(x: Tensor, sigmas=RETINEX_SIGMAS, eps: float = 1 / 255) -> Tensor:
    """Multi-scale Retinex reflectance (see module docstring) of photos in [-1, 1] -> [-1, 1]."""
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    lin = rgb_to_linear_rgb(((x.float() + 1) / 2).clamp(0, 1))
    side = min(x.shape[-2:])
    log_r = torch.stack([torch.log(lin + eps) - torch.log(gaussian_blur(lin, s * side) + eps) for s in sigmas]).mean(0)
    r = torch.exp(log_r)
    gain = lin.mean((1, 2, 3), keepdim=True) / r.mean((1, 2, 3), keepdim=True).clamp_min(1e-8)
    return linear_rgb_to_rgb((r * gain).clamp(0, 1)) * 2 - 1


def poisson_neumann(gx: Tensor, gy: Tensor) -> Tensor:
    """Least-squares r with forward differences (r[:, 1:] − r[:, :-1], ...) ≈ (gx, gy), Neumann border, mean 0.

    Solves the normal equations Dᵀ D r = Dᵀ g with the DCT-II, which diagonalises the Neumann Laplacian
    (eigenvalues 4 − 2cos(πk/H) − 2cos(πl/W)). gx: (..., H, W−1), gy: (..., H−1, W) -> (..., H, W).
    """
    from scipy.fft import dctn, idctn

    b = F.pad(gx, (1, 1))[..., :-1] - F.pad(gx, (1, 1))[..., 1:]
    b = b + F.pad(gy, (0, 0, 1, 1))[..., :-1, :] - F.pad(gy, (0, 0, 1, 1))[..., 1:, :]
    h, w = b.shape[-2:]
    lam = (4 - 2 * torch.cos(torch.pi * torch.arange(h, dtype=torch.float64) / h)[:, None]
           - 2 * torch.cos(torch.pi * torch.arange(w, dtype=torch.float64) / w)[None, :]).numpy()
    lam[0, 0] = 1.0
    rhat = dctn(b.double().numpy(), type=2, norm="ortho", axes=(-2, -1)) / lam
    rhat[..., 0, 0] = 0.0
    return torch.from_numpy(idctn(rhat, type=2, norm="ortho", axes=(-2, -1))).to(gx.dtype)


def retinex_gradient(x: Tensor, threshold: float = 0.1, eps: float = 1 / 255) -> Tensor:
    """Thresholded-gradient Retinex (Land & McCann 1971, Horn 1974; the colour Retinex of Grosse et al. 2009).

    In linear light, log I = log albedo + log shading; shading varies smoothly, a label's print changes
    sharply. Log-image gradients (per channel) are kept where the largest of the three channels' |∇| exceeds
    ``threshold`` (0.1 ≈ a 10 % step between neighbouring pixels) and zeroed elsewhere; the log albedo is
    the least-squares re-integration of the kept gradients (``poisson_neumann``), with each channel's mean
    log value restored from the photo. Sharp shadow edges and highlights pass as "albedo" edges: its failure modes.
    """
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    log_i = torch.log(rgb_to_linear_rgb(((x.float() + 1) / 2).clamp(0, 1)) + eps)
    gx = log_i[..., :, 1:] - log_i[..., :, :-1]
    gy = log_i[..., 1:, :] - log_i[..., :-1, :]
    gx = gx * (gx.abs().amax(1, keepdim=True) > threshold)
    gy = gy * (gy.abs().amax(1, keepdim=True) > threshold)
    log_r = poisson_neumann(gx, gy) + log_i.mean((2, 3), keepdim=True)
    return linear_rgb_to_rgb((torch.exp(log_r) - eps).clamp(0, 1)) * 2 - 1


def then(first: Callable[[Tensor], Tensor], second: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """The baseline ``second(first(x))`` (e.g. Retinex, then a white balance)."""
    def composed(x: Tensor) -> Tensor:
        return second(first(x))

    composed.__name__ = f"{first.__name__}_then_{second.__name__}"
    return composed


BASELINES: dict[str, Callable[[Tensor], Tensor]] = {
    "input as albedo": input_as_albedo, "Retinex (multi-scale)": retinex, "Retinex (gradient)": retinex_gradient,
    "Retinex (multi-scale) + grey-world": then(retinex, grey_world),
    "Retinex (multi-scale) + white-patch": then(retinex, white_patch),
    "Retinex (gradient) + grey-world": then(retinex_gradient, grey_world),
    "Retinex (gradient) + white-patch": then(retinex_gradient, white_patch)}
"""Every baseline by its row name in the albedo table (``gan-lab albedo-eval``): photo in [-1, 1] -> albedo in [-1, 1]."""
