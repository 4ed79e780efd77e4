"""One evaluation run's real reference (computed once) and each generator's report against it.

``real_reference`` extracts the backbone features of the real sets and the real-vs-real
baseline; ``architecture_report`` scores one generator's samples against that cache
(``evaluate_generator_samples``) and adds how the generator was trained. Both return JSON-ready
dictionaries (docs/metrics.md defines every column).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxr_synth.metrics.features import FeatureBackbone, extract_features
from cxr_synth.metrics.fid import FeatureStats, stats_from_features
from cxr_synth.metrics.options import MetricOptions
from cxr_synth.metrics.suite import distribution_metrics, evaluate_generator_samples

logger = logging.getLogger(__name__)


def rows_view(images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``images[rows]``; a contiguous run of rows stays a view (memory-mapped, not read)."""
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return images[int(rows[0]) : int(rows[-1]) + 1]
    return np.asarray(images[rows])


def real_reference(
    images: np.ndarray,
    real_rows: np.ndarray,
    train_rows: np.ndarray,
    heldout_rows: np.ndarray,
    backbone: FeatureBackbone,
    options: MetricOptions,
    batch_size: int,
    external_images: np.ndarray | None = None,
    external_name: str = "external",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The cache every generator's evaluation reads, and the real-vs-real baseline.

    ``real_rows``: the reference images (what FD compares with); ``train_rows``: every image the
    generators learned from (pixel similarity, memorization); ``heldout_rows``: never trained on;
    ``external_images``: real images from elsewhere (None or empty: none). Returns the cache
    (rows, reference features and statistics, external features) and the baseline: held-out vs
    reference distribution metrics, and reference vs external (``_external`` keys).
    """
    side = int(images.shape[-1])
    real_features = extract_features(backbone, rows_view(images, real_rows), batch_size)
    stats = stats_from_features(real_features, backbone.identifier, side)
    held_features = extract_features(backbone, rows_view(images, heldout_rows), batch_size)
    metrics, notes = distribution_metrics(
        real_features, held_features, backbone, options, real_stats=stats, resolution=side
    )
    external_features = np.zeros((0, backbone.num_features), np.float32)
    external = None
    if external_images is not None and len(external_images):
        external_features = extract_features(backbone, external_images, batch_size)
        external = {"name": external_name, "n": len(external_features)}
        against, external_notes = distribution_metrics(
            external_features, real_features, backbone, options, resolution=side
        )
        metrics.update({f"{key}_external": value for key, value in against.items()})
        notes += [f"external reference: {note}" for note in external_notes]
    logger.info(
        "evaluation reference: %d real, %d training, %d held-out images; backbone %s",
        real_rows.size,
        train_rows.size,
        heldout_rows.size,
        backbone.identifier,
    )
    reference = {
        "real_rows": real_rows,
        "train_rows": train_rows,
        "heldout_rows": heldout_rows,
        "real_features": real_features,
        "external_features": external_features,
        **{f"stats_{key}": value for key, value in stats.to_dict().items()},
    }
    baseline = {
        "backbone": backbone.identifier,
        "fid_label": backbone.name,
        "n_real": int(real_rows.size),
        "n_heldout": int(heldout_rows.size),
        "external": external,
        "metrics": {f"baseline_{key}": float(value) for key, value in metrics.items()},
        "warnings": list(backbone.warnings) + notes,
    }
    return reference, baseline


def training_summary(spec: Mapping[str, Any], history: pd.DataFrame) -> dict[str, float]:
    """Training time (h), throughput (images/s over all epochs) and best epoch of one run."""
    seconds = history["epoch_time_s"] if "epoch_time_s" in history else pd.Series(dtype=float)
    rate = history["images_per_s"] if "images_per_s" in history else pd.Series(dtype=float)
    total = float(seconds.sum())
    best_epoch = spec.get("best_epoch")
    return {
        "train_hours": total / 3600,
        "images_per_s": float((rate * seconds).sum() / total) if total > 0 else math.nan,
        "best_epoch": math.nan if best_epoch is None else float(best_epoch),
        "epochs": float(spec.get("epochs", len(history))),
    }


def architecture_report(
    synthetic: np.ndarray,
    images: np.ndarray,
    reference: Mapping[str, np.ndarray],
    baseline: Mapping[str, Any],
    spec: Mapping[str, Any],
    history: pd.DataFrame,
    sampling_cost: Mapping[str, Any] | None,
    backbone: FeatureBackbone,
    options: MetricOptions,
) -> dict[str, Any]:
    """Every metric of one generator's ``synthetic`` images against ``real_reference``'s cache.

    ``backbone`` must be the one the cache was computed with (else ``ValueError``);
    ``sampling_cost`` without ``images_per_s`` (or None) gives a NaN sampling rate. Returns
    ``metrics`` (with the ``baseline_`` ones), ``training``, ``warnings``, ``closest_pairs`` as
    [synthetic index, ``images`` row], ``closest_distances`` and ``seconds`` per step.
    """
    stats = FeatureStats.from_dict(
        {k[6:]: v for k, v in reference.items() if k.startswith("stats_")}
    )
    if stats.backbone != backbone.identifier:
        raise ValueError(
            f"the cached real features come from {stats.backbone!r}, but evaluation.backbone "
            f"gives {backbone.identifier!r}; rerun compute_evaluation_reference."
        )
    real_rows, train_rows = reference["real_rows"], reference["train_rows"]
    heldout_rows = reference["heldout_rows"]
    train = rows_view(images, train_rows)
    real = train if np.array_equal(real_rows, train_rows) else rows_view(images, real_rows)
    result = evaluate_generator_samples(
        real, synthetic, backbone, options, real_stats=stats,
        real_features=reference["real_features"],
        external_features=reference.get("external_features"), train=train,
        heldout=rows_view(images, heldout_rows),
    )  # fmt: skip
    metrics = {**result["metrics"], **baseline["metrics"]}
    warnings = list(result["warnings"])
    if baseline["n_heldout"] != len(synthetic):
        warnings.append(
            f"baseline_ columns use {baseline['n_heldout']} held-out images but there are "
            f"{len(synthetic)} synthetic ones; N-dependent metrics (FD, precision/recall, "
            f"density/coverage) are comparable only at equal N."
        )
    pairs = np.asarray(result["closest_pairs"], dtype=np.int64).reshape(-1, 2)
    logger.info(
        "%s: %s = %.4g (%s)",
        spec["architecture"],
        backbone.name,
        metrics[backbone.name],
        ", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"].items()),
    )
    return {
        "architecture": spec["architecture"],
        "backbone": backbone.identifier,
        "fid_label": backbone.name,
        "metrics": {key: float(value) for key, value in metrics.items()},
        "training": {
            **training_summary(spec, history),
            "sampling_images_per_s": float((sampling_cost or {}).get("images_per_s", math.nan)),
        },
        "warnings": warnings,
        "closest_pairs": [[int(f), int(train_rows[t])] for f, t in pairs],
        "closest_distances": [float(d) for d in result["closest_distances"]],
        "seconds": {key: float(value) for key, value in result["seconds"].items()},
    }
