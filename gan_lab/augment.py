"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for data-efficient GAN training.

The same random transform family is applied to every image the discriminator sees, real and fake, in
its own update and in the generator's, so D cannot tell them apart by the augmentation and G receives
gradients through it (every op is differentiable in the image). Images are in [-1, 1]. Policies, applied
in the order listed (``model.diffaugment=[color,translation,cutout]`` is the paper's; ``[]`` = off):

- ``color``: brightness + U(−0.5, 0.5); saturation × U(0, 2) about the per-pixel channel mean;
  contrast × U(0.5, 1.5) about the image mean;
- ``translation``: an integer shift of up to 1/8 of the size in each axis, zero padding
  (``kornia.geometry.transform.translate``);
- ``cutout``: a square of half the size, at a uniform random centre, set to 0.

Randomness comes from torch's global stream (seeded per rank and step by the module), so a run is
repeatable and a resumed run continues the same draws.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lab.registry import ConfigError

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy) -> tuple[str, ...]:
    """``["color", "translation"]`` (or ``"color,translation"``) -> ("color", "translation"); ConfigError
    naming an unknown policy."""
    items = policy.split(",") if isinstance(policy, str) else list(policy or [])
    names = tuple(str(p).strip() for p in items if str(p).strip())
    for n in names:
        if n not in POLICIES:
            raise ConfigError(f"model.diffaugment={list(names)}: {n!r} is not a policy; allowed: "
                              f"{', '.join(POLICIES)} (a list, [] = off)")
    return names


def _uniform(x: Tensor, low: float, high: float) -> Tensor:
    return torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype) * (high - low) + low


def color(x: Tensor) -> Tensor:
    x = x + _uniform(x, -0.5, 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _uniform(x, 0.0, 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, 0.5, 1.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    from kornia.geometry.transform import translate

    n, _, h, w = x.shape
    limit = torch.tensor([int(w * ratio + 0.5), int(h * ratio + 0.5)], device=x.device)
    shift = torch.floor(torch.rand(n, 2, device=x.device) * (2 * limit + 1)) - limit  # integers in [-l, l]
    return translate(x, shift.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


class DiffAugment(torch.nn.Module):
    """``x -> ops(x)`` for the configured policies (identity when there are none)."""

    def __init__(self, policy=()):
        super().__init__()
        self.policies = parse_policy(policy)

    def forward(self, x: Tensor) -> Tensor:
        for name in self.policies:
            x = _OPS[name](x)
        return x

    def extra_repr(self) -> str:
        return ",".join(self.policies) or "off"
