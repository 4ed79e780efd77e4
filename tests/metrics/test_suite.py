"""All metrics at once on the offline backbone: column names, warnings, memorization signal."""

from __future__ import annotations

import math

import numpy as np

from cxr_synth.metrics import (
    MetricOptions,
    evaluate_generator_samples,
    extract_features,
    feature_stats,
)


def test_evaluate_names_columns_after_the_backbone_and_flags_copies(random_backbone, phantoms64):
    train, heldout, fresh = phantoms64[:100], phantoms64[120:170], phantoms64[180:230]
    options = MetricOptions(kid_subsets=10, ms_ssim_pairs=50)
    honest = evaluate_generator_samples(train, fresh, random_backbone, options, heldout=heldout)
    metrics = honest["metrics"]
    for column in (
        "FD_rand", "KID_rand_mean", "KID_rand_std", "precision_rand", "recall_rand",
        "density_rand", "coverage_rand", "ssim_nn_mean", "ssim_nn_std", "psnr_nn_mean",
        "psnr_nn_std", "ms_ssim_fake_mean", "ms_ssim_real_mean", "memorization_fraction",
        "nn_distance_ratio", "n_real", "n_fake",
    ):  # fmt: skip
        assert column in metrics and isinstance(metrics[column], float), column
        assert math.isfinite(metrics[column]), column
    assert not any(key.startswith("FID") or key.startswith("baseline_FID") for key in metrics)
    assert honest["backbone"] == random_backbone.identifier
    assert any("FD_rand from n_real=100" in note for note in honest["warnings"])
    assert metrics["memorization_fraction"] <= 0.1

    copied = evaluate_generator_samples(
        train, train[:50], random_backbone, options, heldout=heldout
    )["metrics"]
    assert copied["memorization_fraction"] == 1.0 and copied["n_exact_copies"] == 50.0
    assert not any(key.startswith("baseline_") for key in metrics)  # compute_evaluation_reference's
    assert copied["ssim_nn_mean"] > metrics["ssim_nn_mean"]
    assert copied["precision_rand"] == 1.0


def test_cached_real_features_and_stats_give_the_same_numbers(random_backbone, phantoms64):
    real, fake = phantoms64[:50], phantoms64[180:220]
    options = MetricOptions(kid_subsets=5, ms_ssim_pairs=20)
    plain = evaluate_generator_samples(real, fake, random_backbone, options)["metrics"]
    cached = evaluate_generator_samples(
        real, fake, random_backbone, options,
        real_features=extract_features(random_backbone, real),
        real_stats=feature_stats(random_backbone, real),
    )["metrics"]  # fmt: skip
    for key, value in plain.items():
        assert np.isclose(cached[key], value, rtol=1e-9), key
