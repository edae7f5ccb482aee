"""Losses, knowing nothing of nets: the discriminator's conditioning heads and adversarial losses.

``heads``: the head interface and registry (``head=<name>``); ``margin``: soft-max and the angular-margin
heads (aam, cosface, sphereface); ``projection``: the projection discriminator; ``contrastive``: ContraGAN
(2C) and ReACGAN (D2D-CE); ``twin``: TAC-GAN. ``adversarial``: losses chosen by
``adversarial=wgan-gp|hinge|non-saturating|vanilla|lsgan``, and the WGAN-GP ``gradient_penalty``.
Add a new one by decorating a class in its file; the config can then name it.
"""

from gan_lab.losses import contrastive, projection, twin  # noqa: F401  (register the heads)
from gan_lab.losses.adversarial import (
    ADVERSARIAL,
    AdversarialLoss,
    HingeLoss,
    LeastSquaresLoss,
    NonSaturatingLoss,
    WassersteinLoss,
    build_adversarial,
    gradient_penalty,
    register_adversarial,
)
from gan_lab.losses.heads import HEADS, ConditioningHead, build_head, register_head
from gan_lab.losses.margin import AAMHead, ClassifierHead, CosFaceHead, SoftmaxHead, SphereFaceHead

__all__ = [
    "ADVERSARIAL",
    "AdversarialLoss",
    "HingeLoss",
    "LeastSquaresLoss",
    "NonSaturatingLoss",
    "WassersteinLoss",
    "build_adversarial",
    "gradient_penalty",
    "register_adversarial",
    "HEADS",
    "AAMHead",
    "ClassifierHead",
    "ConditioningHead",
    "CosFaceHead",
    "SoftmaxHead",
    "SphereFaceHead",
    "build_head",
    "register_head",
]
