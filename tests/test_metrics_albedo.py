"""Albedo metrics against hand-worked cases, published test data and independent (numpy) computations.

The headline metrics fit ONE achromatic scale in linear light (gan_lab.metrics.albedo_fit): a colour cast
must cost on every one of them, a change of the light's intensity must not; the ``*_pc`` variants (a scale
per sRGB channel) forgive the cast, which is why they are separate columns.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from gan_lab.metrics.albedo import (ALBEDO_METRICS, ciede2000, compute_albedo_metrics, delta_e2000, delta_e2000_pc,
                                    lmse, lmse_pc, psnr, scale_fit, sharpness, si_mse, si_mse_pc, ssim, ssim_map,
                                    srgb_to_lab)
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


# ---- an independent numpy re-implementation of the fit (IEC 61966-2-1 sRGB, one LS scalar in linear light)

def np_decode(x):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((np.maximum(x, 0.04045) + 0.055) / 1.055) ** 2.4)


def np_encode(x):
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.maximum(x, 0.0031308) ** (1 / 2.4) - 0.055)


def np_fit(p, t, m, min_energy=0.0):
    """One image: p, t (C, H, W) sRGB, m (H, W) bool -> sRGB(clip(alpha·lin(p), 0, 1)), alpha over m and channels."""
    lp, lt = np_decode(p), np_decode(t)
    den = (lp[:, m] ** 2).sum()
    alpha = (lp[:, m] * lt[:, m]).sum() / den if den > max(min_energy, 1e-12) else 0.0
    return np_encode(np.clip(alpha * lp, 0, 1))


def np_lmse(p, t, m, window=20, stride=10):
    """One image, loop over the windows (Grosse et al.'s layout), each with its own achromatic linear-light fit."""
    ssq = total = 0.0
    for y in range(0, t.shape[1] - window + 1, stride):
        for x in range(0, t.shape[2] - window + 1, stride):
            sl = (slice(None), slice(y, y + window), slice(x, x + window))
            mw = m[y:y + window, x:x + window]
            f = np_fit(p[sl], t[sl], mw, min_energy=1e-5)
            ssq += ((f - t[sl])[:, mw] ** 2).sum()
            total += (t[sl][:, mw] ** 2).sum()
    return ssq / total


def label_like(n=2, size=40, seed=0):
    """Flat colour patches (4×4 cells) with a little texture, sRGB in [0.05, 0.75]: a linear gain of ×1.6
    stays below 1, so the gains tested here clip nothing; plus a random mask (about 70 % of the pixels)."""
    cells = _rand((n, 3, 4, 4), seed) * 0.55 + 0.12
    t = torch.nn.functional.interpolate(cells, size=(size, size), mode="nearest")
    t = (t + 0.06 * (_rand((n, 3, size, size), seed + 1) - 0.5)).clamp(0.05, 0.75)
    m = (_rand((n, 1, size, size), seed + 2) > 0.3).double()
    return t, m


def lin(x):
    return torch.from_numpy(np_decode(x.numpy()))


def srgb(x):
    return torch.from_numpy(np_encode(x.numpy()))


def light_gain(t, k):
    """The target under a light k times as strong (k per channel: a coloured light), i.e. ×k in linear light."""
    return srgb(lin(t) * torch.as_tensor(k, dtype=torch.float64).view(1, -1, 1, 1))


def red_cast(t, k=0.7):
    out = t.clone()
    out[:, 0] *= k
    return out


COLOUR_METRICS = {"si_mse": (si_mse, "min"), "lmse": (lmse, "min"), "delta_e2000": (delta_e2000, "min"),
                  "psnr": (psnr, "max"), "ssim": (ssim, "max")}
CASTS = {"red x0.7 (sRGB)": red_cast,
         "purple light": lambda t: light_gain(t, [1.0, 0.7, 1.25]),
         "blue light": lambda t: light_gain(t, [0.75, 0.9, 1.3]),
         "red x0.7 under half the light": lambda t: red_cast(light_gain(t, 0.5))}


def test_transfer_functions_match_kornia_and_numpy_and_invert():
    from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

    from gan_lab.metrics.albedo_fit import linear_to_srgb, srgb_to_linear

    x = torch.linspace(0, 1, 3 * 1001, dtype=torch.float64).view(3, 1001, 1)  # kornia wants (*, 3, H, W)
    assert torch.allclose(srgb_to_linear(x), rgb_to_linear_rgb(x), atol=1e-12)
    assert torch.allclose(linear_to_srgb(x), linear_rgb_to_rgb(x), atol=1e-12)
    assert torch.allclose(srgb_to_linear(x), lin(x), atol=1e-15) and torch.allclose(linear_to_srgb(x), srgb(x), atol=1e-15)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)
    assert srgb_to_linear(torch.tensor(0.5, dtype=torch.float64)).item() == pytest.approx(0.214041, abs=1e-6)


