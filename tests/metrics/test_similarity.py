"""Nearest neighbours, SSIM/PSNR closed forms, nearest-training-image similarity, MS-SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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
from cxr_synth.metrics.similarity import ms_ssim, ssim
from tests.metrics import add_noise, blur

SKIMAGE_SSIM = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
                "data_range": 255}  # fmt: skip


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from skimage.metrics import structural_similarity

    return np.array(
        [structural_similarity(x, y, **SKIMAGE_SSIM) for x, y in zip(a, b, strict=True)]
    )


def _fixed_pairs(phantoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs from unrelated to near-identical: other patients, noisy, blurred, shifted copies."""
    a = phantoms[:12]
    b = np.concatenate(
        [phantoms[100:103], add_noise(a[3:6], 25, seed=3), blur(a[6:9], 1.5),
         np.roll(a[9:12], 3, axis=-1)]
    )  # fmt: skip
    return a, b


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
    np.testing.assert_allclose(ssim, 1.0, atol=1e-12)
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


@pytest.mark.parametrize("side", [32, 64])
def test_ssim_equals_scikit_image_on_fixed_images(phantoms64, side, monkeypatch):
    """The definition (Wang et al. 2004; valid windows only), as scikit-image computes it."""
    from cxr_synth.metrics import similarity

    monkeypatch.setattr(similarity, "SSIM_CHUNK_PIXELS", 5 * side * side)  # several chunks
    a, b = _fixed_pairs(phantoms64)
    if side != 64:
        a, b = (F.interpolate(torch.from_numpy(x[:, None]).float(), size=side, mode="area")
                .round().to(torch.uint8)[:, 0].numpy() for x in (a, b))  # fmt: skip
    expected = _skimage_ssim(a, b)
    assert expected.max() - expected.min() > 0.3  # a spread of cases, not only ~0 or ~1
    np.testing.assert_allclose(ssim(a, b), expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ssim_psnr(a, b)[0], expected, rtol=0, atol=1e-10)
    rng = np.random.default_rng(0)  # unstructured images, non-square
    x, y = rng.integers(0, 256, (2, 3, side, side + 9), dtype=np.uint8)
    np.testing.assert_allclose(ssim(x, y), _skimage_ssim(x, y), rtol=0, atol=1e-10)


def test_ssim_differs_from_torchmetrics_border_averaging(phantoms64):
    """Why not torchmetrics: it averages mirror-padded border windows too (module doc)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b = _fixed_pairs(phantoms64)
    padded = structural_similarity_index_measure(
        torch.from_numpy(a[:, None]).float(), torch.from_numpy(b[:, None]).float(),
        gaussian_kernel=True, sigma=1.5, kernel_size=11, reduction="none", data_range=255.0,
    ).double().numpy()  # fmt: skip
    assert np.abs(padded - _skimage_ssim(a, b)).max() > 1e-3  # if this fails, torchmetrics changed


def _reference_ms_ssim(a: np.ndarray, b: np.ndarray, betas: tuple[float, ...]) -> np.ndarray:
    """MS-SSIM written out with scipy's Gaussian filter and scikit-image's SSIM (Wang et al. 2003:
    contrast-structure at the finer scales, SSIM at the coarsest, valid windows, 2x2 means)."""
    from scipy.ndimage import gaussian_filter
    from skimage.metrics import structural_similarity

    c2 = (0.03 * 255) ** 2
    out = []
    for x, y in zip(a.astype(np.float64), b.astype(np.float64), strict=True):
        value = 1.0
        for scale, beta in enumerate(betas):
            if scale:
                x, y = (v.reshape(v.shape[0] // 2, 2, v.shape[1] // 2, 2).mean(axis=(1, 3))
                        for v in (x, y))  # fmt: skip
            if scale == len(betas) - 1:
                term = structural_similarity(x, y, **SKIMAGE_SSIM)
            else:
                blur_ = lambda v: gaussian_filter(v, 1.5, truncate=3.5)[5:-5, 5:-5]  # noqa: E731
                mx, my = blur_(x), blur_(y)
                vx, vy = blur_(x * x) - mx**2, blur_(y * y) - my**2
                cov = blur_(x * y) - mx * my
                term = ((2 * cov + c2) / (vx + vy + c2)).mean()
            value *= max(term, 0.0) ** beta
        out.append(value)
    return np.array(out)


@pytest.mark.parametrize("side", [32, 64])
def test_ms_ssim_equals_the_reference_definition(phantoms64, side):
    a, b = _fixed_pairs(phantoms64)
    if side != 64:
        a, b = a[:, ::2, ::2].copy(), b[:, ::2, ::2].copy()
    betas = ms_ssim_betas(side)
    expected = _reference_ms_ssim(a, b, betas)
    assert expected.max() - expected.min() > 0.3
    np.testing.assert_allclose(ms_ssim(a, b), expected, rtol=0, atol=1e-10)
    single = ms_ssim(a, b, betas=(1.0,))  # one scale is plain SSIM
    np.testing.assert_allclose(single, _skimage_ssim(a, b), rtol=0, atol=1e-10)


@pytest.mark.parametrize("side, scales", [(32, 2), (64, 3), (128, 4), (176, 5), (256, 5)])
def test_ms_ssim_uses_the_scales_an_image_size_allows(side, scales):
    assert ms_ssim_scales(side) == scales
    betas = ms_ssim_betas(side)
    assert len(betas) == scales and (scales == 5 or sum(betas) == pytest.approx(1.0))
    x = np.random.default_rng(side).integers(0, 256, (1, side, side), dtype=np.uint8)
    assert float(ms_ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-12)
    if scales < 5:  # one more scale leaves the coarsest image smaller than the window
        with pytest.raises(ValueError, match="ms_ssim_betas"):
            ms_ssim(x, x, betas=(0.2,) * (scales + 1))
    with pytest.raises(ValueError, match="smaller than the 11-px"):
        ssim(x[:, :10, :10], x[:, :10, :10])


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
