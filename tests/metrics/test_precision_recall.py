"""Precision/recall and density/coverage against a brute-force reading of the definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from cxr_synth.metrics import knn_radii, prdc


def _brute_force(real, fake, k_pr=3, k_dc=5):
    """Naeem et al.'s prdc reference, written out with full distance matrices."""
    rr, ff, rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)  # rf: (N, M)
    real_r = np.sort(rr, axis=1)  # column 0 is the point itself
    fake_r = np.sort(ff, axis=1)
    r_pr, r_dc, f_pr = real_r[:, k_pr], real_r[:, k_dc], fake_r[:, k_pr]
    precision = (rf < r_pr[:, None]).any(axis=0).mean()
    recall = (rf < f_pr[None, :]).any(axis=1).mean()
    density = (rf < r_dc[:, None]).sum(axis=0).mean() / k_dc
    coverage = (rf.min(axis=1) < r_dc).mean()
    return precision, recall, density, coverage


def test_matches_brute_force_on_overlapping_gaussians():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 8)), rng.normal(size=(250, 8)) * 1.3 + 0.4
    result = prdc(real, fake, chunk=64)
    expected = _brute_force(real, fake)
    got = (result.precision, result.recall, result.density, result.coverage)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert 0.05 < result.precision < 0.95 and 0.05 < result.recall < 0.95  # a non-trivial case


def test_identical_sets_score_one():
    features = np.random.default_rng(1).normal(size=(400, 16))
    result = prdc(features, features)
    assert result.precision == 1.0 and result.recall == 1.0 and result.coverage == 1.0
    assert 0.8 < result.density < 1.3  # E[density] = 1 for identical distributions


def test_disjoint_distributions_score_zero():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(300, 16)), rng.normal(size=(300, 16)) + 50.0
    result = prdc(real, fake)
    assert (result.precision, result.recall, result.density, result.coverage) == (0, 0, 0, 0)


def test_mode_dropping_keeps_precision_but_loses_recall_and_coverage():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(10, 16)) * 6
    real = np.concatenate([c + rng.normal(size=(50, 16)) for c in centres])
    fake = np.concatenate([centres[0] + rng.normal(size=(500, 16))])  # one mode only
    result = prdc(real, fake)
    assert result.precision > 0.7
    assert result.recall < 0.2 and result.coverage < 0.2
    assert result.warnings  # N < 10,000


def test_knn_radii_exclude_the_point_itself():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(knn_radii(x, 1), [1.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(knn_radii(x, 2), [3.0, 2.0, 3.0, 6.0])
    with pytest.raises(ValueError):
        prdc(x, x)  # fewer samples than k + 1
