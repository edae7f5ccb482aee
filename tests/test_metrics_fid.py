"""Fréchet distance, FeatureStats, KID and the feature backbones, against independent computations."""

from __future__ import annotations

import builtins
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from gan_lab.metrics.backbones import (
    BACKBONES, BackboneUnavailableError, ClassifierFeatures, create_backbone, to_uint8_rgb,
)
from gan_lab.metrics.fid import FeatureStats, fid_from_features, frechet_distance, kid, mmd2_unbiased
from gan_lab.registry import ConfigError


def scipy_fid(mu1, s1, mu2, s2) -> float:
    """The textbook formula with scipy's (complex-capable) matrix square root of the non-symmetric S1·S2."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns on singular input
        covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_matches_scipy_on_random_spd(seed):
    rng = np.random.default_rng(seed)
    d = 24
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d) * 2.0
    assert not np.allclose(s1 @ s2, (s1 @ s2).T)  # the product is not symmetric
    ours, ref = frechet_distance(mu1, s1, mu2, s2), scipy_fid(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, rel=1e-9)
    assert ours > 1.0


@pytest.mark.parametrize("n,d", [(20, 64), (10, 128), (200, 16)])
def test_frechet_rank_deficient_matches_nuclear_norm_and_scipy(n, d):
    """With S1 = AᵀA and S2 = BᵀB, tr sqrt(S1·S2) is the nuclear norm of A·Bᵀ: an exact, well-conditioned reference."""
    rng = np.random.default_rng(n + d)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.5 + 0.3
    a, b = (x - x.mean(0)) / np.sqrt(n - 1), (y - y.mean(0)) / np.sqrt(n - 1)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    assert np.linalg.matrix_rank(s1) == min(n - 1, d)
    mu1, mu2 = x.mean(0), y.mean(0)
    exact = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.linalg.svd(a @ b.T, compute_uv=False).sum()
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(exact, rel=1e-11)
    # scipy's sqrtm of a singular non-symmetric product loses ~1e-6 relative accuracy: a loose check.
    assert ours == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-5)


def test_frechet_identical_stats_is_zero_even_rank_deficient():
    rng = np.random.default_rng(3)
    for n, d in [(500, 32), (20, 64)]:
        x = rng.normal(size=(n, d))
        s = np.cov(x, rowvar=False)
        assert abs(frechet_distance(x.mean(0), s, x.mean(0), s)) < 1e-9


def test_frechet_same_covariance_is_squared_mean_shift():
    rng = np.random.default_rng(4)
    s = np.cov(rng.normal(size=(20, 64)), rowvar=False)  # rank 19
    mu = rng.normal(size=64)
    delta = rng.normal(size=64)
    assert frechet_distance(mu, s, mu + delta, s) == pytest.approx(float(delta @ delta), rel=1e-10)


def test_frechet_accepts_torch_and_diagonal_closed_form():
    d1 = np.array([4.0, 1.0, 0.0, 9.0])
    d2 = np.array([1.0, 0.0, 5.0, 4.0])
    expected = d1.sum() + d2.sum() - 2 * np.sqrt(d1 * d2).sum()  # commuting (diagonal) covariances
    got = frechet_distance(torch.zeros(4), torch.diag(torch.tensor(d1)), torch.zeros(4), torch.diag(torch.tensor(d2)))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_feature_stats_matches_numpy_and_merges():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 12)) * 3 + 1
    whole = FeatureStats().update(torch.from_numpy(x))
    np.testing.assert_allclose(whole.mean(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(whole.cov(), np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
    a = FeatureStats().update(torch.from_numpy(x[:100]))
    b = FeatureStats().update(torch.from_numpy(x[100:250])).update(torch.from_numpy(x[250:]))
    merged = FeatureStats().merge(a).merge(b)
    assert merged.n == 300
    np.testing.assert_allclose(merged.cov(), whole.cov(), rtol=1e-10)
    # the all-reduce path: sum raw tensors, rebuild
    summed = [ta + tb for ta, tb in zip(a.tensors(), b.tensors())]
    rebuilt = FeatureStats.from_tensors(*summed)
    np.testing.assert_allclose(rebuilt.mean(), whole.mean(), rtol=1e-12)
    np.testing.assert_allclose(rebuilt.cov(), whole.cov(), rtol=1e-10)
    with pytest.raises(ValueError, match="two samples"):
        FeatureStats().update(torch.zeros(1, 3)).cov()


def test_fid_of_features_zero_with_itself_and_grows_with_shift():
    rng = np.random.default_rng(6)
    f = torch.from_numpy(rng.normal(size=(400, 32)))
    assert abs(fid_from_features(f, f)) < 1e-9
    u = torch.zeros(32, dtype=torch.float64)
    u[0] = 1.0
    values = [fid_from_features(f, f + s * u) for s in (0.5, 1.0, 2.0)]
    # same covariance: exactly the squared shift
    assert values == pytest.approx([0.25, 1.0, 4.0], rel=1e-9)


def test_fid_from_few_features_uses_exact_low_rank_path():
    """Fewer samples than dims (per-class FID): the n×n path agrees with the covariance path and scipy."""
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(25, 64)) * 0.8 + 0.2
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    stats_path = frechet_distance(x.mean(0), s1, y.mean(0), s2)
    assert fid_from_features(x, y) == pytest.approx(stats_path, rel=1e-11)
    assert fid_from_features(x, y) == pytest.approx(scipy_fid(x.mean(0), s1, y.mean(0), s2), rel=1e-5)
    assert abs(fid_from_features(x, x)) < 1e-9
    with pytest.raises(ValueError, match="two samples"):
        fid_from_features(x[:1], y)


def direct_mmd2(x, y):
    """Unbiased MMD² with k(a,b) = (a·b/d + 1)³, by explicit loops over pairs (Bińkowski et al. 2018, eq. 3)."""
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_matches_direct_unbiased_mmd():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(30, 8)), rng.normal(size=(30, 8)) + 0.5
    ref = direct_mmd2(x, y)
    assert mmd2_unbiased(x, y) == pytest.approx(ref, rel=1e-10)
    # one subset holding every sample (a permutation): the estimator is permutation-invariant
    mean, std = kid(x, y, subsets=1, subset_size=30, seed=0)
    assert mean == pytest.approx(ref, rel=1e-10) and std == 0.0
    assert ref > 0.05


def test_kid_subsets_deterministic_and_near_zero_for_same_distribution():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = y + 1.0
    same = kid(x, y, subsets=20, subset_size=100, seed=1)
    assert same == kid(x, y, subsets=20, subset_size=100, seed=1)
    assert same != kid(x, y, subsets=20, subset_size=100, seed=2)
    far = kid(x, shifted, subsets=20, subset_size=100, seed=1)
    assert abs(same[0]) < 3 * same[1] + 0.01
    assert far[0] > 20 * abs(same[0]) and far[0] > 0.1


def test_mmd_matches_torchmetrics_formula():
    from torchmetrics.image.kid import poly_mmd

    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(50, 10)), rng.normal(size=(50, 10)) * 1.3
    tm = float(poly_mmd(torch.from_numpy(x), torch.from_numpy(y), degree=3))
    assert mmd2_unbiased(x, y) == pytest.approx(tm, rel=1e-9)


# ---------------------------------------------------------------- backbones


class FeatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
        self.cache_key = "abc123"

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.features(x)


def test_classifier_backbone_batches_and_names_itself():
    torch.manual_seed(0)
    net = FeatNet()
    x = torch.rand(37, 3, 8, 8) * 2 - 1
    bb = create_backbone("classifier", model=net, batch_size=10)
    feats = bb(x)
    assert feats.dtype == torch.float64 and feats.shape == (37, 5)
    torch.testing.assert_close(feats, net.features(x).double().detach(), rtol=1e-6, atol=1e-6)
    assert bb.name == "eval-classifier:abc123"
    assert isinstance(bb, ClassifierFeatures)
    assert set(BACKBONES.names()) >= {"classifier", "inception"}
    with pytest.raises(ConfigError, match="eval.backbone"):
        create_backbone("resnet")


def test_uint8_conversion_rounds_and_repeats_gray():
    x = torch.tensor([-1.0, 0.0, 1.0, 0.5]).view(1, 1, 2, 2)
    u = to_uint8_rgb(x)
    assert u.dtype == torch.uint8 and u.shape == (1, 3, 2, 2)
    assert u[0, :, 0, 0].tolist() == [0, 0, 0] and u[0, 2].flatten().tolist() == [0, 128, 255, 191]


@pytest.fixture
def no_torch_fidelity(monkeypatch):
    """Make ``import torch_fidelity`` fail, as on a machine without the extra."""
    real_import = builtins.__import__
    for name in list(sys.modules):
        if name.startswith("torch_fidelity"):
            monkeypatch.delitem(sys.modules, name)

    def fake_import(name, *args, **kwargs):
        if name.startswith("torch_fidelity"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_inception_unavailable_gives_clear_error(no_torch_fidelity, tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    with pytest.raises(BackboneUnavailableError) as err:
        create_backbone("inception", weights=str(weights))
    msg = str(err.value)
    assert "torch-fidelity" in msg and "pip install gan_lab[inception]" in msg and "eval.inception_weights" in msg
    assert isinstance(err.value, ConfigError)  # the CLI prints it as one line


def test_inception_missing_weights_file_named(tmp_path):
    with pytest.raises(BackboneUnavailableError, match="eval.inception_weights=.*nope.pth is not a file"):
        create_backbone("inception", weights=str(tmp_path / "nope.pth"))


def test_inception_resize_value_checked(tmp_path):
    with pytest.raises(ConfigError, match="eval.inception_resize='bicubic'.*legacy, antialias"):
        create_backbone("inception", resize="bicubic")


def _torch_fidelity_or_skip():
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except Exception as e:  # not installed, or installed without an importable torchvision
        pytest.skip(f"torch-fidelity not importable here ({type(e).__name__}: {e})")
    return FeatureExtractorInceptionV3


def test_inception_plumbing_with_random_weights(tmp_path, monkeypatch):
    cls = _torch_fidelity_or_skip()
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    # Build the architecture without any download: skip loading once, save the random init to a file.
    torch.manual_seed(0)
    with monkeypatch.context() as m:
        m.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(cls, "load_state_dict", lambda self, sd, *a, **k: None)
        net = cls("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception_random.pth"
    torch.save(net.state_dict(), weights)

    legacy = create_backbone("inception", weights=str(weights), resize="legacy", device="cpu")
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    y = torch.rand(6, 1, 16, 16) * 2 - 1
    fx, fy = legacy(x), legacy(y)
    assert fx.shape == (6, 2048) and fx.dtype == torch.float64 and torch.isfinite(fx).all()
    assert np.isfinite(fid_from_features(fx, fy))
    assert legacy.info()["inception_resize"] == "legacy" and "resize=legacy" in legacy.name
    anti = create_backbone("inception", weights=str(weights), resize="antialias", device="cpu")
    fa = anti(x)
    assert (fa - fx).abs().max() > 1e-3 * fx.abs().max()  # the two resize paths really differ


class _FakeInception(nn.Module):
    """Stands in for torchmetrics' NoTrainInceptionV3 (records its arguments); new torchmetrics (>= 1.8)."""

    built: list = []

    def __init__(self, name, features_list, feature_extractor_weights_path=None, antialias=True):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        _FakeInception.built.append({"path": feature_extractor_weights_path, "antialias": antialias})

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.size(1) == 3  # the standard protocol: uint8 RGB in
        return self.lin(x.float().mean((2, 3)))


