"""Intensity normalisation of the U-Nets' input."""

import numpy as np
import pytest

from cxr_synth.segmentation import normalise_intensity


def _low_contrast(n: int = 3, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    gradient = np.linspace(100, 140, size)[None, :].repeat(size, axis=0)
    return np.clip(gradient + rng.normal(0, 3, (n, size, size)), 0, 255).astype(np.uint8)


def test_none_is_the_identity():
    images = _low_contrast()
    assert normalise_intensity(images, "none") is images


@pytest.mark.parametrize("mode", ["histeq", "clahe"])
def test_equalisation_stretches_a_low_contrast_image_per_image(mode):
    images = _low_contrast()
    out = normalise_intensity(images, mode)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.ptp(out[0]) > 2 * np.ptp(images[0])
    darker = images.copy()
    darker[1] = images[1] // 2  # a global brightness change is (nearly) undone per image
    again = normalise_intensity(darker, mode)
    assert np.abs(again[1].astype(int) - out[1].astype(int)).mean() < 12
    np.testing.assert_array_equal(again[0], out[0])  # images are normalised independently


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="none, histeq or clahe"):
        normalise_intensity(_low_contrast(), "zscore")
