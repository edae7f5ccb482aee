"""Albedo metrics against hand-worked cases, published test data and independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from gan_lab.metrics.albedo import (ALBEDO_METRICS, ciede2000, compute_albedo_metrics, delta_e2000, lmse, psnr,
                                    si_mse, ssim, ssim_map)
from gan_lab.registry import ConfigError

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: (L1, a1, b1, L2, a2, b2, ΔE00).
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def _rand(shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_ciede2000_matches_sharma_table():
    rows = torch.tensor(SHARMA, dtype=torch.float64)
    de = ciede2000(rows[:, :3], rows[:, 3:6])
    assert torch.allclose(de, rows[:, 6], atol=5e-5), (de - rows[:, 6]).abs().max()
    assert torch.allclose(ciede2000(rows[:, 3:6], rows[:, :3]), de, atol=1e-9)  # symmetric


def test_si_mse_zero_for_perfect_and_invariant_to_global_scale():
    t = _rand((2, 3, 16, 16)) * 0.8 + 0.1
    m = (_rand((2, 1, 16, 16), 1) > 0.3).double()
    p = (t + 0.1 * _rand((2, 3, 16, 16), 2)).clamp(0, 1)
    assert torch.allclose(si_mse(t, t, m), torch.zeros(2, dtype=torch.float64), atol=1e-20)
    assert torch.allclose(si_mse(0.37 * t, t, m), torch.zeros(2, dtype=torch.float64), atol=1e-20)
    base = si_mse(p, t, m)
    assert (base > 1e-5).all()
    for s in (0.25, 3.0):
        assert torch.allclose(si_mse(s * p, t, m), base, rtol=1e-10)
    # per channel: a different scale on each channel is also forgiven
    assert torch.allclose(si_mse(t * torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1, 1), t, m),
                          torch.zeros(2, dtype=torch.float64), atol=1e-20)
    # only masked pixels count: garbage outside the mask changes nothing
    p2 = torch.where(m.bool().expand_as(p), p, torch.full_like(p, 5.0))
    assert torch.allclose(si_mse(p2, t, m), base)


def test_si_mse_hand_computed():
    # one image, one channel, pixels (p, t) = (1, 1), (1, 3): alpha = 4/2 = 2, errors (1, 1) -> MSE 1
    p = torch.tensor([1.0, 1.0]).view(1, 1, 1, 2)
    t = torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)
    assert si_mse(p, t).item() == pytest.approx(1.0)


def test_lmse_hand_computed():
    # 1 channel, 20 x 30 image: windows at columns 0 and 10 (rows: only 0), each 20 x 20.
    # Prediction 1 everywhere; target 1 in columns < 15, 3 in columns >= 15.
    t = torch.ones(1, 1, 20, 30)
    t[..., 15:] = 3.0
    p = torch.ones(1, 1, 20, 30)
    # window 1 (cols 0-19): 300 pixels of 1, 100 of 3 -> alpha = (300 + 300) / 400 = 1.5,
    #   ssq = 300 * 0.25 + 100 * 2.25 = 300; energy = 300 + 900 = 1200
    # window 2 (cols 10-29): 100 of 1, 300 of 3 -> alpha = (100 + 900) / 400 = 2.5,
    #   ssq = 100 * 2.25 + 300 * 0.25 = 300; energy = 100 + 2700 = 2800
    assert lmse(p, t).item() == pytest.approx(600 / 4000)
    # a mask removing columns >= 25: window 2 keeps 100 ones and 200 threes: alpha = 700/300,
    #   ssq = 100 (4/3)^2 + 200 (2/3)^2 = 1600/9 + 800/9 = 2400/9; energy = 100 + 1800 = 1900
    m = torch.ones(1, 1, 20, 30)
    m[..., 25:] = 0
    assert lmse(p, t, m).item() == pytest.approx((300 + 2400 / 9) / (1200 + 1900))
    # global scale invariance and zero for a perfect (scaled) prediction
    assert lmse(2 * t, t).item() == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(lmse(p[..., :10, :10], t[..., :10, :10]).item())  # smaller than a window


def test_psnr_matches_numpy():
    t, p = _rand((2, 3, 12, 10)), _rand((2, 3, 12, 10), 3)
    m = (_rand((2, 1, 12, 10), 4) > 0.5).double()
    got = psnr(p, t, m)
    for i in range(2):
        sel = m[i, 0].numpy().astype(bool)
        diff = (p[i].numpy() - t[i].numpy())[:, sel]
        assert got[i].item() == pytest.approx(10 * np.log10(1.0 / np.mean(diff**2)), rel=1e-10)
    assert psnr(t, t, m)[0].item() == pytest.approx(100.0)


def test_ssim_matches_scipy_and_kornia_away_from_borders():
    t = _rand((1, 3, 32, 32))
    p = (t + 0.2 * _rand((1, 3, 32, 32), 5)).clamp(0, 1)
    ours = ssim_map(p, t)[0].numpy()
    for c in range(3):
        a, b = p[0, c].numpy(), t[0, c].numpy()
        f = lambda x: gaussian_filter(x, 1.5, truncate=3.5, mode="reflect")  # radius 5: an 11-tap window
        mu_a, mu_b = f(a), f(b)
        va, vb, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
        ref = ((2 * mu_a * mu_b + 1e-4) * (2 * cov + 9e-4)) / ((mu_a**2 + mu_b**2 + 1e-4) * (va + vb + 9e-4))
        np.testing.assert_allclose(ours[c, 5:-5, 5:-5], ref[5:-5, 5:-5], atol=1e-10)
    from kornia.metrics import ssim as kornia_ssim

    k = kornia_ssim(p.float(), t.float(), 11, max_val=1.0)[0].double().numpy()
    np.testing.assert_allclose(ours[:, 5:-5, 5:-5], k[:, 5:-5, 5:-5], atol=1e-4)
    assert ssim(t, t).item() == pytest.approx(1.0)
    assert 0.9 < ssim(p, t).item() < 0.99  # mild noise
    assert ssim(_rand((1, 3, 32, 32), 9), t).item() < 0.1  # unrelated images


def test_delta_e2000_zero_after_scale_and_positive_for_colour_shift():
    t = _rand((1, 3, 8, 8)) * 0.5 + 0.2
    assert delta_e2000(0.6 * t, t).item() == pytest.approx(0.0, abs=1e-3)  # a global scale is forgiven
    shifted = t.clone()
    shifted[:, 0] = (shifted[:, 0] + 0.2).clamp(0, 1)  # add red: not a scale
    assert delta_e2000(shifted, t).item() > 2.0


def test_registry_and_compute():
    assert {"psnr", "ssim", "si_mse", "lmse", "delta_e2000"} <= set(ALBEDO_METRICS.names())
    t = _rand((3, 3, 24, 24))
    out = compute_albedo_metrics(["psnr", "si_mse", "lmse"], t, t)
    assert set(out) == {"psnr", "si_mse", "lmse"} and all(v.shape == (3,) for v in out.values())
    with pytest.raises(ConfigError, match="eval.metrics='fid'.*si_mse"):
        compute_albedo_metrics(["fid"], t, t)
