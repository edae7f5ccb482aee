"""Classical colour constancy (white balance): one gain per colour channel, applied in linear light.

What the albedo baselines add on top of Retinex so the ``coloured_light`` renders (the light's colour left
in the photo) have an honest classical opponent. Both take images (N, 3, H, W) in [-1, 1] (sRGB) and
return them white-balanced in [-1, 1]; both look at the whole image (a baseline sees only the photo, not
the label mask), decode sRGB to linear light (kornia, the standard transfer function), multiply channel c
by g_c, clip to [0, 1] and encode back. The gains keep the image's mean brightness: g_c = mean_k(e_k) / e_c
for the light's estimated colour e (so the metrics' brightness fit sees the same image up to clipping).

* ``grey_world`` (Buchsbaum 1980): the scene averages to grey, e_c = the channel's mean linear value.
* ``white_patch`` (Land's max-RGB, robust): the brightest surface is white, e_c = the channel's
  ``percentile``-th linear value (99: the top 1 % of pixels, not the single maximum, so one noisy or
  clipped pixel does not decide). Clipped highlights (white in every channel) pull it toward no correction.
"""

from __future__ import annotations

import torch
from torch import Tensor


def apply_gains(x: Tensor, estimate) -> Tensor:
    """x in [-1, 1] -> white-balanced in [-1, 1]: g_c = mean_k(e_k) / e_c in linear light, e = estimate(linear)."""
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    lin = rgb_to_linear_rgb(((x + 1) / 2).clamp(0, 1))
    e = estimate(lin).clamp_min(1e-6)  # (N, 3, 1, 1)
    gains = e.mean(1, keepdim=True) / e
    return linear_rgb_to_rgb((lin * gains).clamp(0, 1)) * 2 - 1


def grey_world(x: Tensor) -> Tensor:
    """Grey-world white balance (module docstring)."""
    return apply_gains(x, lambda lin: lin.mean((2, 3), keepdim=True))


def white_patch(x: Tensor, percentile: float = 99.0) -> Tensor:
    """Robust white-patch (max-RGB) white balance: the ``percentile``-th value of each channel is made white."""
    return apply_gains(x, lambda lin: torch.quantile(lin.flatten(2), percentile / 100, dim=2)[..., None, None])


__all__ = ["apply_gains", "grey_world", "white_patch"]
