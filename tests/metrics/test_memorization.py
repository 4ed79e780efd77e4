"""Memorization audit: copies of training images are flagged, fresh samples are not."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_synth.metrics import memorization_audit
from tests.metrics import add_noise


def test_copies_of_training_images_are_flagged(phantoms64):
    train, heldout = phantoms64[:120], phantoms64[120:180]
    source = np.arange(0, 120, 4)
    copies = add_noise(train[source], 3, seed=5)  # near-copies, slightly perturbed
    result = memorization_audit(train, heldout, copies)
    assert result.fraction == 1.0
    assert result.distance_ratio < 0.5
    np.testing.assert_array_equal(result.fake_nearest, source)
    pairs = result.closest_pairs
    assert pairs.shape == (16, 2)
    np.testing.assert_array_equal(pairs[:, 1], source[pairs[:, 0]])
    assert np.all(np.diff(result.closest_distances) >= 0)


def test_fresh_samples_are_not_flagged(phantoms64):
    train, heldout, fresh = phantoms64[:120], phantoms64[120:180], phantoms64[180:240]
    result = memorization_audit(train, heldout, fresh)
    assert result.fraction <= 0.1
    assert 0.8 < result.distance_ratio < 1.25
    assert result.expected_fraction == 0.01 and result.warnings  # only 60 held-out images


def test_mixed_set_reports_the_copied_fraction(phantoms64):
    train, heldout = phantoms64[:120], phantoms64[120:180]
    fake = np.concatenate([train[:15], phantoms64[180:225]])  # 25 % exact copies
    result = memorization_audit(train, heldout, fake)
    assert result.fraction == pytest.approx(0.25, abs=0.05)
    assert set(result.closest_pairs[:15, 0]) == set(range(15))
