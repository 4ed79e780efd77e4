"""Fréchet distance: closed forms, numerics of the streaming statistics, behaviour on images."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from cxr_synth.metrics import (
    FeatureStats,
    FeatureStatsAccumulator,
    RandomConvBackbone,
    feature_stats,
    fid_from_samples,
    fid_warnings,
    frechet_distance,
    stats_from_features,
    trace_sqrt_product,
)
from tests.metrics import add_noise, blur


def _stats(mean, cov, n=100, backbone="b"):
    return FeatureStats(np.asarray(mean, float), np.asarray(cov, float), n, backbone)


def _random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_closed_form_for_gaussians_with_diagonal_covariances():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    value = frechet_distance(_stats(mu1, np.diag(var1)), _stats(mu2, np.diag(var2)))
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(7.25 + 4.0 + 1.0, rel=1e-12)  # 1 + 2.5^2; (1-3)^2 + (2-1)^2


def test_general_covariances_match_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a, b = _random_spd(rng, 6), _random_spd(rng, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    reference = (
        np.sum((mu1 - mu2) ** 2)
        + np.trace(a)
        + np.trace(b)
        - 2 * np.trace(scipy.linalg.sqrtm(a @ b)).real
    )
    assert frechet_distance(_stats(mu1, a), _stats(mu2, b)) == pytest.approx(reference, rel=1e-9)


def test_rank_deficient_covariances_match_the_svd_identity():
    # N < D: Tr((Sa Sb)^1/2) = sum of singular values of Xa Xb^T / sqrt((na-1)(nb-1)).
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=(5, 12)), rng.normal(size=(7, 12)) + 0.3
    ca, cb = xa - xa.mean(0), xb - xb.mean(0)
    expected = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(4 * 6)
    got = trace_sqrt_product(np.cov(xa, rowvar=False), np.cov(xb, rowvar=False))
    assert got == pytest.approx(expected, rel=1e-8)


def test_sampled_gaussians_approach_the_closed_form():
    rng = np.random.default_rng(2)
    mu2, var1, var2 = (
        np.array([1.0, 0.0, 2.0]),
        np.array([1.0, 2.0, 0.5]),
        np.array([2.0, 2.0, 1.0]),
    )
    acc1, acc2 = FeatureStatsAccumulator("g"), FeatureStatsAccumulator("g")
    for size in (1, 999, 5000, 14000):  # uneven batches
        acc1.update(rng.normal(size=(size, 3)) * np.sqrt(var1))
        acc2.update(mu2 + rng.normal(size=(size, 3)) * np.sqrt(var2))
    expected = np.sum(mu2**2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_distance(acc1.compute(), acc2.compute()) == pytest.approx(expected, abs=0.05)


def test_streaming_statistics_are_exact_even_with_a_large_mean():
    rng = np.random.default_rng(3)
    x = 1e7 + rng.normal(size=(3000, 4)) @ rng.normal(size=(4, 4))
    acc = FeatureStatsAccumulator()
    for start in range(0, 3000, 128):
        acc.update(x[start : start + 128])
    stats = acc.compute()
    assert stats.n == 3000
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-14)
    # sum(x x^T) - n mu mu^T would lose every digit here (values ~1e14 * 3000, eps ~1e-16).
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-7, atol=1e-7)


def test_feature_stats_round_trip(tmp_path):
    stats = FeatureStats(np.arange(3.0), np.eye(3) * 2, 42, "rand-vgg6-v1-x", resolution=64)
    again = FeatureStats.from_dict(stats.to_dict())
    path = tmp_path / "real_stats.npz"
    stats.save(path)
    loaded = FeatureStats.load(path)
    for other in (again, loaded):
        np.testing.assert_array_equal(other.mean, stats.mean)
        np.testing.assert_array_equal(other.cov, stats.cov)
        assert (other.n, other.backbone, other.resolution) == (42, "rand-vgg6-v1-x", 64)
    assert all(isinstance(v, np.ndarray) for v in stats.to_dict().values())


def test_fd_of_a_set_with_itself_is_zero_and_grows_with_noise_and_blur(random_backbone, phantoms64):
    real = phantoms64[:60]
    stats = feature_stats(random_backbone, real)
    assert fid_from_samples(stats, random_backbone, real) == pytest.approx(0.0, abs=1e-8)
    by_noise = [fid_from_samples(stats, random_backbone, add_noise(real, s)) for s in (5, 15, 40)]
    by_blur = [fid_from_samples(stats, random_backbone, blur(real, s)) for s in (0.5, 1.0, 2.0)]
    assert 0 < by_noise[0] and np.all(np.diff(by_noise) > 0), by_noise
    assert 0 < by_blur[0] and np.all(np.diff(by_blur) > 0), by_blur
    # Other real images are closer than heavily degraded copies of the same images.
    other_real = fid_from_samples(stats, random_backbone, phantoms64[120:180])
    assert other_real < by_noise[-1] and other_real < by_blur[-1]


def test_agrees_with_the_svd_identity_and_with_torchmetrics(random_backbone, phantoms64):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = phantoms64[:40], add_noise(phantoms64[60:100], 10)
    ours = fid_from_samples(feature_stats(random_backbone, real), random_backbone, fake)
    # N = 40 < D = 544: exact value from the features via singular values (no eigensolver).
    fr = random_backbone(real).numpy()
    ff = random_backbone(fake).numpy()
    cr, cf = fr - fr.mean(0), ff - ff.mean(0)
    trace_root = np.linalg.svd(cr @ cf.T, compute_uv=False).sum() / 39
    exact = (
        np.sum((fr.mean(0) - ff.mean(0)) ** 2)
        + (np.sum(cr**2) + np.sum(cf**2)) / 39
        - 2 * trace_root
    )
    assert ours == pytest.approx(exact, rel=1e-9)
    # torchmetrics (our backbone as its feature= module) agrees to its own, coarser precision:
    # the square roots of its non-symmetric eigenvalues carry rounding noise from the null space.
    metric = FrechetInceptionDistance(feature=random_backbone, normalize=False)
    metric.update(torch.from_numpy(real).unsqueeze(1), real=True)
    metric.update(torch.from_numpy(fake).unsqueeze(1), real=False)
    assert ours == pytest.approx(float(metric.compute()), rel=1e-4)


def test_statistics_from_another_backbone_or_size_are_refused(random_backbone, phantoms64):
    other = RandomConvBackbone(seed=1)
    stats = feature_stats(other, phantoms64[:20])
    with pytest.raises(ValueError, match="recompute"):
        fid_from_samples(stats, random_backbone, phantoms64[20:40])
    stats64 = feature_stats(random_backbone, phantoms64[:20])
    small = phantoms64[20:40, ::2, ::2]  # 32 px
    with pytest.raises(ValueError, match="image sizes"):
        fid_from_samples(stats64, random_backbone, small)
    a = stats_from_features(np.random.default_rng(0).normal(size=(10, 2)), "x")
    with pytest.raises(ValueError, match="backbones"):
        frechet_distance(a, FeatureStats(a.mean, a.cov, a.n, "y"))


def test_small_n_warnings():
    assert len(fid_warnings(500, 500, 2048)) == 2
    assert len(fid_warnings(5000, 20000, 544)) == 1
    assert "FD_rand" in fid_warnings(5000, 20000, 544, "FD_rand")[0]
    assert fid_warnings(10_000, 50_000, 2048) == []
