"""Fréchet distance, streaming feature statistics and the kernel (KID) distance between feature sets.

Backbone-agnostic: these functions see only feature vectors. Which network made the features
decides the metric's name (``fid`` on Inception, ``fid_clf`` on the evaluation classifier); see
``gan_lab.metrics.backbones``.

``frechet_distance`` uses the symmetric form tr(sqrt(sqrt(S1)·S2·sqrt(S1))) computed with two
symmetric eigen-decompositions. It equals tr(sqrt(S1·S2)) (the two matrices are similar) but,
unlike ``scipy.linalg.sqrtm(S1 @ S2)``, it never needs a complex square root of a non-symmetric
matrix, and stays correct when a covariance is rank-deficient (fewer samples than dimensions).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor


def _as_f64(x) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _clip_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off removed: below dim·eps·max|w| (numpy's rank tolerance) -> 0.

    Without this a rank-deficient covariance (fewer samples than dimensions) leaves dozens of
    ±1e-16-sized "zero" eigenvalues whose square roots (1e-8 each) add up to visible error.
    """
    tol = w.size * np.finfo(np.float64).eps * max(float(np.abs(w).max(initial=0.0)), 1e-300)
    return np.where(w > tol, w, 0.0)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via eigh."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(_clip_eigenvalues(w))) @ v.T


