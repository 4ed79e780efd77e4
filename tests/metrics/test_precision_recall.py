"""Precision/recall and density/coverage against a brute-force reading of the definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from cxr_synth.metrics import knn_radii, prdc
from cxr_synth.metrics.neighbours import pairwise_distances


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


@pytest.mark.parametrize("n, dim, chunk", [(400, 16, 1024), (600, 544, 128), (300, 2048, 64)])
def test_identical_sets_score_exactly_one(n, dim, chunk):
    """Each real point's ball holds itself and its k-1 nearest strictly inside, the k-th on the
    boundary: density is exactly 1 when every distance is the same float in every call."""
    features = np.random.default_rng(dim).normal(size=(n, dim))
    result = prdc(features, features, chunk=chunk)
    assert (result.precision, result.recall, result.coverage) == (1.0, 1.0, 1.0)
    assert result.density == 1.0
    shuffled = features[np.random.default_rng(0).permutation(n)]  # other rows, other chunks
    assert prdc(features, shuffled, chunk=chunk).density == 1.0


def test_exact_distances_are_symmetric_to_the_last_bit():
    rng = np.random.default_rng(5)
    a, b = (
        torch.from_numpy(rng.normal(size=(300, 544))),
        torch.from_numpy(rng.normal(size=(200, 544))),
    )
    forward, backward = pairwise_distances(a, b, exact=True), pairwise_distances(b, a, exact=True)
    assert torch.equal(forward, backward.T)
    assert torch.equal(pairwise_distances(a[:7], b, exact=True), forward[:7])  # chunking
    np.testing.assert_allclose(forward.numpy(), cdist(a.numpy(), b.numpy()), rtol=1e-12)


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