def test_scale_fit_matches_numpy_and_uses_only_masked_pixels():
    t, m = label_like()
    p = (t * torch.tensor([1.1, 0.9, 1.0]).view(1, 3, 1, 1) + 0.05 * _rand(t.shape, 7)).clamp(0, 1)
    got = scale_fit(p, t, m)
    for i in range(2):
        ref = np_fit(p[i].numpy(), t[i].numpy(), m[i, 0].numpy() > 0.5)
        np.testing.assert_allclose(got[i].numpy(), ref, atol=1e-13)
    # garbage outside the mask changes neither the fit nor any metric (SSIM's window reaches outside: not it)
    p2 = torch.where(m.bool().expand_as(p), p, torch.full_like(p, 0.99))
    for f in (si_mse, lmse, delta_e2000, psnr):
        assert torch.allclose(f(p2, t, m), f(p, t, m), rtol=1e-12), f.__name__
    # a black prediction: alpha = 0, the error is the target's energy
    assert torch.allclose(si_mse(torch.zeros_like(t), t, m), (t**2 * m).sum((1, 2, 3)) / (3 * m.sum((1, 2, 3))))


def test_metrics_match_numpy_on_the_fitted_prediction():
    t, m = label_like(seed=3)
    p = (t + 0.08 * (_rand(t.shape, 4) - 0.5)).clamp(0, 1) * 0.8
    sel = [m[i, 0].numpy() > 0.5 for i in range(2)]
    fitted = [np_fit(p[i].numpy(), t[i].numpy(), sel[i]) for i in range(2)]
    mse = np.array([((fitted[i] - t[i].numpy())[:, sel[i]] ** 2).mean() for i in range(2)])
    np.testing.assert_allclose(si_mse(p, t, m).numpy(), mse, rtol=1e-10)
    np.testing.assert_allclose(psnr(p, t, m).numpy(), 10 * np.log10(1 / mse), rtol=1e-10)
    np.testing.assert_allclose(lmse(p, t, m).numpy(),
                               [np_lmse(p[i].numpy(), t[i].numpy(), sel[i]) for i in range(2)], rtol=1e-10)
    f = torch.from_numpy(np.stack(fitted))
    ssim_ref = [ssim_map(f, t)[i][:, torch.from_numpy(sel[i])].mean().item() for i in range(2)]
    np.testing.assert_allclose(ssim(p, t, m).numpy(), ssim_ref, rtol=1e-10)
    de = ciede2000(srgb_to_lab(f).permute(0, 2, 3, 1), srgb_to_lab(t).permute(0, 2, 3, 1))
    np.testing.assert_allclose(delta_e2000(p, t, m).numpy(), [de[i][torch.from_numpy(sel[i])].mean().item()
                                                              for i in range(2)], rtol=1e-10)
    assert (si_mse(p, t, m) > 1e-5).all()  # not a trivial case


@pytest.mark.parametrize("cast", list(CASTS))
def test_a_colour_cast_scores_worse_on_every_colour_metric(cast):
    """The issue's acceptance test: on EVERY albedo colour metric a cast image is worse than the uncast one,
    both for the target itself and for an imperfect (noisy, slightly blurred) prediction."""
    t, m = label_like(seed=5)
    noisy = torch.nn.functional.avg_pool2d(t, 3, 1, 1, count_include_pad=False) * 0.5 + t * 0.5
    noisy = (noisy + 0.03 * (_rand(t.shape, 6) - 0.5)).clamp(0, 1)
    for uncast in (t, noisy):
        cast_img = CASTS[cast](uncast)
        for name, (f, direction) in COLOUR_METRICS.items():
            good, bad = f(uncast, t, m), f(cast_img, t, m)
            worse = bad < good if direction == "max" else bad > good
            assert worse.all(), (cast, name, good.tolist(), bad.tolist())
    # and by a visible amount on the target itself: ΔE2000 of a 0.7× red cast is far above 1 (a JND)
    assert (delta_e2000(CASTS[cast](t), t, m) > 3.0).all()
    assert (psnr(CASTS[cast](t), t, m) < 35).all() and (si_mse(CASTS[cast](t), t, m) > 1e-4).all()


