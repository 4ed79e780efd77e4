"""Every metric for one generator's samples at once (the evaluation pipeline's one call).

Distribution metrics (Fréchet distance, KID, precision/recall, density/coverage) compare the
synthetic set with the reference ``real`` set in the backbone's feature space; similarity
(SSIM/PSNR to the nearest training image) and the memorization audit compare it with the
``train`` images in pixel space; MS-SSIM diversity is computed within the real and the
synthetic set. With ``external_features`` (real images from elsewhere, e.g. another hospital) the
distribution metrics are also reported against that set (``<metric>_external`` columns).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from cxr_synth.metrics.features import FeatureBackbone, extract_features, to_uint8_images
from cxr_synth.metrics.fid import FeatureStats, fid_warnings, frechet_distance, stats_from_features
from cxr_synth.metrics.kid import kernel_inception_distance
from cxr_synth.metrics.memorization import memorization_audit
from cxr_synth.metrics.options import MetricOptions
from cxr_synth.metrics.precision_recall import prdc
from cxr_synth.metrics.similarity import ms_ssim_diversity, nearest_real_similarity

DEFAULTS = MetricOptions()


def distribution_metrics(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    backbone: FeatureBackbone,
    options: MetricOptions = DEFAULTS,
    *,
    real_stats: FeatureStats | None = None,
    resolution: int | None = None,
) -> tuple[dict[str, float], list[str]]:
    """FD (FID/FD_rand), KID mean/std, precision, recall, density, coverage from features."""
    if real_stats is None:
        real_stats = stats_from_features(real_features, backbone.identifier, resolution)
    fake_stats = stats_from_features(fake_features, backbone.identifier, resolution)
    kid_label = backbone.label("KID")
    kid = kernel_inception_distance(
        real_features, fake_features, subset_size=options.kid_subset_size,
        num_subsets=options.kid_subsets, seed=options.seed, label=kid_label,
    )  # fmt: skip
    manifold = prdc(
        real_features, fake_features, k_pr=options.k_pr, k_dc=options.k_dc,
        label_suffix=backbone.suffix,
    )
    metrics = {
        backbone.name: frechet_distance(real_stats, fake_stats),
        f"{kid_label}_mean": kid.mean,
        f"{kid_label}_std": kid.std,
        backbone.label("precision"): manifold.precision,
        backbone.label("recall"): manifold.recall,
        backbone.label("density"): manifold.density,
        backbone.label("coverage"): manifold.coverage,
    }
    notes = fid_warnings(real_stats.n, fake_stats.n, backbone.num_features, backbone.name)
    return metrics, notes + kid.warnings + manifold.warnings


def evaluate_generator_samples(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    backbone: FeatureBackbone,
    options: MetricOptions = DEFAULTS,
    *,
    real_stats: FeatureStats | None = None,
    real_features: np.ndarray | None = None,
    external_features: np.ndarray | None = None,
    train: np.ndarray | torch.Tensor | None = None,
    heldout: np.ndarray | torch.Tensor | None = None,
) -> dict[str, Any]:
    """Compute every metric of one architecture's synthetic images.

    ``real``: reference real images (uint8) for the distribution metrics; ``real_features`` /
    ``real_stats`` are optional caches of its features/statistics on ``backbone``. ``train``:
    the images the GAN was trained on, for nearest-image similarity and memorization (default:
    ``real``). ``heldout``: real images not trained on; enables the memorization audit (the
    real-vs-real baseline is ``distribution_metrics`` of held-out against reference features).
    ``external_features``: features (same backbone) of another real set; adds every
    distribution metric against it as ``<metric>_external``. ``fake``: uint8, or float in [-1, 1].
    ``options``: every metric's settings (`MetricOptions`).

    Returns ``{"metrics": {column: float}, "warnings": [str], "backbone": identifier,
    "closest_pairs": (P, 2) int array, "closest_distances": (P,), "seconds": {step: s}}``.
    Columns are named after the backbone: ``FID``/``KID_mean``/``precision``... on Inception,
    ``FD_rand``/``KID_rand_mean``/``precision_rand``... on the offline backbone.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = now - clock
        clock = now

    fake_u8 = to_uint8_images(fake)
    side = int(fake_u8.shape[-1])
    if int(np.shape(real)[-1]) != side:
        raise ValueError(f"real images are {np.shape(real)[-1]} px, synthetic {side} px")
    if real_stats is not None and real_stats.backbone != backbone.identifier:
        raise ValueError(
            f"real_stats come from {real_stats.backbone!r}, not {backbone.identifier!r}"
        )
    notes = list(backbone.warnings)

    if real_features is None:
        real_features = extract_features(backbone, real, options.batch_size)
    fake_features = extract_features(backbone, fake_u8, options.batch_size)
    if real_stats is None:  # once, so its matrix square root is shared with the baseline
        real_stats = stats_from_features(real_features, backbone.identifier, side)
    lap("features")
    metrics, dist_notes = distribution_metrics(
        real_features, fake_features, backbone, options, real_stats=real_stats, resolution=side
    )
    notes += dist_notes
    if external_features is not None and len(external_features):
        external, external_notes = distribution_metrics(
            external_features, fake_features, backbone, options, resolution=side
        )
        metrics.update({f"{key}_external": value for key, value in external.items()})
        notes += [f"external reference: {note}" for note in external_notes]
    lap("distribution")

    train_images = real if train is None else train
    similarity = nearest_real_similarity(fake_u8, train_images, k=options.nn_candidates)
    metrics.update(similarity.summary())
    lap("similarity")

    for which, images in (("fake", fake_u8), ("real", real)):
        diversity = ms_ssim_diversity(
            images, num_pairs=options.ms_ssim_pairs, seed=options.seed, label=f"ms_ssim_{which}"
        )
        metrics[f"ms_ssim_{which}_mean"] = diversity.mean
        metrics[f"ms_ssim_{which}_std"] = diversity.std
        notes += diversity.warnings
    lap("diversity")

    closest_pairs = np.zeros((0, 2), dtype=np.int64)
    closest_distances = np.zeros(0)
    if heldout is None:
        notes.append("memorization audit skipped: no held-out real images given")
    else:
        audit = memorization_audit(
            train_images, heldout, fake_u8, percentile=options.memorization_percentile
        )
        metrics.update(audit.summary())
        closest_pairs, closest_distances = audit.closest_pairs, audit.closest_distances
        notes += audit.warnings
        lap("memorization")

    metrics["n_real"] = float(len(real_features))
    metrics["n_fake"] = float(fake_u8.shape[0])
    return {
        "metrics": metrics,
        "warnings": notes,
        "backbone": backbone.identifier,
        "closest_pairs": closest_pairs,
        "closest_distances": closest_distances,
        "seconds": timings,
    }
