"""KID: the unbiased estimator by hand, zero for a set against itself, growing with noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from cxr_synth.metrics import extract_features, kernel_inception_distance, polynomial_mmd2_unbiased
from tests.metrics import add_noise


def _mmd2_by_loops(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    m = len(x)
    pairs = list(itertools.permutations(range(m), 2))
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i, j in pairs) / (m * (m - 1))
    across = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return within - 2 * across


def test_unbiased_mmd_matches_the_definition():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 4)) + 0.5
    got = polynomial_mmd2_unbiased(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(_mmd2_by_loops(x, y), rel=1e-10)


def test_kid_is_near_zero_for_a_set_against_itself_and_grows_with_noise(
    random_backbone, phantoms64
):
    real = phantoms64[:80]
    features = extract_features(random_backbone, real)
    same = kernel_inception_distance(features, features, num_subsets=50)
    noisy = [
        kernel_inception_distance(
            features, extract_features(random_backbone, add_noise(real, s)), num_subsets=50
        )
        for s in (10, 20, 40)
    ]
    means = [r.mean for r in noisy]
    assert np.all(np.diff(means) > 0) and means[0] > 0, means
    # Itself: about 0 (slightly negative: independent subsets of one finite set share rows, which
    # raises the cross term), far below even the mildest degradation.
    assert abs(same.mean) < 0.2 * means[0]
    assert abs(same.mean) < 2 * same.std  # consistent with 0 given the spread over subsets


def test_subset_size_is_lowered_for_small_sets_with_a_warning():
    rng = np.random.default_rng(1)
    small = kernel_inception_distance(
        rng.normal(size=(50, 3)), rng.normal(size=(60, 3)), num_subsets=4
    )
    assert small.subset_size == 25 and small.warnings and "KID" in small.warnings[0]
    assert small.std > 0  # subsets differ, so the spread is measured
    big = kernel_inception_distance(
        rng.normal(size=(2000, 3)), rng.normal(size=(2500, 3)), num_subsets=2
    )
    assert big.subset_size == 1000 and not big.warnings
    with pytest.raises(ValueError):
        kernel_inception_distance(rng.normal(size=(3, 3)), rng.normal(size=(3, 3)))


def test_kid_is_reproducible_with_a_seed():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(80, 5)), rng.normal(size=(80, 5)) + 0.2
    a = kernel_inception_distance(x, y, num_subsets=10, seed=3)
    b = kernel_inception_distance(x, y, num_subsets=10, seed=3)
    assert (a.mean, a.std) == (b.mean, b.std)


def test_full_kernel_shortcut_equals_per_subset_kernels(monkeypatch):
    from cxr_synth.metrics import kid

    rng = np.random.default_rng(4)
    x, y = np.abs(rng.normal(size=(70, 6))), np.abs(rng.normal(size=(90, 6))) + 0.1
    shortcut = kernel_inception_distance(x, y, num_subsets=7, seed=1)
    monkeypatch.setattr(kid, "KERNEL_CACHE_ENTRIES", 0)
    direct = kernel_inception_distance(x, y, num_subsets=7, seed=1)
    assert shortcut.mean == pytest.approx(direct.mean, rel=1e-10)
    assert shortcut.std == pytest.approx(direct.std, rel=1e-10)