@pytest.mark.parametrize("k", [0.5, 1.6, 0.2])
def test_a_change_of_light_intensity_scores_zero(k):
    """The target under k× the light (decoded, ×k, re-encoded; nothing clips) is a perfect albedo."""
    t, m = label_like(seed=8)
    g = light_gain(t, k)
    assert not torch.allclose(g, t, atol=0.05)
    assert (delta_e2000(g, t, m) < 0.05).all() and (psnr(g, t, m) > 90).all() and (ssim(g, t, m) > 1 - 1e-9).all()
    assert (si_mse(g, t, m) < 1e-18).all() and (lmse(g, t, m) < 1e-18).all()
    assert torch.allclose(sharpness(g, t, m), torch.ones(2, dtype=torch.float64), rtol=1e-8)
    assert (delta_e2000(t, t, m) < 1e-3).all() and (psnr(t, t, m) == 100.0).all()
    # the per-channel fit on sRGB values does not restore a lighting gain: why it was replaced
    assert (delta_e2000_pc(g, t, m) > 0.1).all() and (si_mse_pc(g, t, m) > 1e-6).all()


def test_per_channel_variants_forgive_the_cast():
    """What the *_pc columns are: a per-channel gain, e.g. a 0.7× red cast, scores ~0 (so they cannot rank
    colour constancy; the headline metrics do)."""
    t, m = label_like(seed=9)
    cast = red_cast(t)
    assert (si_mse_pc(cast, t, m) < 1e-20).all() and (lmse_pc(cast, t, m) < 1e-20).all()
    assert (delta_e2000_pc(cast, t, m) < 1e-3).all()
    assert (delta_e2000(cast, t, m) > 3.0).all() and (si_mse(cast, t, m) > 1e-4).all() and (lmse(cast, t, m) > 1e-3).all()
    # the old hand-worked cases of the per-channel fit still hold
    p1 = torch.tensor([1.0, 1.0]).view(1, 1, 1, 2)
    assert si_mse_pc(p1, torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)).item() == pytest.approx(1.0)  # alpha 2, errors ±1
    assert torch.allclose(si_mse_pc(t * torch.tensor([0.5, 1.0, 2.0]).view(1, 3, 1, 1), t, m),
                          torch.zeros(2, dtype=torch.float64), atol=1e-20)


def test_si_mse_hand_computed():
    # sRGB values below 0.04045 are linear (c/12.92), so the fit is a plain ratio: p = (0.01, 0.01),
    # t = (0.01, 0.03) -> alpha = (1e-4 + 3e-4) / 2e-4 = 2, fitted (0.02, 0.02), errors (0.01, −0.01) -> MSE 1e-4
    p = torch.tensor([0.01, 0.01], dtype=torch.float64).view(1, 1, 1, 2)
    t = torch.tensor([0.01, 0.03], dtype=torch.float64).view(1, 1, 1, 2)
    assert si_mse(p, t).item() == pytest.approx(1e-4, rel=1e-9)
    assert psnr(p, t).item() == pytest.approx(40.0, rel=1e-9)
    # the fit is clamped at 1: p = (0.5, 0.5), t = (1, 1): alpha·lin(0.5) = 1 exactly; t = (1, 0.5) is not reachable
    assert si_mse(torch.tensor([0.5, 0.5]).view(1, 1, 1, 2), torch.tensor([1.0, 1.0]).view(1, 1, 1, 2)).item() < 1e-20


