"""Adversarial losses (config group ``adversarial``) and the WGAN-GP gradient penalty.

Each loss takes the discriminator's raw scores (any shape: one per image, or a PatchGAN map) and
returns a scalar, averaged over every score. Computed in float32 whatever the scores' dtype, so
bf16 autocast changes the network's arithmetic, not the loss's.

- ``wgan-gp``: D minimises mean(fake) − mean(real); G minimises −mean(fake). The penalty itself is
  added by the caller as ``lambda_gp * gradient_penalty(D(x_hat), x_hat)`` (so any loss may use it).
- ``hinge``: D minimises mean(relu(1 − real)) + mean(relu(1 + fake)); G minimises −mean(fake).
- ``non-saturating`` (alias ``vanilla``, pix2pix's name): binary cross-entropy on logits,
  D: mean(softplus(−real)) + mean(softplus(fake)); G: mean(softplus(−fake)).
- ``lsgan``: D: 0.5·mean((real − 1)²) + 0.5·mean(fake²); G: 0.5·mean((fake − 1)²).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lab.registry import Registry

ADVERSARIAL: Registry[type["AdversarialLoss"]] = Registry("adversarial loss", "adversarial")


def register_adversarial(name: str) -> Callable[[type["AdversarialLoss"]], type["AdversarialLoss"]]:
    """Class decorator: make a loss selectable as ``adversarial=<name>`` (with a conf/adversarial/<name>.yaml)."""
    return ADVERSARIAL.register(name)


class AdversarialLoss:
    """Interface: ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out)``, both scalars."""

    name = "adversarial"

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake_out: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register_adversarial("wgan-gp")
class WassersteinLoss(AdversarialLoss):
    """Critic estimates the Wasserstein-1 distance; needs the gradient penalty (adversarial.lambda_gp > 0)."""

    name = "wgan-gp"

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return fake_out.float().mean() - real_out.float().mean()

    def g_loss(self, fake_out: Tensor) -> Tensor:
        return -fake_out.float().mean()


@register_adversarial("hinge")
class HingeLoss(AdversarialLoss):
    """Hinge loss (SAGAN/BigGAN): D is only pushed until real > 1 and fake < −1."""

    name = "hinge"

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return F.relu(1.0 - real_out.float()).mean() + F.relu(1.0 + fake_out.float()).mean()

    def g_loss(self, fake_out: Tensor) -> Tensor:
        return -fake_out.float().mean()


@register_adversarial("non-saturating")
@register_adversarial("vanilla")
class NonSaturatingLoss(AdversarialLoss):
    """Goodfellow's GAN with the non-saturating generator loss; softplus is BCE-with-logits, stably."""

    name = "non-saturating"

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return F.softplus(-real_out.float()).mean() + F.softplus(fake_out.float()).mean()

    def g_loss(self, fake_out: Tensor) -> Tensor:
        return F.softplus(-fake_out.float()).mean()


@register_adversarial("lsgan")
class LeastSquaresLoss(AdversarialLoss):
    """Least-squares GAN with targets 1 (real) and 0 (fake)."""

    name = "lsgan"

    def d_loss(self, real_out: Tensor, fake_out: Tensor) -> Tensor:
        return 0.5 * (real_out.float() - 1.0).pow(2).mean() + 0.5 * fake_out.float().pow(2).mean()

    def g_loss(self, fake_out: Tensor) -> Tensor:
        return 0.5 * (fake_out.float() - 1.0).pow(2).mean()


def build_adversarial(name: str) -> AdversarialLoss:
    """The loss registered as ``name`` (config ``adversarial``); ConfigError lists the names when unknown."""
    return ADVERSARIAL.get(name)()


def gradient_penalty(outputs: Tensor, inputs: Tensor) -> Tensor:
    """WGAN-GP: mean over the batch of (‖∂ outputs.sum() / ∂ inputs_i‖₂ − 1)².

    ``inputs`` must require grad (e.g. an interpolate ``(a·real + (1−a)·fake).requires_grad_(True)``)
    and ``outputs`` must be computed from it. The graph is kept (create_graph=True) so the penalty
    trains the discriminator. Summing the outputs is exact because sample i's score depends only
    on input i (no batch norm in a WGAN-GP critic); a PatchGAN map sums its patches per sample.
    """
    if not inputs.requires_grad:
        raise ValueError(
            "gradient_penalty: inputs must require grad; call inputs.requires_grad_(True) before D(inputs)"
        )
    (grad,) = torch.autograd.grad(outputs.float().sum(), inputs, create_graph=True)
    norm = torch.linalg.vector_norm(grad.float().reshape(grad.size(0), -1), ord=2, dim=1)
    return (norm - 1.0).pow(2).mean()
