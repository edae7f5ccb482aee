"""Classifier heads for the discriminator's auxiliary classifier: soft-max and angular-margin heads.

The config group is ``head`` (``head=softmax|aam|cosface|sphereface``; options ``head.scale``, ``head.margin``, ...). Every head has one interface:

- ``logits(emb)``: (N, C) scores WITHOUT any margin, for prediction and accuracy;
- ``margin_logits(emb, labels)``: (N, C) with the margin applied to the target class, for training;
- ``forward(emb, labels)``: the scalar loss ``cross_entropy(margin_logits, labels)``.

Heads (C classes, embedding x, class weight rows w_j, x̂ and ŵ_j their L2-normalised versions,
cos θ_j = ŵ_j · x̂):

- ``softmax``: the baseline, ``W x + b`` (no scale, no margin).
- ``aam`` (ArcFace, additive angular margin): target ``s·cos(θ_y + m)``, others ``s·cos θ_j``.
- ``cosface`` (additive cosine margin): target ``s·(cos θ_y − m)``, others ``s·cos θ_j``.
- ``sphereface`` (multiplicative angular margin, here with normalised features as in later SphereFace
  variants): target ``s·ψ(θ_y)`` with ``ψ(θ) = (−1)^k cos(mθ) − 2k`` on ``[kπ/m, (k+1)π/m]``,
  integer m ≥ 1.

Defaults. ArcFace's face-recognition setting is s=64, m=0.5 for thousands of identities. A GAN's
discriminator classifies 10–100 classes, where s=64 makes the soft-max almost one-hot from the first steps
(the classification loss then gives the generator little gradient), so the class defaults are s=30 with
m=0.5 (aam), m=0.35 (cosface, its paper's value) and m=4 (sphereface, its paper's value). The run configs
in ``conf/head/`` set their own values, chosen by measurement (aam: s=16, m=0.3; docs/results/lgad_digits.md),
recorded with every run.

Precision. Normalisation, the trigonometry and the logits are computed in float32 with autocast
disabled, whatever the input dtype (e.g. bf16 under autocast): cos θ near ±1 and sqrt(1 − cos²) lose
everything in bf16's 8-bit mantissa. The soft-max baseline does the same so the comparison is fair.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lab.losses.heads import ConditioningHead, float32, positive, register_head
from gan_lab.registry import ConfigError

# Floor under 1 − cos² before the square root: keeps d sinθ / d cosθ finite at θ ≈ 0 and θ ≈ π.
# sinθ is then at least 1e-3 (θ ≈ 1 mrad), which moves the target logit by at most s·1e-3·sin m.
_SIN_EPS = 1e-6


class ClassifierHead(ConditioningHead):
    """An auxiliary classifier with a scale s and a margin m: subclasses implement ``logits`` and
    ``margin_logits``; the loss is ``cross_entropy(margin_logits, labels)``."""

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0, margin: float = 0.5, **kw):
        super().__init__(in_features, num_classes, **kw)
        self.scale = positive("scale", scale)
        self.margin = positive("margin", margin, allow_zero=True)

    def logits(self, emb: Tensor) -> Tensor:
        raise NotImplementedError

    def margin_logits(self, emb: Tensor, labels: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, emb: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(self.margin_logits(emb, labels), labels.long())

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, num_classes={self.num_classes}, "
            f"scale={self.scale}, margin={self.margin}"
        )


@register_head("softmax")
class SoftmaxHead(ClassifierHead):
    """Baseline: linear logits ``W x + b``; no scale, no margin."""

    name = "softmax"

    def __init__(self, in_features: int, num_classes: int, **kw):
        self._refuse_unknown(kw)
        super().__init__(in_features, num_classes, 1.0, 0.0)
        self.fc = nn.Linear(self.in_features, self.num_classes)

    def logits(self, emb: Tensor) -> Tensor:
        with float32(emb.device):
            return F.linear(emb.float(), self.fc.weight.float(), self.fc.bias.float())

    def margin_logits(self, emb: Tensor, labels: Tensor) -> Tensor:
        return self.logits(emb)

    def class_directions(self) -> Tensor:
        return self.fc.weight

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}"


class _CosineHead(ClassifierHead):
    """Shared by the angular heads: unit-norm class weights, cos θ in float32, margin on the target only."""

    normalised = True

    def __init__(self, in_features: int, num_classes: int, scale: float, margin: float, **kw):
        super().__init__(in_features, num_classes, scale, margin, **kw)
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.in_features))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, emb: Tensor) -> Tensor:
        """cos θ_j between each embedding and each class weight, (N, C), float32, clamped to [-1, 1]."""
        with float32(emb.device):
            x = F.normalize(emb.float(), dim=1)
            w = F.normalize(self.weight.float(), dim=1)
            return (x @ w.t()).clamp(-1.0, 1.0)

    def class_directions(self) -> Tensor:
        return self.weight

    def target_cosine(self, cos_y: Tensor) -> Tensor:
        """The target's margin-adjusted cosine-like score (before scaling), from its cos θ_y, shape (N,)."""
        raise NotImplementedError

    def logits(self, emb: Tensor) -> Tensor:
        return self.scale * self.cosine(emb)

    def margin_logits(self, emb: Tensor, labels: Tensor) -> Tensor:
        cos = self.cosine(emb)
        labels = labels.long().view(-1, 1)
        with float32(emb.device):
            target = self.target_cosine(cos.gather(1, labels))
            return self.scale * cos.scatter(1, labels, target)


