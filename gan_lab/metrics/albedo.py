"""Albedo metrics inside a label mask: PSNR, SSIM, scale-invariant MSE, LMSE, ΔE2000 and sharpness.

Every function takes ``pred`` and ``target`` as (N, C, H, W) sRGB floats in [0, 1] and ``mask`` as
(N, 1, H, W) in {0, 1} (``None`` = every pixel) and returns one value per image, (N,) float64,
so callers can average overall or per group (e.g. per difficulty tag).

**The scale fit.** A photo fixes an albedo only up to ONE global brightness (a brighter light and a
darker label give the same photo), never up to a colour. So every metric below (the errors, PSNR, SSIM
and sharpness) first fits one achromatic scale α per image by least squares *in linear light* inside the
mask, the same fit for every method, baseline and sanity row (``gan_lab.metrics.albedo_fit``):

    α = Σ m·lin(p)·lin(t) / Σ m·lin(p)²   (masked pixels, all channels),   f = sRGB(clamp(α·lin(p), 0, 1))

``lin`` is the standard sRGB decoding. α is the brightness of the light (a gain in linear light), not
the minimiser of the sRGB error. The metrics then compare the fitted prediction f with the target in
**sRGB** (the space of the image files, and of PSNR/SSIM as usually reported): the target under another
light intensity (×k in linear light, unclipped) scores 0 error, a colour cast does not.

* ``psnr``: 10·log10(1 / MSE(f, t)) over the masked pixels and channels (data range 1; capped at 100 dB).
  Per image it is −10·log10(si_mse) (below the cap): the same error in dB, averaged over images as dB.
* ``ssim``: Wang et al. 2004 between f and t, 11×11 Gaussian window σ = 1.5, C1 = 0.01², C2 = 0.03²
  (data range 1), the SSIM map computed on the whole image (reflect padding; f is α applied everywhere)
  and averaged inside the mask.
* ``si_mse``: MSE(f, t) over masked pixels and channels, in sRGB.
* ``lmse``: Grosse et al. 2009 ("Ground truth dataset and baseline evaluations for intrinsic image
  algorithms"): 20×20 windows, stride 10; each window gets its own achromatic scale, fitted in linear
  light over the window's masked pixels and all channels (α = 0 when Σ m·lin(p)² ≤ 1e-5, as in their code),
  applied, clamped and re-encoded as above; Σ windows Σ m·(f_w − t_w)² / Σ windows Σ m·t_w² in sRGB.
  Images smaller than one window, or without mask pixels in any window, give NaN.
* ``delta_e2000``: mean CIEDE2000 (Sharma, Wu, Dalal 2005) inside the mask between f and t, both
  converted sRGB → CIELAB (D65) by kornia.

* ``sharpness``: high-frequency energy of the prediction over the target's, Σ m'·|∇²p|² / Σ m'·|∇²t|²
  with ∇² the 3×3 Laplacian [[0,1,0],[1,−4,1],[0,1,0]] per channel (replicate border) and m' the
  label mask eroded by one pixel (so the label's outline, in both images, does not count), p the
  scale-fitted prediction f (Laplacian energy grows with the square of the brightness: without the fit a
  copy of the target under half the light would read 0.56, "blurred"). Needs no downloaded weights. 1 = as much
  detail as the target; below 1 blurred, above 1 extra (false) detail; NaN where the target has no texture
  (Σ m'·|∇²t|² < 1e-6). A reference number, not ranked: read it beside the errors (a method is sharper
  only if it does not lose on them).

**Per-channel variants** (``si_mse_pc``, ``lmse_pc``, ``delta_e2000_pc``; the definitions of ``si_mse``,
``lmse`` and ``delta_e2000`` before issue 25): the prediction is scaled per sRGB channel by
α_c = Σ m·p_c·t_c / Σ m·p_c² (per window and channel for LMSE; clamped to [0, 1] only for ΔE2000). They
forgive any colour cast that is a per-channel gain (a 0.7× red cast scores 0), so they are separate
columns for comparison with old numbers, not in the default metric lists.

``ALBEDO_METRICS`` registers them by name (config ``eval.metrics``); ``compute_albedo_metrics``
runs a list of names and returns per-image arrays.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lab.metrics.albedo_fit import EPS as _EPS
from gan_lab.metrics.albedo_fit import achromatic_fit, ls_scale, per_channel_fit
from gan_lab.metrics.keys import declare_keys
from gan_lab.registry import Registry

ALBEDO_METRICS: Registry[Callable[..., Tensor]] = Registry("albedo metric", "eval.metrics")


def register_albedo_metric(name: str, direction: str, label: str):
    """Register an albedo metric (one key, ``name``, with its direction and label: ``metrics.keys``)."""
    declare_keys(name, {name: (direction, label)})
    return ALBEDO_METRICS.register(name)


def _prep(pred: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred and target must both be (N, C, H, W); got {tuple(pred.shape)} and {tuple(target.shape)}")
    pred, target = pred.double(), target.double()
    if mask is None:
        mask = torch.ones_like(target[:, :1])
    if mask.shape != (pred.size(0), 1, *pred.shape[2:]):
        raise ValueError(f"mask must be (N, 1, H, W) = {(pred.size(0), 1, *pred.shape[2:])}; got {tuple(mask.shape)}")
    return pred, target, (mask > 0.5).double()


def scale_fit(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """The prediction after the metrics' fit: one achromatic LS scale per image in linear light inside the
    mask, clamped to [0, 1], re-encoded to sRGB (``albedo_fit.achromatic_fit``; float64)."""
    p, t, m = _prep(pred, target, mask)
    return achromatic_fit(p, t, m)


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of (N, C, H, W) values over masked pixels and all channels, per image."""
    w = mask.expand_as(values)
    return (values * w).sum((1, 2, 3)) / w.sum((1, 2, 3)).clamp_min(1.0)


