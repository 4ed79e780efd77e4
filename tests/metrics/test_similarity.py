"""Nearest neighbours, SSIM/PSNR closed forms, nearest-training-image similarity, MS-SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cxr_synth.metrics import (
    ms_ssim_betas,
    ms_ssim_diversity,
    ms_ssim_scales,
    nearest_neighbours,
    nearest_neighbours_streamed,
    nearest_real_similarity,
    pixel_vectors,
    ssim_psnr,
)
from tests.metrics import add_noise


def _brute_knn(query, reference, k, exclude_self=False):
    d = np.linalg.norm(query[:, None, :] - reference[None, :, :], axis=-1)
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1)[:, :k]
    return np.take_along_axis(d, order, axis=1), order


@pytest.mark.parametrize("k", [1, 3, 7])
def test_nearest_neighbours_equal_brute_force(k):
    rng = np.random.default_rng(k)
    query, reference = rng.normal(size=(37, 5)), rng.normal(size=(101, 5))
    distances, indices = nearest_neighbours(query, reference, k, query_chunk=8, reference_chunk=16)
    expected_d, expected_i = _brute_knn(query, reference, k)
    np.testing.assert_array_equal(indices, expected_i)
    np.testing.assert_allclose(distances, expected_d, rtol=1e-10)
    self_d, self_i = nearest_neighbours(
        reference, reference, k, exclude_self=True, reference_chunk=30
    )
    expected_d, expected_i = _brute_knn(reference, reference, k, exclude_self=True)
    np.testing.assert_array_equal(self_i, expected_i)
    np.testing.assert_allclose(self_d, expected_d, rtol=1e-10)


def test_streamed_reference_chunks_count_indices_across_chunks():
    rng = np.random.default_rng(0)
    query, reference = rng.normal(size=(10, 3)), rng.normal(size=(50, 3))
    chunks = [reference[:7], reference[7:30], reference[30:]]
    _, indices = nearest_neighbours_streamed(query, iter(chunks), 2)
    np.testing.assert_array_equal(indices, _brute_knn(query, reference, 2)[1])


def test_ssim_of_identical_images_is_one_and_psnr_of_an_offset_is_closed_form(phantoms64):
    images = np.clip(phantoms64[:6], 20, 235)  # so that +-delta never clips
    ssim, psnr = ssim_psnr(images, images)
    np.testing.assert_allclose(ssim, 1.0, atol=1e-6)
    assert np.isinf(psnr).all()
    for delta in (1, 5, 20):
        _, psnr = ssim_psnr(images, images + np.uint8(delta))
        np.testing.assert_allclose(psnr, 10 * math.log10(255**2 / delta**2), rtol=1e-12)
    ssim_noisy, _ = ssim_psnr(images, add_noise(images, 20))
    assert (ssim_noisy < 0.9).all()


def test_nearest_real_similarity_finds_the_source_training_image(phantoms64):
    train = phantoms64[:120]
    source = np.array([5, 17, 17, 42, 99, 118])
    copies = add_noise(train[source], 4, seed=1)
    result = nearest_real_similarity(copies, train, k=5)
    np.testing.assert_array_equal(result.nearest_index, source)
    fresh = nearest_real_similarity(phantoms64[180:200], train, k=5)
    assert result.ssim.min() > fresh.ssim.max()
    assert result.psnr.min() > fresh.psnr.max()
    exact = nearest_real_similarity(train[source], train, k=3)
    assert exact.n_exact_copies == len(source)
    summary = exact.summary()
    assert (
        summary["ssim_nn_mean"] == pytest.approx(1.0, abs=1e-6) and summary["n_exact_copies"] == 6
    )


@pytest.mark.parametrize("side, scales", [(32, 2), (64, 3), (128, 4), (256, 5)])
def test_ms_ssim_uses_the_scales_an_image_size_allows(side, scales):
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    assert ms_ssim_scales(side) == scales
    betas = ms_ssim_betas(side)
    assert len(betas) == scales and (scales == 5 or sum(betas) == pytest.approx(1.0))
    x = torch.rand(1, 1, side, side) * 255
    value = multiscale_structural_similarity_index_measure(x, x, data_range=255.0, betas=betas)
    assert float(value) == pytest.approx(1.0, abs=1e-5)
    if scales < 5:  # one more scale would be refused by torchmetrics or break the window
        more = (0.2,) * (scales + 1)
        with pytest.raises((ValueError, RuntimeError)):
            multiscale_structural_similarity_index_measure(x, x, data_range=255.0, betas=more)


def test_ms_ssim_diversity_exposes_mode_collapse(phantoms64):
    real = phantoms64[:60]
    collapsed = np.repeat(phantoms64[:1], 60, axis=0)
    diverse = ms_ssim_diversity(real, num_pairs=64)
    mode_collapse = ms_ssim_diversity(collapsed, num_pairs=64)
    assert mode_collapse.mean == pytest.approx(1.0, abs=1e-6)
    assert diverse.mean < 0.95 and diverse.scales == 3
    assert diverse.warnings  # few pairs, and 3 of 5 scales at 64 px
    assert ms_ssim_diversity(real, num_pairs=64).mean == diverse.mean  # seeded


def test_pixel_vectors_standardised_distance_is_correlation(phantoms64):
    a, b = phantoms64[:1], phantoms64[1:2]
    va, vb = pixel_vectors(a, 64, standardize=True), pixel_vectors(b, 64, standardize=True)
    r = np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]
    assert float(((va - vb) ** 2).sum()) == pytest.approx(2 * 64 * 64 * (1 - r), rel=1e-4)
    assert pixel_vectors(phantoms64[:2], 32).shape == (2, 32 * 32)
