"""TAC-GAN's twin auxiliary classifiers (Gong et al. 2019).

An AC-GAN's generator, pushed to make samples its classifier C labels confidently, drifts towards easily
classified samples and away from the class-conditional distribution. TAC-GAN adds a twin classifier C_mi
that learns to classify the *generated* samples; the generator then minimises C's loss and maximises
C_mi's, which cancels the bias (the difference estimates a mutual-information term). With soft-max
cross-entropy CE on linear logits::

    D side: CE(C(φ_real), y) + CE(C_mi(φ_fake), y_fake)
    G side: CE(C(φ_fake), y_fake) − CE(C_mi(φ_fake), y_fake)

both weighted by ``head.lambda_cls`` (PyTorch-StudioGAN's ``tac_dis_lambda``/``tac_gen_lambda``, equal
here). ``logits(φ)`` and ``class_directions()`` are C's.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gan_lab.losses.heads import ConditioningHead, float32, register_head


@register_head("tacgan")
class TACGANHead(ConditioningHead):
    name = "tacgan"

    def __init__(self, in_features: int, num_classes: int, **kw):
        super().__init__(in_features, num_classes, **kw)
        self.fc = nn.Linear(self.in_features, self.num_classes)
        self.fc_mi = nn.Linear(self.in_features, self.num_classes)

    @staticmethod
    def _ce(fc: nn.Linear, emb: Tensor, labels: Tensor) -> Tensor:
        with float32(emb.device):
            return F.cross_entropy(F.linear(emb.float(), fc.weight.float(), fc.bias.float()), labels.long())

    def logits(self, emb: Tensor) -> Tensor:
        with float32(emb.device):
            return F.linear(emb.float(), self.fc.weight.float(), self.fc.bias.float())

    def class_directions(self) -> Tensor:
        return self.fc.weight

    def forward(self, emb: Tensor, labels: Tensor) -> Tensor:
        """C's cross-entropy (the plain AC-GAN term)."""
        return self._ce(self.fc, emb, labels)

    def d_loss(self, emb_real: Tensor, y_real: Tensor, emb_fake: Tensor, y_fake: Tensor) -> Tensor:
        return self._ce(self.fc, emb_real, y_real) + self._ce(self.fc_mi, emb_fake, y_fake)

    def g_loss(self, emb_fake: Tensor, y_fake: Tensor) -> Tensor:
        return self._ce(self.fc, emb_fake, y_fake) - self._ce(self.fc_mi, emb_fake, y_fake)