@register_albedo_metric("psnr", "max", "PSNR (dB, after the scale fit)")
def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Masked PSNR in dB (data range 1) of the scale-fitted prediction (``scale_fit``) against the target in
    sRGB, capped at 100 dB: a brightness a photo cannot determine is not counted, a colour cast is."""
    p, t, m = _prep(pred, target, mask)
    mse = _masked_mean((achromatic_fit(p, t, m) - t) ** 2, m)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-pixel, per-channel SSIM (N, C, H, W), separable Gaussian filtering with reflect padding.

    Differentiable, in the inputs' dtype (the SSIM training loss uses it in float32)."""
    p, t = pred, target.to(pred.dtype)
    c = p.size(1)
    g = gaussian_window(window, sigma).to(p.device, p.dtype)
    kx = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    r = window // 2

    def blur(x: Tensor) -> Tensor:
        x = F.pad(x, (r, r, r, r), mode="reflect") if min(x.shape[-2:]) > r else F.pad(x, (r, r, r, r), mode="replicate")
        return F.conv2d(F.conv2d(x, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mu_p, mu_t = blur(p), blur(t)
    var_p = blur(p * p) - mu_p**2
    var_t = blur(t * t) - mu_t**2
    cov = blur(p * t) - mu_p * mu_t
    return ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2))


@register_albedo_metric("ssim", "max", "SSIM (after the scale fit)")
def ssim(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean SSIM of the scale-fitted prediction (``scale_fit``) against the target inside the mask (the map
    is computed on the whole image, then averaged where mask = 1)."""
    p, t, m = _prep(pred, target, mask)
    return _masked_mean(ssim_map(achromatic_fit(p, t, m), t), m)


@register_albedo_metric("si_mse", "min", "si-MSE (one scale, linear light)")
def si_mse(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Scale-invariant MSE: one achromatic LS scale in linear light inside the mask (``scale_fit``), then the
    masked MSE in sRGB over pixels and channels. A lighting gain scores 0, a colour cast does not."""
    p, t, m = _prep(pred, target, mask)
    return _masked_mean((achromatic_fit(p, t, m) - t) ** 2, m)


def _windows(x: Tensor, window: int, stride: int) -> Tensor:
    """(N, C, H, W) -> (N, C, window*window, L): the LMSE windows (``F.unfold``)."""
    return F.unfold(x, window, stride=stride).view(x.size(0), x.size(1), window * window, -1)


def _lmse(p: Tensor, t: Tensor, m: Tensor, fit, window: int, stride: int) -> Tensor:
    """Σ windows Σ m·(fit(p_w) − t_w)² / Σ windows Σ m·t_w² (NaN for images smaller than a window)."""
    n, _, h, w = p.shape
    if h < window or w < window:
        return torch.full((n,), float("nan"), dtype=torch.float64)
    pw, tw, mw = (_windows(x, window, stride) for x in (p, t, m))
    ssq = (mw * (fit(pw, tw, mw) - tw) ** 2).sum((1, 2, 3))
    total = (mw * tw**2).sum((1, 2, 3))
    return torch.where(total > 0, ssq / total.clamp_min(_EPS), torch.full_like(ssq, float("nan")))


@register_albedo_metric("lmse", "min", "LMSE (local, one scale per window)")
def lmse(pred: Tensor, target: Tensor, mask: Tensor | None = None, window: int = 20, stride: int = 10) -> Tensor:
    """Local MSE (Grosse et al. 2009): 20×20 windows, stride 10, each window scaled by one achromatic LS scale
    fitted in linear light (0 when Σ m·lin(p)² ≤ 1e-5), clamped, re-encoded; sRGB squared error over the
    windows normalised by the target's energy (module docstring)."""
    p, t, m = _prep(pred, target, mask)
    return _lmse(p, t, m, lambda pw, tw, mw: achromatic_fit(pw, tw, mw, dims=(1, 2), min_energy=1e-5), window, stride)


LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def laplacian(x: Tensor) -> Tensor:
    """Per-channel 3×3 Laplacian of (N, C, H, W), replicate border."""
    c = x.size(1)
    k = torch.tensor(LAPLACIAN, dtype=x.dtype, device=x.device).view(1, 1, 3, 3).repeat(c, 1, 1, 1)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=c)


