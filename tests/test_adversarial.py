"""Adversarial losses against their formulas on hand-chosen scores, and the WGAN-GP gradient penalty
against analytic gradients (linear and quadratic critics) and per-sample autograd (a small conv critic)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.losses import ADVERSARIAL, build_adversarial, gradient_penalty
from gan_lab.registry import ConfigError

# Raw D scores of PatchGAN-like shape (2, 1, 2, 2) and per-image shape (3,): any shape must work.
REAL = torch.tensor([2.0, -0.5, 0.3, 1.5, 0.9, -2.0, 1.0, 0.0]).view(2, 1, 2, 2)
FAKE = torch.tensor([-1.5, 0.2, 3.0])
R = [2.0, -0.5, 0.3, 1.5, 0.9, -2.0, 1.0, 0.0]
Fk = [-1.5, 0.2, 3.0]


def mean(xs):
    return sum(xs) / len(xs)


def softplus(v):
    return math.log1p(math.exp(v))


NS = (mean([softplus(-r) for r in R]) + mean([softplus(f) for f in Fk]), mean([softplus(-f) for f in Fk]))
EXPECTED = {
    "wgan-gp": (mean(Fk) - mean(R), -mean(Fk)),
    "hinge": (mean([max(0, 1 - r) for r in R]) + mean([max(0, 1 + f) for f in Fk]), -mean(Fk)),
    "non-saturating": NS,
    "vanilla": NS,
    "lsgan": (
        0.5 * mean([(r - 1) ** 2 for r in R]) + 0.5 * mean([f**2 for f in Fk]),
        0.5 * mean([(f - 1) ** 2 for f in Fk]),
    ),
}


def test_registry_names():
    assert ADVERSARIAL.names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_losses_equal_their_formulas(name):
    loss = build_adversarial(name)
    d_exp, g_exp = EXPECTED[name]
    d, g = loss.d_loss(REAL, FAKE), loss.g_loss(FAKE)
    assert d.dim() == 0 and g.dim() == 0
    assert d.item() == pytest.approx(d_exp, rel=1e-6, abs=1e-6)
    assert g.item() == pytest.approx(g_exp, rel=1e-6, abs=1e-6)


def test_non_saturating_is_bce_with_logits():
    loss = build_adversarial("non-saturating")
    bce = F.binary_cross_entropy_with_logits
    d_ref = bce(REAL, torch.ones_like(REAL)) + bce(FAKE, torch.zeros_like(FAKE))
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_ref.item(), rel=1e-6)
    assert loss.g_loss(FAKE).item() == pytest.approx(bce(FAKE, torch.ones_like(FAKE)).item(), rel=1e-6)
    # stable for large scores, where log(sigmoid) would underflow
    assert torch.isfinite(loss.d_loss(torch.tensor([-200.0]), torch.tensor([200.0])))
    assert loss.d_loss(torch.tensor([-200.0]), torch.tensor([200.0])).item() == pytest.approx(400.0)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bf16_scores_give_float32_losses(name):
    loss = build_adversarial(name)
    d = loss.d_loss(REAL.bfloat16(), FAKE.bfloat16())
    assert d.dtype == torch.float32
    d_ref = loss.d_loss(REAL.bfloat16().float(), FAKE.bfloat16().float())
    assert d.item() == d_ref.item()


def test_losses_train_in_the_right_direction():
    """One gradient step on D's scores lowers d_loss by raising real and lowering fake; G raises fake."""
    for name in EXPECTED:
        loss = build_adversarial(name)
        real = torch.full((4,), 0.5, requires_grad=True)
        fake = torch.full((4,), 0.5, requires_grad=True)
        loss.d_loss(real, fake).backward()
        assert (real.grad < 0).all() and (fake.grad > 0).all(), name
        fake2 = torch.full((4,), 0.5, requires_grad=True)
        loss.g_loss(fake2).backward()
        assert (fake2.grad < 0).all(), name


def test_unknown_name_names_the_key():
    with pytest.raises(ConfigError) as err:
        build_adversarial("wgan")
    msg = str(err.value)
    assert "adversarial='wgan'" in msg
    assert all(n in msg for n in EXPECTED)


# ------------------------------------------------------------------------------------ gradient penalty
def test_gradient_penalty_linear_critic():
    torch.manual_seed(0)
    w = (torch.randn(12) * 0.7).requires_grad_(True)
    x = torch.randn(5, 3, 2, 2).requires_grad_(True)
    gp = gradient_penalty(x.flatten(1) @ w, x)
    norm = float(np.linalg.norm(w.detach().numpy()))
    assert gp.item() == pytest.approx((norm - 1) ** 2, rel=1e-5)
    # create_graph: the penalty trains the critic; d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    gp.backward()
    expect = 2 * (norm - 1) * w.detach().numpy() / norm
    np.testing.assert_allclose(w.grad.numpy(), expect, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_quadratic_critic():
    torch.manual_seed(1)
    a = 0.8
    x = torch.randn(6, 4, 3).requires_grad_(True)
    out = 0.5 * a * (x**2).sum(dim=(1, 2))  # ∇ = a·x_i, so ‖∇‖ = a‖x_i‖, different per sample
    gp = gradient_penalty(out, x)
    norms = a * np.linalg.norm(x.detach().numpy().reshape(6, -1), axis=1)
    assert gp.item() == pytest.approx(float(np.mean((norms - 1) ** 2)), rel=1e-5)


def test_gradient_penalty_on_interpolates_with_conv_patch_critic():
    torch.manual_seed(2)
    critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, stride=2, padding=1))
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    alpha = torch.rand(4, 1, 1, 1)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    gp = gradient_penalty(critic(x_hat), x_hat)  # (4, 1, 4, 4) patch scores
    # independent: each sample's gradient on its own
    per = []
    for i in range(4):
        xi = x_hat[i : i + 1].detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(critic(xi).sum(), xi)
        per.append((g.norm() - 1).item() ** 2)
    assert gp.item() == pytest.approx(float(np.mean(per)), rel=1e-5)
    gp.backward()
    for w in (critic[0].weight, critic[2].weight):  # (biases cannot change a piecewise-linear critic's ∇x)
        assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


def test_gradient_penalty_needs_grad_inputs():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="requires_grad_"):
        gradient_penalty(x.sum(1), x)
