"""Label geometry of a discriminator's embedding: how φ(x) sits relative to the class directions.

Pure functions of tensors (no nets, no training). For a head with class directions W (C, D) — the
class weights of an angular head, or the soft-max head's weight rows, normalised here for angles — and
embeddings φ (N, D) with labels y:

- ``emb_norm``: mean ‖φ‖ (a normalised head's gradient on φ scales like s/‖φ‖);
- ``cos_target``: cos θ between φ and its (target) class direction, mean and 10/50/90 % quantiles;
- ``weight_angle_min`` / ``weight_angle_mean``: pairwise angles between class directions, degrees;
- ``intra_angle``: mean angle of embeddings to their class's mean direction, degrees (compactness);
- ``inter_angle``: mean pairwise angle between class mean directions, degrees (separation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

QUANTILES = (0.1, 0.5, 0.9)


def _degrees(cos: Tensor) -> Tensor:
    return torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))


def _off_diagonal(m: Tensor) -> Tensor:
    n = m.size(0)
    return m[~torch.eye(n, dtype=torch.bool, device=m.device)]


def cosine_to_class(emb: Tensor, labels: Tensor, directions: Tensor) -> Tensor:
    """cos θ between each embedding and its class direction, (N,)."""
    x = F.normalize(emb.double(), dim=1)
    w = F.normalize(directions.double(), dim=1)
    return (x * w[labels.long()]).sum(1)


def weight_cosines(directions: Tensor) -> Tensor:
    """(C, C) cosines between class directions (the heat map logged at each evaluation)."""
    w = F.normalize(directions.double(), dim=1)
    return w @ w.t()


def class_mean_directions(emb: Tensor, labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Unit mean direction of each class's normalised embeddings (C, D) and which classes are present (C,)."""
    x = F.normalize(emb.double(), dim=1)
    sums = torch.zeros(num_classes, x.size(1), dtype=x.dtype, device=x.device).index_add_(0, labels.long(), x)
    present = torch.bincount(labels.long(), minlength=num_classes) > 0
    return F.normalize(sums, dim=1), present


def label_geometry(directions: Tensor, emb_real: Tensor, y_real: Tensor, emb_fake: Tensor | None = None,
                   y_fake: Tensor | None = None) -> dict[str, float]:
    """The scalar geometry of one batch (keys without a prefix: ``emb_norm_real``, ``cos_target_real``, ...)."""
    out: dict[str, float] = {}
    pairs = [("real", emb_real, y_real)] + ([("fake", emb_fake, y_fake)] if emb_fake is not None else [])
    for tag, emb, y in pairs:
        out[f"emb_norm_{tag}"] = float(emb.double().norm(dim=1).mean())
        cos = cosine_to_class(emb, y, directions)
        out[f"cos_target_{tag}"] = float(cos.mean())
        for q in QUANTILES:
            out[f"cos_target_{tag}_q{int(q * 100):02d}"] = float(torch.quantile(cos, q))
    if directions.size(0) > 1:
        angles = _degrees(_off_diagonal(weight_cosines(directions)))
        out["weight_angle_min"] = float(angles.min())
        out["weight_angle_mean"] = float(angles.mean())
    means, present = class_mean_directions(emb_real, y_real, directions.size(0))
    x = F.normalize(emb_real.double(), dim=1)
    out["intra_angle_real"] = float(_degrees((x * means[y_real.long()]).sum(1)).mean())
    m = means[present]
    out["inter_angle_real"] = float(_degrees(_off_diagonal(m @ m.t())).mean()) if m.size(0) > 1 else math.nan
    return out
