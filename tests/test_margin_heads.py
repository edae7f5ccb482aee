"""Classifier heads: each formula against an independent float64 computation, finite gradients at the
awkward angles, real training on separable data, and config errors that name the key."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from gan_lab.losses import HEADS, ClassifierHead, build_head
from gan_lab.registry import ConfigError

S = 30.0


def ref_cos(emb: torch.Tensor, weight: torch.Tensor) -> np.ndarray:
    """cos θ_j in float64 numpy, from the raw vectors."""
    x = emb.double().detach().numpy()
    w = weight.double().detach().numpy()
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    return np.clip(x @ w.T, -1.0, 1.0)


def head_at_angles(name: str, thetas, **kw):
    """A 2-D head whose class-0 weight is e1, and unit embeddings at the given angles to it."""
    head = build_head(name, 2, 2, **kw)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    t = torch.as_tensor(np.asarray(thetas, dtype=np.float64))
    emb = torch.stack([torch.cos(t), torch.sin(t)], dim=1).float()
    return head, emb, torch.zeros(len(t), dtype=torch.long)


def test_registry_names():
    assert {"aam", "cosface", "softmax", "sphereface"} <= set(HEADS.names())
    assert all(issubclass(HEADS.get(n), ClassifierHead) for n in ("aam", "cosface", "softmax", "sphereface"))


# ---------------------------------------------------------------------------------------------- AAM
def test_aam_matches_independent_arcface_formula():
    torch.manual_seed(0)
    m = 0.3
    head = build_head("aam", 12, 7, scale=S, margin=m)
    emb = torch.randn(64, 12) * 3
    y = torch.randint(0, 7, (64,))
    out = head.margin_logits(emb, y).double().detach().numpy()
    cos = ref_cos(emb, head.weight)
    theta_y = np.arccos(cos[np.arange(64), y.detach().numpy()])
    expect = S * cos.copy()
    target = np.where(theta_y + m <= math.pi, np.cos(theta_y + m), np.cos(theta_y) - m * math.sin(m))
    expect[np.arange(64), y.detach().numpy()] = S * target
    np.testing.assert_allclose(out, expect, atol=2e-4)
    # logits() carries no margin anywhere, the target column included
    np.testing.assert_allclose(head.logits(emb).double().detach().numpy(), S * cos, atol=2e-4)
    # and the loss is the cross-entropy of the margin logits
    ce = -np.log(np.exp(expect[np.arange(64), y.detach().numpy()]) / np.exp(expect).sum(1)).mean()
    assert head(emb, y).item() == pytest.approx(ce, rel=1e-4)


def test_aam_margin_zero_is_scaled_cosine_softmax():
    torch.manual_seed(1)
    head = build_head("aam", 8, 5, scale=S, margin=0.0)
    emb, y = torch.randn(32, 8), torch.randint(0, 5, (32,))
    assert torch.equal(head.margin_logits(emb, y), head.logits(emb))
    np.testing.assert_allclose(head.logits(emb).detach().numpy(), S * ref_cos(emb, head.weight), atol=1e-4)


def test_aam_known_angles_and_fallback():
    m = 0.5
    thetas = [0.0, 1.0, 2.5, math.pi - m + 0.05, 2.9, 3.1]
    head, emb, y = head_at_angles("aam", thetas, scale=S, margin=m)
    target = head.margin_logits(emb, y)[:, 0].double().detach().numpy()
    expect = [math.cos(t + m) if t + m <= math.pi else math.cos(t) - m * math.sin(m) for t in thetas]
    np.testing.assert_allclose(target[1:], S * np.array(expect[1:]), atol=2e-4)
    # at θ = 0 sinθ is floored at sqrt(1e-6) = 1e-3 (finite gradients); the cost is at most S·1e-3·sin m
    assert abs(target[0] - S * math.cos(m)) <= S * 1e-3 * math.sin(m) + 1e-4
    # non-target column is the plain cosine to e2
    np.testing.assert_allclose(head.margin_logits(emb, y)[:, 1].detach().numpy(), S * np.sin(thetas), atol=1e-4)
    # the last three angles are past π − m: naive cos(θ + m) would have *risen* there
    assert math.cos(3.1 + m) > math.cos(2.9 + m)
    assert target[-1] < target[-2] < target[-3]


def test_aam_target_logit_monotone_decreasing_over_0_to_pi():
    for m in (0.2, 0.5, 1.0):
        thetas = np.linspace(0.0, math.pi, 361)
        head, emb, y = head_at_angles("aam", thetas, scale=S, margin=m)
        target = head.margin_logits(emb, y)[:, 0].detach().numpy()
        assert np.all(np.diff(target) < 0), f"margin {m}: target logit not decreasing in θ"


def test_aam_easy_margin():
    m = 0.5
    thetas = [0.3, 1.0, 2.0, 3.0]
    head, emb, y = head_at_angles("aam", thetas, scale=S, margin=m, easy_margin=True)
    target = head.margin_logits(emb, y)[:, 0].detach().numpy()
    expect = [math.cos(t + m) if math.cos(t) > 0 else math.cos(t) for t in thetas]
    np.testing.assert_allclose(target, S * np.array(expect), atol=1e-3)
    hard, emb, y = head_at_angles("aam", thetas, scale=S, margin=m)
    assert hard.margin_logits(emb, y)[2, 0].item() == pytest.approx(S * math.cos(2.0 + m), abs=1e-3)


@pytest.mark.parametrize("name", ["aam", "cosface", "sphereface"])
@pytest.mark.parametrize("where", ["theta0", "theta_pi", "near0"])
def test_gradients_finite_at_degenerate_angles(name, where):
    torch.manual_seed(2)
    head = build_head(name, 6, 4)
    y = torch.tensor([0, 1, 2, 3])
    w = head.weight.detach().clone()
    emb = {"theta0": w.clone(), "theta_pi": -w.clone(), "near0": w + 1e-4 * torch.randn_like(w)}[where]
    emb = (emb * 2.5).requires_grad_(True)
    loss = head(emb, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()
    assert emb.grad.abs().sum() > 0  # non-target classes still pull on the embedding


def test_bf16_autocast_inputs_are_computed_in_float32():
    torch.manual_seed(3)
    for name in HEADS:  # every head, the new ones included
        head = build_head(name, 16, 5)
        emb = torch.randn(20, 16).bfloat16()
        y = torch.randint(0, 5, (20,))
        scores = head.margin_logits if hasattr(head, "margin_logits") else lambda e, _: head.logits(e)
        term = head if head.classifies else head.adversarial_term
        ref, ref_term = scores(emb.float(), y), term(emb.float(), y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, loss = scores(emb, y), term(emb, y)
        assert out.dtype == torch.float32 and loss.dtype == torch.float32, name
        torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-5)
        torch.testing.assert_close(loss, ref_term, rtol=1e-6, atol=1e-5)


# ------------------------------------------------------------------------------------ CosFace, softmax
def test_cosface_formula():
    torch.manual_seed(4)
    m = 0.35
    head = build_head("cosface", 10, 6, scale=S, margin=m)
    emb, y = torch.randn(40, 10), torch.randint(0, 6, (40,))
    expect = S * ref_cos(emb, head.weight)
    expect[np.arange(40), y.detach().numpy()] -= S * m
    np.testing.assert_allclose(head.margin_logits(emb, y).detach().numpy(), expect, atol=2e-4)
    np.testing.assert_allclose(head.logits(emb).detach().numpy(), S * ref_cos(emb, head.weight), atol=2e-4)


def test_softmax_is_linear_without_margin():
    torch.manual_seed(5)
    head = build_head("softmax", 8, 3)
    emb, y = torch.randn(10, 8), torch.randint(0, 3, (10,))
    w, b = head.fc.weight.double().detach().numpy(), head.fc.bias.double().detach().numpy()
    expect = emb.double().numpy() @ w.T + b
    np.testing.assert_allclose(head.logits(emb).detach().numpy(), expect, atol=1e-5)
    assert torch.equal(head.margin_logits(emb, y), head.logits(emb))
    assert head(emb, y).item() == pytest.approx(torch.nn.functional.cross_entropy(head.logits(emb), y).item())


# ---------------------------------------------------------------------------------------- SphereFace
def psi(theta: float, m: int) -> float:
    k = min(int(math.floor(m * theta / math.pi)), m - 1)
    return (-1) ** k * math.cos(m * theta) - 2 * k


def test_sphereface_psi_known_values():
    m = 4
    known = {0.0: 1.0, math.pi / 8: 0.0, 3 * math.pi / 8: -2.0, math.pi / 2: -3.0, math.pi: -7.0}
    head, emb, y = head_at_angles("sphereface", list(known), scale=S, margin=m)
    target = head.margin_logits(emb, y)[:, 0].detach().numpy()
    np.testing.assert_allclose(target, S * np.array(list(known.values())), atol=2e-3)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_sphereface_matches_formula_and_is_monotone(m):
    thetas = np.linspace(0.0, math.pi, 181)
    head, emb, y = head_at_angles("sphereface", thetas, scale=S, margin=m)
    target = head.margin_logits(emb, y)[:, 0].detach().numpy()
    np.testing.assert_allclose(target, S * np.array([psi(t, m) for t in thetas]), atol=5e-3)
    assert np.all(np.diff(target) < 0)


def test_sphereface_m1_is_scaled_cosine():
    torch.manual_seed(6)
    head = build_head("sphereface", 8, 4, scale=S, margin=1)
    emb, y = torch.randn(30, 8), torch.randint(0, 4, (30,))
    torch.testing.assert_close(head.margin_logits(emb, y), head.logits(emb), rtol=0, atol=1e-5)
    assert build_head("sphereface", 8, 4, margin=2.0).m == 2  # integral floats from YAML are accepted


# ------------------------------------------------------------------------------------ real training
@pytest.mark.parametrize("name", ["softmax", "aam", "cosface", "sphereface", "contragan", "reacgan", "tacgan"])
def test_head_trains_on_separable_data(name):
    torch.manual_seed(7)
    n_cls, dim = 4, 10
    centres = torch.randn(n_cls, dim) * 3
    y = torch.arange(240) % n_cls
    x = centres[y] + 0.5 * torch.randn(240, dim)
    net = nn.Linear(dim, 16)
    head = build_head(name, 16, n_cls)  # the class defaults
    opt = torch.optim.Adam(list(net.parameters()) + list(head.parameters()), lr=0.02)
    losses = []
    for _ in range(80):
        loss = head(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        acc = (head.logits(net(x)).argmax(1) == y).float().mean().item()
    # The contrastive losses have a floor above 0: ContraGAN's is set by the other classes' similarities
    # (here about log(1 + 3·e^(-4/3)) = 0.57), D2D-CE's is log(1 + #negatives) (each clamped at exp(0) = 1).
    floor = {"contragan": 0.5, "reacgan": float(np.log(1 + 180))}.get(name, 0.0)
    assert losses[-1] - floor < 0.5 * (losses[0] - floor), f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    assert acc > 0.9, f"{name}: accuracy {acc:.3f}"


# ---------------------------------------------------------------------------------------- config errors
@pytest.mark.parametrize("name", ["softmax", "aam", "cosface", "sphereface"])
def test_bad_scale_and_margin_name_the_key(name):
    if name == "softmax":  # no scale, no margin: either is refused, naming the options it has (none)
        with pytest.raises(ConfigError, match=r"head\.margin is not an option of the 'softmax' head; allowed: none"):
            build_head(name, 8, 3, margin=0.1)
        return
    with pytest.raises(ConfigError, match=r"head\.margin=-0\.1.*allowed: .*>= ?[01]"):
        build_head(name, 8, 3, margin=-0.1)
    with pytest.raises(ConfigError, match=r"head\.scale=0.*allowed: .*> 0"):
        build_head(name, 8, 3, scale=0, margin=1)


def test_other_config_errors():
    with pytest.raises(ConfigError) as err:
        build_head("arcface", 8, 3)
    msg = str(err.value)
    assert "head='arcface'" in msg and all(n in msg for n in ("aam", "cosface", "softmax", "sphereface"))
    msg = r"head\.margin=2\.5 is invalid for head=sphereface; allowed: an integer >= 1"
    with pytest.raises(ConfigError, match=msg):
        build_head("sphereface", 8, 3, margin=2.5)
    with pytest.raises(ConfigError, match=r"head\.margin=0 is invalid for head=sphereface"):
        build_head("sphereface", 8, 3, margin=0)
    with pytest.raises(ConfigError, match=r"head\.easy_margin is not an option of the 'cosface' head; allowed: head\.scale, head\.margin$"):
        build_head("cosface", 8, 3, easy_margin=True)
    with pytest.raises(ConfigError, match=r"in_features=0"):
        build_head("aam", 0, 3)
    with pytest.raises(ConfigError, match=r"num_classes=0"):
        build_head("aam", 8, 0)