class _OldFakeInception(_FakeInception):
    """torchmetrics < 1.8: no antialias switch (always the legacy TF-1.x resize)."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None):
        nn.Module.__init__(self)
        self.lin = nn.Linear(3, 4)
        _FakeInception.built.append({"path": feature_extractor_weights_path, "antialias": "absent"})


@pytest.mark.parametrize("cls", [_FakeInception, _OldFakeInception])
def test_inception_resize_is_pinned_passed_and_recorded(cls, tmp_path, monkeypatch):
    import gan_lab.metrics.backbones as bb
    from gan_lab.metrics.backbones import check_inception

    monkeypatch.setattr(bb, "_inception_class", lambda: cls)
    weights = tmp_path / "weights-inception.pth"
    weights.write_bytes(b"stand-in")
    _FakeInception.built.clear()
    legacy = create_backbone("inception", weights=str(weights), resize="legacy", device="cpu")
    feats = legacy(torch.rand(5, 1, 8, 8) * 2 - 1)
    assert feats.shape == (5, 4) and feats.dtype == torch.float64
    expected_flag = False if cls is _FakeInception else "absent"
    assert _FakeInception.built == [{"path": str(weights), "antialias": expected_flag}]
    assert legacy.info() == {"inception_resize": "legacy", "inception_weights": "weights-inception.pth"}
    assert "resize=legacy" in legacy.name
    check_inception(str(weights), "legacy")
    if cls is _FakeInception:
        anti = create_backbone("inception", weights=str(weights), resize="antialias", device="cpu")
        assert _FakeInception.built[-1]["antialias"] is True and anti.info()["inception_resize"] == "antialias"
        check_inception(str(weights), "antialias")
    else:  # asking an old torchmetrics for the new resize is an error, not a silent legacy resize
        for make in (lambda: create_backbone("inception", weights=str(weights), resize="antialias"),
                     lambda: check_inception(str(weights), "antialias")):
            with pytest.raises(ConfigError, match="torchmetrics >= 1.8"):
                make()


def test_inception_without_weights_cache_or_network_fails_before_training(tmp_path, monkeypatch):
    """No eval.inception_weights, nothing in torch's hub cache, download host unreachable: refused now,
    not at the final evaluation after a long run. With the file cached, or the host reachable, it passes."""
    import gan_lab.metrics.backbones as bb
    from gan_lab.metrics.backbones import BackboneUnavailableError, check_inception

    monkeypatch.setattr(bb, "_inception_class", lambda: _FakeInception)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(bb, "download_reachable", lambda *a, **k: False)
    with pytest.raises(BackboneUnavailableError, match="cannot be reached") as e:
        check_inception(None, "legacy")
    assert str(tmp_path / "hub" / "checkpoints" / bb.INCEPTION_WEIGHTS_FILE) in str(e.value)
    monkeypatch.setattr(bb, "download_reachable", lambda *a, **k: True)
    check_inception(None, "legacy")  # a connected machine: torchmetrics will download
    monkeypatch.setattr(bb, "download_reachable", lambda *a, **k: False)
    cached = tmp_path / "hub" / "checkpoints" / bb.INCEPTION_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stand-in")
    check_inception(None, "legacy")  # offline, but cached


def test_frechet_reference_equals_fid_from_features():
    """The bootstrap's fast path against a prepared reference is the same distance as the exact path."""
    from gan_lab.metrics.fid import FrechetReference, fid_from_features

    rng = np.random.default_rng(7)
    real = rng.normal(size=(108, 32)) * rng.uniform(0.1, 2.0, size=32)
    ref = FrechetReference(real)
    for n in (3, 20, 31, 32, 33, 200):  # fewer, as many and more samples than dimensions
        fake = rng.normal(size=(n, 32)) + 0.3
        assert ref.distance(fake) == pytest.approx(fid_from_features(fake, real), rel=1e-8, abs=1e-9)
    assert ref.distance(real) == pytest.approx(0.0, abs=1e-8)