@register_albedo_metric("sharpness", None, "sharpness (HF energy / target's, 1 = target)")
def sharpness(pred: Tensor, target: Tensor, mask: Tensor | None = None, min_energy: float = 1e-6) -> Tensor:
    """High-frequency energy ratio of the scale-fitted prediction (``scale_fit``) to the target's, inside the
    eroded mask (see module docstring)."""
    p, t, m = _prep(pred, target, mask)
    p = achromatic_fit(p, t, m)  # a darker copy of the target is not "blurred"
    inner = -F.max_pool2d(-F.pad(m, (1, 1, 1, 1), value=0.0), 3, stride=1)  # erosion by one pixel
    ep = (inner * laplacian(p) ** 2).sum((1, 2, 3))
    et = (inner * laplacian(t) ** 2).sum((1, 2, 3))
    return torch.where(et > min_energy, ep / et.clamp_min(_EPS), torch.full_like(ep, float("nan")))


def ciede2000(lab1: Tensor, lab2: Tensor, kl: float = 1.0, kc: float = 1.0, kh: float = 1.0) -> Tensor:
    """CIEDE2000 colour difference (Sharma, Wu, Dalal 2005) between Lab values (..., 3) -> (...)."""
    lab1, lab2 = lab1.double(), lab2.double()
    L1, a1, b1 = lab1.unbind(-1)
    L2, a2, b2 = lab2.unbind(-1)
    c1 = torch.sqrt(a1**2 + b1**2)
    c2 = torch.sqrt(a2**2 + b2**2)
    c_bar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - torch.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p = torch.sqrt(a1p**2 + b1**2)
    c2p = torch.sqrt(a2p**2 + b2**2)
    # hue angles in degrees, 0 where the chroma is 0 (eq. 4)
    h1p = torch.where((a1p == 0) & (b1 == 0), torch.zeros_like(a1p), torch.rad2deg(torch.atan2(b1, a1p)) % 360)
    h2p = torch.where((a2p == 0) & (b2 == 0), torch.zeros_like(a2p), torch.rad2deg(torch.atan2(b2, a2p)) % 360)
    cc = c1p * c2p
    dL = L2 - L1
    dC = c2p - c1p
    dh = h2p - h1p
    dh = torch.where(dh > 180, dh - 360, dh)
    dh = torch.where(dh < -180, dh + 360, dh)
    dh = torch.where(cc == 0, torch.zeros_like(dh), dh)
    dH = 2 * torch.sqrt(cc) * torch.sin(torch.deg2rad(dh / 2))
    Lp = (L1 + L2) / 2
    Cp = (c1p + c2p) / 2
    hsum = h1p + h2p
    hp = torch.where(
        cc == 0, hsum,
        torch.where((h1p - h2p).abs() <= 180, hsum / 2, torch.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)),
    )
    T = (1 - 0.17 * torch.cos(torch.deg2rad(hp - 30)) + 0.24 * torch.cos(torch.deg2rad(2 * hp))
         + 0.32 * torch.cos(torch.deg2rad(3 * hp + 6)) - 0.20 * torch.cos(torch.deg2rad(4 * hp - 63)))
    d_theta = 30 * torch.exp(-(((hp - 275) / 25) ** 2))
    Cp7 = Cp**7
    rc = 2 * torch.sqrt(Cp7 / (Cp7 + 25.0**7))
    sl = 1 + 0.015 * (Lp - 50) ** 2 / torch.sqrt(20 + (Lp - 50) ** 2)
    sc = 1 + 0.045 * Cp
    sh = 1 + 0.015 * Cp * T
    rt = -torch.sin(torch.deg2rad(2 * d_theta)) * rc
    tl, tc, th = dL / (kl * sl), dC / (kc * sc), dH / (kh * sh)
    return torch.sqrt(tl**2 + tc**2 + th**2 + rt * tc * th)


