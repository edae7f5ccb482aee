"""The projection, ContraGAN, ReACGAN and TAC-GAN heads against their published formulas, each computed
here independently (float64 numpy loops), and DiffAugment's ops. The settings are unusual on purpose
(temperature, margins) so a wrong sign, margin or temperature cannot pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_lab.losses import build_head


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _data(n=12, d=6, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g)
    y = torch.arange(n) % c
    return emb, y


def test_projection_adds_the_class_embeddings_inner_product_to_the_critic():
    emb, y = _data()
    head = build_head("projection", 6, 3)
    e = head.embed.weight.detach().double().numpy()
    expect = np.array([e[int(y[i])] @ emb[i].double().numpy() for i in range(len(y))])
    np.testing.assert_allclose(head.adversarial_term(emb, y).detach().numpy(), expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(head.logits(emb).detach().numpy(), emb.double().numpy() @ e.T, rtol=1e-5, atol=1e-6)
    assert head.projects and not head.classifies


def test_projection_enters_the_modules_critic_output():
    from test_training_steps import batch, build

    m = build("translation", "projection")
    x, y = batch()
    out, emb = m.critic(x, y)
    raw, emb_raw = m.D(x)
    term = (m.head.embed.weight[y] * emb_raw).sum(1)
    torch.testing.assert_close(out, raw + term.view(-1, 1, 1, 1))
    torch.testing.assert_close(emb, emb_raw)


def _contragan_ref(emb, proxy, y, t):
    e, p = _unit(emb), _unit(proxy[y])
    n, losses = len(y), []
    for i in range(n):
        to_proxy = np.exp(e[i] @ p[i] / t)
        same = sum(np.exp(e[i] @ e[k] / t) for k in range(n) if k != i and y[k] == y[i])
        every = sum(np.exp(e[i] @ e[k] / t) for k in range(n) if k != i)
        losses.append(-np.log((to_proxy + same) / (to_proxy + every)))
    return float(np.mean(losses))


@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_contragan_is_the_2c_loss(temperature):
    emb, y = _data()
    head = build_head("contragan", 6, 3, temperature=temperature)
    ref = _contragan_ref(emb.double().numpy(), head.proxy.weight.detach().double().numpy(), y.numpy(), temperature)
    assert head(emb, y).item() == pytest.approx(ref, rel=1e-5)
    p = _unit(head.proxy.weight.detach().double().numpy())
    np.testing.assert_allclose(head.logits(emb).detach().numpy(), _unit(emb.double().numpy()) @ p.T / temperature,
                               rtol=1e-5, atol=1e-5)


def _d2dce_ref(emb, proxy, y, t, m_p, m_n):
    e, p = _unit(emb), _unit(proxy[y])
    losses = []
    for i in range(len(y)):
        pos = min(e[i] @ p[i] - m_p, 0.0) / t
        negs = [max(e[i] @ e[k] - m_n, 0.0) / t for k in range(len(y)) if y[k] != y[i]]
        losses.append(-np.log(np.exp(pos) / (np.exp(pos) + sum(np.exp(v) for v in negs))))
    return float(np.mean(losses))


@pytest.mark.parametrize("t,m_p,m_n", [(0.5, 0.98, 0.02), (0.2, 0.3, -0.2), (1.0, 0.0, 0.5)])
def test_reacgan_is_the_d2dce_loss(t, m_p, m_n):
    emb, y = _data(seed=1)
    head = build_head("reacgan", 6, 3, temperature=t, margin_pos=m_p, margin_neg=m_n)
    ref = _d2dce_ref(emb.double().numpy(), head.proxy.weight.detach().double().numpy(), y.numpy(), t, m_p, m_n)
    assert head(emb, y).item() == pytest.approx(ref, rel=1e-5)


def test_reacgan_no_pull_past_the_positive_margin_no_push_below_the_negative_one():
    head = build_head("reacgan", 2, 2, temperature=0.5, margin_pos=0.9, margin_neg=0.2)
    with torch.no_grad():
        head.proxy.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    emb = torch.tensor([[1.0, 0.05], [0.05, 1.0]], requires_grad=True)  # at their proxies, orthogonal
    loss = head(emb, torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(np.log(2.0), abs=1e-6)  # both terms clamped: -log(e^0 / (e^0 + e^0))
    (g,) = torch.autograd.grad(loss, emb)
    assert torch.all(g == 0)


def _ce(logits, y):
    logits = logits - logits.max(1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def test_tacgan_twin_classifier_terms():
    emb_r, y = _data(seed=2)
    emb_f, y_f = _data(seed=3)
    head = build_head("tacgan", 6, 3)
    w, b = head.fc.weight.detach().double().numpy(), head.fc.bias.detach().double().numpy()
    wm, bm = head.fc_mi.weight.detach().double().numpy(), head.fc_mi.bias.detach().double().numpy()
    er, ef = emb_r.double().numpy(), emb_f.double().numpy()
    d = _ce(er @ w.T + b, y.numpy()) + _ce(ef @ wm.T + bm, y_f.numpy())
    g = _ce(ef @ w.T + b, y_f.numpy()) - _ce(ef @ wm.T + bm, y_f.numpy())  # minus: G maximises the twin's loss
    assert head.d_loss(emb_r, y, emb_f, y_f).item() == pytest.approx(d, rel=1e-5)
    assert head.g_loss(emb_f, y_f).item() == pytest.approx(g, rel=1e-5)


# ------------------------------------------------------------------------------------------- DiffAugment
def test_diffaugment_policies_and_errors():
    from gan_lab.augment import DiffAugment
    from gan_lab.registry import ConfigError

    x = torch.rand(4, 3, 16, 16) * 2 - 1
    assert torch.equal(DiffAugment("")(x), x)  # off: identity
    assert DiffAugment(["color", "cutout"]).policies == DiffAugment("color,cutout").policies == ("color", "cutout")
    with pytest.raises(ConfigError, match="'zoom' is not a policy; allowed: color, translation, cutout"):
        DiffAugment(["color", "zoom"])
    aug = DiffAugment(["color", "translation", "cutout"])
    torch.manual_seed(0)
    a = aug(x)
    torch.manual_seed(0)
    assert torch.equal(aug(x), a)  # the same draws from the same stream


def test_translation_shifts_by_whole_pixels_with_zero_padding():
    from gan_lab.augment import translation

    x = torch.arange(1, 1 + 2 * 16 * 16, dtype=torch.float32).view(2, 1, 16, 16)
    torch.manual_seed(3)
    out = translation(x)
    for i in range(2):  # every output pixel is an input pixel of the same image or 0 (integer shift, no blur)
        vals = set(x[i].flatten().tolist()) | {0.0}
        assert set(torch.round(out[i]).flatten().tolist()) <= vals
        torch.testing.assert_close(out[i], torch.round(out[i]), atol=1e-3, rtol=0)
        assert (out[i] == 0).float().mean() <= 1 - (14 / 16) ** 2 + 1e-6  # at most 2 px of 16 in each axis


def test_cutout_zeroes_one_half_size_square_and_color_keeps_gradients():
    from gan_lab.augment import color, cutout

    x = torch.ones(64, 1, 16, 16)
    torch.manual_seed(1)
    zero = (cutout(x) == 0).float().flatten(1).sum(1)
    assert zero.max() == 64 and zero.min() >= 16  # an 8x8 square, clipped at the borders
    x = (torch.rand(4, 3, 8, 8) * 2 - 1).requires_grad_(True)
    (g,) = torch.autograd.grad(color(x).sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_diffaugment_reaches_the_discriminators_inputs_in_training():
    from test_training_steps import batch, build

    m = build("translation", "softmax")
    m.augment.policies = ("cutout",)
    x, y = batch()
    torch.manual_seed(0)
    out, _ = m.critic(x, y)
    torch.manual_seed(0)
    from gan_lab.augment import cutout

    torch.testing.assert_close(out, m.D(cutout(x))[0])