def test_lmse_hand_computed():
    # 1 channel, 20 x 30 image: windows at columns 0 and 10 (rows: only 0), each 20 x 20, all values in sRGB's
    # linear segment (≤ 0.04045, lin = c/12.92) so each window's fit is a plain ratio.
    # Prediction 0.01 everywhere; target 0.01 in columns < 15, 0.03 in columns >= 15 (×0.01 of the old case).
    t = torch.full((1, 1, 20, 30), 0.01)
    t[..., 15:] = 0.03
    p = torch.full((1, 1, 20, 30), 0.01)
    # window 1 (cols 0-19): 300 pixels of 1, 100 of 3 -> alpha = (300 + 300) / 400 = 1.5,
    #   ssq = 300 * 0.25 + 100 * 2.25 = 300; energy = 300 + 900 = 1200   (in units of 0.01²)
    # window 2 (cols 10-29): 100 of 1, 300 of 3 -> alpha = (100 + 900) / 400 = 2.5,
    #   ssq = 100 * 2.25 + 300 * 0.25 = 300; energy = 100 + 2700 = 2800
    assert lmse(p, t).item() == pytest.approx(600 / 4000, rel=1e-6)
    # a mask removing columns >= 25: window 2 keeps 100 ones and 200 threes: alpha = 700/300,
    #   ssq = 100 (4/3)^2 + 200 (2/3)^2 = 1600/9 + 800/9 = 2400/9; energy = 100 + 1800 = 1900
    m = torch.ones(1, 1, 20, 30)
    m[..., 25:] = 0
    assert lmse(p, t, m).item() == pytest.approx((300 + 2400 / 9) / (1200 + 1900), rel=1e-6)
    # the per-channel variant on the original (out-of-range) numbers: the same ratios, no clamp
    assert lmse_pc(p * 100, t * 100).item() == pytest.approx(600 / 4000)
    assert lmse_pc(p * 100, t * 100, m).item() == pytest.approx((300 + 2400 / 9) / (1200 + 1900))
    assert lmse(p * 3, t).item() == pytest.approx(600 / 4000, rel=1e-6)  # a gain in the linear segment is a light gain
    assert math.isnan(lmse(p[..., :10, :10], t[..., :10, :10]).item())  # smaller than a window
    assert math.isnan(lmse_pc(p[..., :10, :10], t[..., :10, :10]).item())


def test_psnr_matches_numpy_and_is_capped():
    t, p = _rand((2, 3, 12, 10)), _rand((2, 3, 12, 10), 3)
    m = (_rand((2, 1, 12, 10), 4) > 0.5).double()
    got = psnr(p, t, m)
    for i in range(2):
        sel = m[i, 0].numpy().astype(bool)
        diff = (np_fit(p[i].numpy(), t[i].numpy(), sel) - t[i].numpy())[:, sel]
        assert got[i].item() == pytest.approx(10 * np.log10(1.0 / np.mean(diff**2)), rel=1e-10)
    assert psnr(t, t, m)[0].item() == pytest.approx(100.0)


def test_ciede2000_matches_sharma_table():
    rows = torch.tensor(SHARMA, dtype=torch.float64)
    de = ciede2000(rows[:, :3], rows[:, 3:6])
    assert torch.allclose(de, rows[:, 6], atol=5e-5), (de - rows[:, 6]).abs().max()
    assert torch.allclose(ciede2000(rows[:, 3:6], rows[:, :3]), de, atol=1e-9)  # symmetric


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
    assert ssim(p, t).item() > ssim_map(p, t).mean().item()  # after the fit: p's brightness bias no longer costs


def test_delta_e2000_positive_for_a_colour_shift_and_an_srgb_scale_is_not_a_light_gain():
    t = _rand((1, 3, 8, 8)) * 0.5 + 0.2
    shifted = t.clone()
    shifted[:, 0] = (shifted[:, 0] + 0.2).clamp(0, 1)  # add red: not a scale
    assert delta_e2000(shifted, t).item() > 2.0 and delta_e2000_pc(shifted, t).item() > 2.0
    # 0.6× on sRGB values is not a change of light (that is ×k on linear values): not fully forgiven, though small
    assert 0.05 < delta_e2000(0.6 * t, t).item() < 2.0
    assert delta_e2000(light_gain(t, 0.6**2.2), t).item() < 0.01


def test_registry_and_compute():
    from gan_lab.albedo.evaluation import DEFAULT_METRICS
    from gan_lab.metrics.keys import load_all

    assert {"psnr", "ssim", "si_mse", "lmse", "delta_e2000", "sharpness"} == set(DEFAULT_METRICS)
    pc = {"si_mse_pc", "lmse_pc", "delta_e2000_pc"}
    assert pc <= set(ALBEDO_METRICS.names()) and not pc & set(DEFAULT_METRICS)
    keys = load_all()
    assert all("per-channel fit" in keys[k].label and keys[k].direction == "min" for k in pc)
    assert all("per-channel" not in keys[k].label for k in DEFAULT_METRICS)
    t = _rand((3, 3, 24, 24))
    out = compute_albedo_metrics(["psnr", "si_mse", "lmse", "delta_e2000_pc"], t, t)
    assert set(out) == {"psnr", "si_mse", "lmse", "delta_e2000_pc"} and all(v.shape == (3,) for v in out.values())
    assert all(v.dtype == torch.float64 for v in out.values())
    with pytest.raises(ConfigError, match="eval.metrics='fid'.*si_mse"):
        compute_albedo_metrics(["fid"], t, t)
