"""Contrastive conditioning heads: the embedding is pulled to its class proxy and related to the other
samples of the batch (data-to-data), with a temperature τ. e_i = φ_i/‖φ_i‖, p_c = P_c/‖P_c‖ (learned
class proxies ``nn.Embedding(C, D)``), s_ik = e_i·e_k, s_i = e_i·p_{y_i}; computed in float32 with
log-sum-exp (exact, no overflow at small τ).

``contragan`` (ContraGAN's conditional contrastive loss 2C, Kang & Park 2020)::

    ℓ_i = −log [ exp(s_i/τ) + Σ_{k≠i, y_k=y_i} exp(s_ik/τ) ] / [ exp(s_i/τ) + Σ_{k≠i} exp(s_ik/τ) ]

``reacgan`` (ReACGAN's data-to-data cross-entropy D2D-CE, Kang et al. 2021), with margins m_p, m_n and
only the other classes' samples as negatives (false negatives removed)::

    ℓ_i = −log exp(min(s_i − m_p, 0)/τ) / [ exp(min(s_i − m_p, 0)/τ) + Σ_{k: y_k≠y_i} exp(max(s_ik − m_n, 0)/τ) ]

Both average ℓ_i over the batch. ``logits(φ) = (e·p_c)/τ``. Defaults follow PyTorch-StudioGAN's configs
(ContraGAN τ = 1; ReACGAN τ = 0.5, m_p = 0.98, m_n = 1 − m_p = 0.02).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lab.losses.heads import ConditioningHead, float32, positive, register_head
from gan_lab.registry import ConfigError


class _ProxyHead(ConditioningHead):
    """Shared: normalised embeddings, learned class proxies, a temperature."""

    normalised = True

    def __init__(self, in_features: int, num_classes: int, temperature: float, **kw):
        super().__init__(in_features, num_classes, **kw)
        self.temperature = positive("temperature", temperature)
        self.scale = 1.0 / self.temperature  # the cosine's multiplier, as s for the angular heads
        self.proxy = nn.Embedding(self.num_classes, self.in_features)
        nn.init.xavier_uniform_(self.proxy.weight)

    def _normalised(self, emb: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(cos to own proxy (N,), pairwise cos (N, N), same-label mask (N, N)) in float32."""
        e = F.normalize(emb.float(), dim=1)
        p = F.normalize(self.proxy(labels.long()).float(), dim=1)
        same = labels.view(-1, 1) == labels.view(1, -1)
        return (e * p).sum(1), e @ e.t(), same

    def logits(self, emb: Tensor) -> Tensor:
        with float32(emb.device):
            e, p = F.normalize(emb.float(), dim=1), F.normalize(self.proxy.weight.float(), dim=1)
            return e @ p.t() / self.temperature

    def class_directions(self) -> Tensor:
        return self.proxy.weight

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, temperature={self.temperature}"


@register_head("contragan")
class ContraGANHead(_ProxyHead):
    name = "contragan"

    def __init__(self, in_features: int, num_classes: int, temperature: float = 1.0, **kw):
        super().__init__(in_features, num_classes, temperature, **kw)

    def forward(self, emb: Tensor, labels: Tensor) -> Tensor:
        with float32(emb.device):
            s_proxy, s, same = self._normalised(emb, labels)
            t = self.temperature
            eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
            others = s.masked_fill(eye, float("-inf")) / t
            positives = others.masked_fill(~same, float("-inf"))
            num = torch.logsumexp(torch.cat([s_proxy.view(-1, 1) / t, positives], 1), 1)
            den = torch.logsumexp(torch.cat([s_proxy.view(-1, 1) / t, others], 1), 1)
            return (den - num).mean()


@register_head("reacgan")
class ReACGANHead(_ProxyHead):
    name = "reacgan"

    def __init__(self, in_features: int, num_classes: int, temperature: float = 0.5, margin_pos: float = 0.98,
                 margin_neg: float = 0.02, **kw):
        super().__init__(in_features, num_classes, temperature, **kw)
        self.margin_pos = float(margin_pos)
        self.margin_neg = float(margin_neg)
        for key in ("margin_pos", "margin_neg"):
            if not -1.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"head.{key}={getattr(self, key)} is invalid; allowed: a cosine in [-1, 1]")

    def forward(self, emb: Tensor, labels: Tensor) -> Tensor:
        with float32(emb.device):
            s_proxy, s, same = self._normalised(emb, labels)
            t = self.temperature
            pos = (s_proxy - self.margin_pos).clamp(max=0.0) / t
            neg = ((s - self.margin_neg).clamp(min=0.0) / t).masked_fill(same, float("-inf"))  # y_k = y_i out
            return (torch.logsumexp(torch.cat([pos.view(-1, 1), neg], 1), 1) - pos).mean()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", margin_pos={self.margin_pos}, margin_neg={self.margin_neg}"