def trace_sqrt_product(sigma1, sigma2) -> float:
    """tr(sqrt(S1·S2)) for PSD S1, S2, as tr(sqrt(sqrt(S1)·S2·sqrt(S1)))."""
    s1, s2 = _as_f64(sigma1), _as_f64(sigma2)
    r = _psd_sqrt(s1)
    m = r @ ((s2 + s2.T) / 2) @ r
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(_clip_eigenvalues(w)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    d² = ||mu1 - mu2||² + tr(S1) + tr(S2) - 2·tr(sqrt(S1·S2)).
    Mathematically >= 0; round-off below 1e-9 of the covariances' scale is reported as 0.
    """
    mu1, mu2 = _as_f64(mu1).reshape(-1), _as_f64(mu2).reshape(-1)
    s1, s2 = _as_f64(sigma1), _as_f64(sigma2)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    diff = mu1 - mu2
    tr1, tr2 = float(np.trace(s1)), float(np.trace(s2))
    value = float(diff @ diff) + tr1 + tr2 - 2.0 * trace_sqrt_product(s1, s2)
    if value < 0 and -value <= 1e-9 * (tr1 + tr2 + float(diff @ diff) + 1.0):
        value = 0.0
    return value


class FeatureStats:
    """Streaming mean/covariance of feature vectors: float64 count, sum and sum of outer products.

    Mergeable: ``merge`` adds another accumulator; for a multi-process gather, all-reduce (sum) the
    three tensors of ``tensors()`` and rebuild with ``FeatureStats.from_tensors``.
    """

    def __init__(self, dim: int | None = None):
        self.dim = dim
        self.count = torch.zeros((), dtype=torch.float64)
        self.sum: Tensor | None = None
        self.outer: Tensor | None = None
        if dim is not None:
            self._alloc(dim)

    def _alloc(self, dim: int) -> None:
        self.dim = dim
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)

    @property
    def n(self) -> int:
        return int(self.count.item())

    def update(self, features: Tensor) -> "FeatureStats":
        f = torch.as_tensor(features).detach().cpu().double().reshape(len(features), -1)
        if self.sum is None:
            self._alloc(f.shape[1])
        if f.shape[1] != self.dim:
            raise ValueError(f"features have {f.shape[1]} dims, accumulator has {self.dim}")
        self.count += f.shape[0]
        self.sum += f.sum(0)
        self.outer += f.T @ f
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        if other.sum is None:
            return self
        if self.sum is None:
            self._alloc(other.dim)
        self.count += other.count
        self.sum += other.sum
        self.outer += other.outer
        return self

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        """(count, sum, outer-product sum): sum these across processes to gather."""
        if self.sum is None:
            raise ValueError("FeatureStats is empty: call update() first")
        return self.count, self.sum, self.outer

    @classmethod
    def from_tensors(cls, count: Tensor, sum_: Tensor, outer: Tensor) -> "FeatureStats":
        stats = cls(int(sum_.numel()))
        stats.count = count.detach().cpu().double().reshape(())
        stats.sum = sum_.detach().cpu().double().clone()
        stats.outer = outer.detach().cpu().double().clone()
        return stats

    def mean(self) -> np.ndarray:
        if self.n < 1:
            raise ValueError("FeatureStats.mean needs at least one sample")
        return (self.sum / self.count).numpy()

    def cov(self) -> np.ndarray:
        """Unbiased sample covariance (divides by n - 1, as numpy.cov)."""
        if self.n < 2:
            raise ValueError(f"FeatureStats.cov needs at least two samples, has {self.n}")
        mu = self.sum / self.count
        c = (self.outer - self.count * torch.outer(mu, mu)) / (self.count - 1)
        return ((c + c.T) / 2).numpy()


def fid_from_features(feats1, feats2) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets (rows = samples).

    With fewer samples than dimensions (per-class FID on 2048-d Inception features) it uses
    S1 = AᵀA, S2 = BᵀB (A, B the centred samples / sqrt(n - 1)): tr sqrt(S1·S2) is then the nuclear
    norm of the small n1×n2 matrix A·Bᵀ. Same value, exact, and no d×d eigen-decomposition.
    """
    x, y = _as_f64(feats1), _as_f64(feats2)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sets must be (n, d) with the same d, got {x.shape} and {y.shape}")
    (n1, d), n2 = x.shape, len(y)
    if min(n1, n2) < 2:
        raise ValueError(f"FID needs at least two samples per set, got {n1} and {n2}")
    if min(n1, n2) >= d:
        a, b = FeatureStats().update(torch.from_numpy(x)), FeatureStats().update(torch.from_numpy(y))
        return frechet_distance(a.mean(), a.cov(), b.mean(), b.cov())
    mu1, mu2 = x.mean(0), y.mean(0)
    a, b = (x - mu1) / np.sqrt(n1 - 1), (y - mu2) / np.sqrt(n2 - 1)
    diff = mu1 - mu2
    tr1, tr2 = float((a * a).sum()), float((b * b).sum())
    value = float(diff @ diff) + tr1 + tr2 - 2.0 * float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    return 0.0 if value < 0 and -value <= 1e-9 * (tr1 + tr2 + float(diff @ diff) + 1.0) else value


class FrechetReference:
    """A fixed real feature set prepared once (mean, trace, √Σ) for many Fréchet distances against it, as a
    bootstrap needs: each ``distance`` then costs one eigen- or singular-value decomposition. Same value as
    ``fid_from_features(fake, real)`` (tr √(√Σr·Σf·√Σr) = tr √(Σf·Σr)); tested against it."""

    def __init__(self, real):
        y = _as_f64(real)
        if y.ndim != 2 or len(y) < 2:
            raise ValueError(f"the reference must be (n >= 2, d) features, got {y.shape}")
        self.mu = y.mean(0)
        cov = np.cov(y, rowvar=False).reshape(y.shape[1], y.shape[1])
        self.trace = float(np.trace(cov))
        self.sqrt = _psd_sqrt(cov)

    def distance(self, fake) -> float:
        x = _as_f64(fake)
        if x.ndim != 2 or x.shape[1] != self.mu.size or len(x) < 2:
            raise ValueError(f"fake features must be (n >= 2, {self.mu.size}), got {x.shape}")
        mu = x.mean(0)
        a = (x - mu) / np.sqrt(len(x) - 1)  # Σf = aᵀa
        b = a @ self.sqrt  # √Σr Σf √Σr = bᵀb: its eigenvalues are b's squared singular values
        if len(x) < x.shape[1]:
            tr_sqrt = float(np.linalg.svd(b, compute_uv=False).sum())
        else:
            w = np.linalg.eigvalsh(b.T @ b)
            tr_sqrt = float(np.sqrt(_clip_eigenvalues(w)).sum())
        diff = mu - self.mu
        tr_f = float((a * a).sum())
        value = float(diff @ diff) + tr_f + self.trace - 2.0 * tr_sqrt
        return 0.0 if value < 0 and -value <= 1e-9 * (tr_f + self.trace + float(diff @ diff) + 1.0) else value


def _poly_kernel(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef: float) -> np.ndarray:
    return (x @ y.T * gamma + coef) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                  coef: float = 1.0) -> float:
    """Unbiased MMD² with the polynomial kernel k(a, b) = (gamma·a·b + coef)^degree, gamma = 1/dim by default."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    m, n = len(x), len(y)
    kxx = _poly_kernel(x, x, degree, gamma, coef)
    kyy = _poly_kernel(y, y, degree, gamma, coef)
    kxy = _poly_kernel(x, y, degree, gamma, coef)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kid(feats1, feats2, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        gamma: float | None = None, coef: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018) on any features: (mean, std) over subsets.

    Each subset draws ``min(subset_size, len(feats1), len(feats2))`` rows without replacement from
    each set and computes the unbiased polynomial-kernel MMD²; std uses ddof=0 like torch-fidelity
    and torchmetrics. Deterministic given ``seed``.
    """
    x, y = _as_f64(feats1), _as_f64(feats2)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    values: Sequence[float] = [
        mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)],
                      degree, gamma, coef)
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
