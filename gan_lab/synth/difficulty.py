"""Difficulty tags of a rendered sample, measured on the rendered maps inside the label mask.

- ``specular``: at least ``SPECULAR_AREA`` (3 %) of the label's pixels carry a highlight of linear
  luminance >= ``SPECULAR_LEVEL`` (0.3 after exposure, where mid-grey is 0.18: a highlight that adds
  more than the whole diffuse signal of an average pixel).
- ``shadow``: at least ``SHADOW_AREA`` (10 %) of the label's pixels lose >= ``SHADOW_LOSS`` (30 %) of
  the light they would receive without shadows (cast by the product or the occluder).
- ``coloured_light``: the mean shading over the label, as the photo shows it (after white balance), has
  chroma (max - min) / max >= ``CHROMA`` (0.25) over its RGB channels.
The thresholds were chosen so that each tag marks a third to a half of the default renders (64 renders,
seeds 100-103 at 48 px: specular 48 %, shadow 42 %, coloured_light 31 %, no tag 16 %).
A sample with no label pixels gets no tags. The measured values are kept in ``params["stats"]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

SPECULAR_LEVEL, SPECULAR_AREA = 0.3, 0.03
SHADOW_LOSS, SHADOW_AREA = 0.30, 0.10
CHROMA = 0.25
LUMA = torch.tensor([0.2126, 0.7152, 0.0722])


def measure(mask: Tensor, specular: Tensor, shading: Tensor, irradiance: Tensor, direct: Tensor,
            unshadowed: Tensor) -> list[dict]:
    """mask (B,1,H,W); specular, shading (B,3,H,W) linear as the photo shows them; irradiance (B,3,H,W) and
    direct/unshadowed (B,1,H,W) direct-light luminance with/without shadows, all three in scene units
    (before exposure and white balance). Returns per-sample stats dicts."""
    luma = LUMA.to(mask.device).view(1, 3, 1, 1)
    spec_l = (specular * luma).sum(1, keepdim=True)
    total_free = (irradiance * luma).sum(1, keepdim=True) + (unshadowed - direct)
    loss = (unshadowed - direct) / total_free.clamp_min(1e-6)
    out = []
    for i in range(mask.shape[0]):
        m = mask[i] > 0.5
        count = int(m.sum())
        if count == 0:
            out.append({"label_pixels": 0, "specular_area": 0.0, "shadow_area": 0.0, "light_chroma": 0.0})
            continue
        mean_rgb = shading[i][:, m[0]].mean(1)
        chroma = float((mean_rgb.max() - mean_rgb.min()) / mean_rgb.max().clamp_min(1e-6))
        out.append({"label_pixels": count,
                    "specular_area": round(float((spec_l[i][m] >= SPECULAR_LEVEL).float().mean()), 5),
                    "shadow_area": round(float((loss[i][m] >= SHADOW_LOSS).float().mean()), 5),
                    "light_chroma": round(chroma, 5)})
    return out


def tags(stats: dict) -> list[str]:
    out = []
    if stats["specular_area"] >= SPECULAR_AREA:
        out.append("specular")
    if stats["shadow_area"] >= SHADOW_AREA:
        out.append("shadow")
    if stats["light_chroma"] >= CHROMA:
        out.append("coloured_light")
    return out