def srgb_to_lab(rgb: Tensor) -> Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> (N, 3, H, W) CIELAB (D65), via kornia (float32 arithmetic)."""
    from kornia.color import rgb_to_lab

    return rgb_to_lab(rgb.float().clamp(0, 1)).double()


def _delta_e(fitted: Tensor, t: Tensor, m: Tensor) -> Tensor:
    if t.size(1) != 3:
        raise ValueError(f"delta_e2000 needs RGB images (3 channels); got {t.size(1)}")
    de = ciede2000(srgb_to_lab(fitted).permute(0, 2, 3, 1), srgb_to_lab(t).permute(0, 2, 3, 1))[:, None]
    return _masked_mean(de, m)


@register_albedo_metric("delta_e2000", "min", "ΔE2000 (mean, after the scale fit)")
def delta_e2000(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean CIEDE2000 inside the mask between the target and the scale-fitted prediction (``scale_fit``:
    one achromatic scale in linear light, clamped to [0, 1]), both sRGB → CIELAB D65."""
    p, t, m = _prep(pred, target, mask)
    return _delta_e(achromatic_fit(p, t, m), t, m)


# Per-channel variants (the definitions before issue 25): separate columns, not in the default lists.
# A colour cast that is a per-channel gain scores 0 on them; kept to compare with old numbers.

@register_albedo_metric("si_mse_pc", "min", "si-MSE (per-channel fit)")
def si_mse_pc(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """si-MSE after an LS scale per sRGB channel inside the mask (no clamp): blind to per-channel casts."""
    p, t, m = _prep(pred, target, mask)
    return _masked_mean((per_channel_fit(p, t, m) - t) ** 2, m)


@register_albedo_metric("lmse_pc", "min", "LMSE (per-channel fit)")
def lmse_pc(pred: Tensor, target: Tensor, mask: Tensor | None = None, window: int = 20, stride: int = 10) -> Tensor:
    """LMSE with an LS scale per window and sRGB channel (0 when Σ m·p_c² ≤ 1e-5): blind to per-channel casts."""
    p, t, m = _prep(pred, target, mask)
    return _lmse(p, t, m, lambda pw, tw, mw: per_channel_fit(pw, tw, mw, dims=2, min_energy=1e-5), window, stride)


@register_albedo_metric("delta_e2000_pc", "min", "ΔE2000 (per-channel fit)")
def delta_e2000_pc(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean CIEDE2000 after an LS scale per sRGB channel (clamped to [0, 1]): blind to per-channel casts."""
    p, t, m = _prep(pred, target, mask)
    return _delta_e(per_channel_fit(p, t, m).clamp(0, 1), t, m)


def compute_albedo_metrics(names: Sequence[str], pred: Tensor, target: Tensor,
                           mask: Tensor | None = None) -> dict[str, Tensor]:
    """{name: (N,) float64 per-image values} for the named metrics (unknown names raise ConfigError)."""
    fns = [(n, ALBEDO_METRICS.get(n)) for n in dict.fromkeys(names)]
    return {n: fn(pred, target, mask).cpu() for n, fn in fns}


def nanmean(values: Tensor) -> float:
    v = values[~torch.isnan(values)]
    return float(v.mean()) if v.numel() else math.nan


__all__ = ["ALBEDO_METRICS", "register_albedo_metric", "psnr", "ssim", "ssim_map", "si_mse", "lmse", "ciede2000",
           "delta_e2000", "sharpness", "si_mse_pc", "lmse_pc", "delta_e2000_pc", "laplacian", "scale_fit", "ls_scale",
           "compute_albedo_metrics", "nanmean"]
