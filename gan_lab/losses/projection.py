"""Projection discriminator (Miyato & Koyama 2018): the label enters the critic's output, not a loss.

D(x, y) = ψ(φ(x)) + e_yᵀ φ(x), with a learned class embedding e_y (``nn.Embedding(C, D)``). The head
adds ``e_yᵀ φ`` to the critic's output (``projects``); the adversarial loss then does the conditioning, so
there is no classification term (``classifies`` is False; ``head.lambda_cls`` is not used and not set).
``logits(φ)`` are the projections onto every class, ``e_cᵀ φ``: the class the critic finds most real.
"""

from __future__ import annotations

from torch import Tensor, nn

from gan_lab.losses.heads import ConditioningHead, float32, register_head


@register_head("projection")
class ProjectionHead(ConditioningHead):
    name = "projection"
    classifies = False
    projects = True

    def __init__(self, in_features: int, num_classes: int, **kw):
        super().__init__(in_features, num_classes, **kw)
        self.embed = nn.Embedding(self.num_classes, self.in_features)
        nn.init.xavier_uniform_(self.embed.weight)

    def adversarial_term(self, emb: Tensor, labels: Tensor) -> Tensor:
        with float32(emb.device):
            return (self.embed(labels.long()).float() * emb.float()).sum(1)

    def logits(self, emb: Tensor) -> Tensor:
        with float32(emb.device):
            return emb.float() @ self.embed.weight.float().t()

    def class_directions(self) -> Tensor:
        return self.embed.weight
