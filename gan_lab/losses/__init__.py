"""Losses, knowing nothing of nets: discriminator classifier heads and adversarial losses.

``margin``: classifier heads chosen by ``head=softmax|aam|cosface|sphereface``.
``adversarial``: losses chosen by ``adversarial=wgan-gp|hinge|non-saturating|vanilla|lsgan``, and the
WGAN-GP ``gradient_penalty``. Add a new one by decorating a class in its file; the config can then name it.
"""

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
from gan_lab.losses.margin import (
    HEADS,
    AAMHead,
    ClassifierHead,
    CosFaceHead,
    SoftmaxHead,
    SphereFaceHead,
    build_head,
    register_head,
)

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
    "CosFaceHead",
    "SoftmaxHead",
    "SphereFaceHead",
    "build_head",
    "register_head",
]