@register_head("aam")
class AAMHead(_CosineHead):
    """ArcFace: target ``s·cos(θ_y + m)``, others ``s·cos θ_j``.

    ``cos(θ + m)`` is expanded as ``cosθ·cos m − sinθ·sin m`` with ``sinθ = sqrt(max(1 − cos²θ, eps))``
    (no acos: its derivative is infinite at cos θ = ±1). Past θ > π − m, cos(θ + m) would rise again
    and reward pushing the embedding away from its class; there ArcFace's fallback ``cosθ − m·sin m``
    keeps the target logit decreasing in θ. ``easy_margin=True`` applies the margin only where cos θ > 0.
    """

    name = "aam"

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0, margin: float = 0.5,
                 easy_margin: bool = False, **kw):
        super().__init__(in_features, num_classes, scale, margin, **kw)
        self.easy_margin = bool(easy_margin)
        self._cos_m, self._sin_m = math.cos(self.margin), math.sin(self.margin)
        self._threshold = math.cos(math.pi - self.margin)  # cos θ below this means θ + m > π
        self._fallback = self.margin * self._sin_m

    def target_cosine(self, cos_y: Tensor) -> Tensor:
        sin_y = torch.sqrt((1.0 - cos_y * cos_y).clamp(min=_SIN_EPS))
        phi = cos_y * self._cos_m - sin_y * self._sin_m
        if self.easy_margin:
            return torch.where(cos_y > 0, phi, cos_y)
        return torch.where(cos_y > self._threshold, phi, cos_y - self._fallback)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", easy_margin={self.easy_margin}"


@register_head("cosface")
class CosFaceHead(_CosineHead):
    """CosFace (additive cosine margin): target ``s·(cos θ_y − m)``, others ``s·cos θ_j``."""

    name = "cosface"

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0, margin: float = 0.35, **kw):
        super().__init__(in_features, num_classes, scale, margin, **kw)

    def target_cosine(self, cos_y: Tensor) -> Tensor:
        return cos_y - self.margin


def chebyshev_cos(cos: Tensor, m: int) -> Tensor:
    """cos(m·θ) from cos θ by the Chebyshev recurrence T_{n+1} = 2x·T_n − T_{n−1} (finite gradients)."""
    prev, cur = torch.ones_like(cos), cos
    if m == 0:
        return prev
    for _ in range(m - 1):
        prev, cur = cur, 2.0 * cos * cur - prev
    return cur


@register_head("sphereface")
class SphereFaceHead(_CosineHead):
    """SphereFace (multiplicative angular margin) on normalised features: target ``s·ψ(θ_y)``.

    ``ψ(θ) = (−1)^k cos(mθ) − 2k`` for θ in ``[kπ/m, (k+1)π/m]`` is cos(mθ) made monotone decreasing on
    [0, π] (from 1 down to −(2m − 1)). cos(mθ) is a Chebyshev polynomial of cos θ, so no acos enters the
    graph; k (piecewise constant) is computed from the detached angle. ``margin`` is the integer m ≥ 1;
    m = 1 is the plain scaled cosine.
    """

    name = "sphereface"

    def __init__(self, in_features: int, num_classes: int, scale: float = 30.0, margin: float = 4, **kw):
        m = float(margin)
        if not (math.isfinite(m) and m >= 1 and abs(m - round(m)) < 1e-9):
            raise ConfigError(f"head.margin={margin} is invalid for head=sphereface; allowed: an integer >= 1")
        super().__init__(in_features, num_classes, scale, round(m), **kw)
        self.m = int(round(m))

    def target_cosine(self, cos_y: Tensor) -> Tensor:
        with torch.no_grad():
            theta = torch.acos(cos_y.detach().double())
            k = torch.floor(self.m * theta / math.pi).clamp(0, self.m - 1).to(cos_y.dtype)
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)  # (−1)^k
        return sign * chebyshev_cos(cos_y, self.m) - 2.0 * k
