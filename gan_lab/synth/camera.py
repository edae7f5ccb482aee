"""Camera and ISP: exposure, lens blur, sensor noise, white balance, sRGB encoding, JPEG.

Order (as in a camera): linear scene radiance -> auto-exposure (mean diffuse luminance 0.18, times
2^EV) -> Gaussian lens blur -> sensor noise (shot + read, Gaussian approximation) -> white balance (a
partial correction of the mean light colour plus a random gain error) -> clip -> sRGB -> JPEG.
Blur is separable and written as shifted sums so each sample's result does not depend on the batch it
was rendered in.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from gan_lab.synth.config import RenderConfig
from gan_lab.synth.rng import Stream

LUMA = (0.2126, 0.7152, 0.0722)


def sample_camera(seed: int, index: int, cfg: RenderConfig) -> dict:
    rng = Stream(seed, index, "camera")
    read = rng.log_between(cfg.noise) if cfg.noise[0] > 0 else rng.between(cfg.noise)
    return {"exposure_ev": rng.between(cfg.exposure_ev), "white_balance": rng.between(cfg.white_balance),
            "wb_error": [math.exp(rng.gauss(0, cfg.wb_error)), 1.0, math.exp(rng.gauss(0, cfg.wb_error))],
            "read_noise": read, "shot_noise": read * rng.uniform(0.5, 2.0), "blur_sigma": rng.between(cfg.blur_sigma),
            "jpeg_quality": rng.int_between(cfg.jpeg_quality) if rng.random() < cfg.jpeg_prob else None}


def linear_to_srgb(x: Tensor) -> Tensor:
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def gaussian_blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Per-sample separable Gaussian (sigma (B,) in pixels; 0 = identity), reflect padding, radius 3."""
    r = 3
    offs = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    s = sigma.to(x.dtype).view(-1, 1).clamp_min(1e-3)
    w = torch.exp(-0.5 * (offs / s) ** 2)
    w = w / w.sum(1, keepdim=True)
    w = torch.where(sigma.view(-1, 1) > 0.05, w, (offs == 0).to(x.dtype).expand_as(w))
    for dim in (2, 3):
        pad = (0, 0, r, r) if dim == 2 else (r, r, 0, 0)
        xp = F.pad(x, pad, mode="reflect")
        n = x.shape[dim]
        acc = torch.zeros_like(x)
        for j in range(2 * r + 1):
            acc = acc + w[:, j].view(-1, 1, 1, 1) * xp.narrow(dim, j, n)
        x = acc
    return x


def jpeg(x: Tensor, quality: list[int | None], backend: str) -> Tensor:
    """JPEG round trip of the samples with a quality (others untouched); x sRGB (B,3,H,W) in [0, 1]."""
    idx = [i for i, q in enumerate(quality) if q is not None]
    if not idx:
        return x
    out = x.clone()
    if backend == "kornia":
        from kornia.enhance import jpeg_codec_differentiable

        for i in idx:  # one image per call: its result must not depend on the batch it came in
            q = torch.tensor([float(quality[i])], device=x.device)
            out[i] = jpeg_codec_differentiable(x[i : i + 1], q)[0].clamp(0, 1)
        return out
    # 8-bit RGB of the whole batch at once, then one encode / decode per image (libjpeg, deterministic)
    arrs = (x.index_select(0, torch.tensor(idx, device=x.device)) * 255).round().to(torch.uint8)
    arrs = arrs.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    dec = np.empty_like(arrs)
    for k, i in enumerate(idx):
        buf = io.BytesIO()
        Image.fromarray(arrs[k], "RGB").save(buf, format="JPEG", quality=int(quality[i]))
        dec[k] = np.asarray(Image.open(io.BytesIO(buf.getvalue()), formats=["JPEG"]).convert("RGB"))
    out[idx] = torch.from_numpy(dec).to(x.device).permute(0, 3, 1, 2).float() / 255
    return out


def sensor_noise(x: Tensor, cams: list[dict], seeds: list[int]) -> Tensor:
    """x + sqrt(shot * x + read^2) * N(0, 1), each sample's noise from its own generator."""
    noise = torch.stack([torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(s)) for s in seeds]).to(x.device)
    read = torch.tensor([c["read_noise"] for c in cams], device=x.device).view(-1, 1, 1, 1)
    shot = torch.tensor([c["shot_noise"] for c in cams], device=x.device).view(-1, 1, 1, 1)
    return x + torch.sqrt(shot * x.clamp_min(0) + read ** 2) * noise
