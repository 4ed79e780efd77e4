"""Evaluation glue: synthetic and real images in, per-architecture reports and the comparison
table out. Every number comes from ``cxr_synth.metrics`` (docs/metrics.md defines each column):
the real reference and the per-architecture reports from ``metrics.report``, the table's layout
from ``metrics.comparison``; this module picks the image sets and the feature network.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxr_synth.data.splits import rows_in_splits, seeded_subset
from cxr_synth.data.tables import metric_records
from cxr_synth.metrics.comparison import comparison_table, feature_column
from cxr_synth.metrics.params import FeatureParams
from cxr_synth.pipelines.evaluation.params import EvaluationParams
from cxr_synth.pipelines.node_types import Figure

# The metrics (torch, scipy) and matplotlib are imported in the nodes that use them: building
# the pipelines stays light (cxr_synth.pipelines.node_types).

logger = logging.getLogger(__name__)


def _backbone(evaluation: FeatureParams):
    """The feature network ``evaluation.backbone`` names, on ``evaluation.device``, fetching the
    Inception weights only if ``evaluation.inception_weights.download``."""
    from cxr_synth.metrics import build_backbone
    from cxr_synth.runtime.devices import resolve_device

    return build_backbone(
        evaluation.backbone,
        device=resolve_device(evaluation.device),
        **evaluation.backbone_kwargs(),
    )


def compute_evaluation_reference(
    images: np.ndarray,
    index: pd.DataFrame,
    external_images: np.ndarray | None,
    external_summary: Mapping[str, Any] | None,
    evaluation: EvaluationParams,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The real sets, their backbone features, and the real-vs-real baseline, computed once
    (``cxr_synth.metrics.report.real_reference``).

    Reference (``real_splits``, at most ``n_real``, seeded) and training images (all of
    ``real_splits``) are what the GANs learned from; held-out images (``heldout_splits``) were
    never trained on; external images (``eval_external_images_array``; empty, or None where
    preprocessing has not made it) come from elsewhere. Returns the cache every architecture's
    evaluation reads (rows, features, statistics, backbone identifier) and the baseline:
    held-out vs reference distribution metrics, the values a perfect generator would get, and
    reference vs external (``_external``), what a generator of the training distribution would
    get against the external set.
    """
    from cxr_synth.metrics.report import real_reference

    training = rows_in_splits(index, evaluation.real_splits, "evaluation reference")
    heldout = rows_in_splits(index, evaluation.heldout_splits, "held-out evaluation set")
    return real_reference(
        images,
        seeded_subset(training, evaluation.n_real, evaluation.seed),  # as training's FID reference
        np.sort(training),
        seeded_subset(heldout, evaluation.n_heldout, evaluation.seed),
        _backbone(evaluation),
        evaluation.metric_options(),
        evaluation.batch_size,
        external_images,
        (external_summary or {}).get("name", "external"),
    )


def evaluate_architecture(
    synthetic: np.ndarray,
    images: np.ndarray,
    reference: Mapping[str, np.ndarray],
    baseline: Mapping[str, Any],
    spec: Mapping[str, Any],
    history: pd.DataFrame,
    sampling_cost: Mapping[str, Any] | None,
    evaluation: EvaluationParams,
) -> dict[str, Any]:
    """Every metric of one architecture's synthetic images, and how that generator was trained
    (``cxr_synth.metrics.report.architecture_report``).

    ``reference`` and ``baseline`` come from ``compute_evaluation_reference`` (real features are not
    recomputed here); ``sampling_cost`` from ``generate_images`` (None for images sampled before
    it was recorded: the sampling rate is then NaN). Returns a JSON-ready report: ``metrics``
    (columns of docs/metrics.md plus the ``baseline_`` ones), ``training``, ``warnings``,
    ``closest_pairs`` as [synthetic index, ``nih_images_array`` row] and ``seconds`` per step.
    """
    from cxr_synth.metrics.report import architecture_report

    return architecture_report(
        synthetic, images, reference, baseline, spec, history, sampling_cost,
        _backbone(evaluation), evaluation.metric_options(),
    )  # fmt: skip


def plot_closest_pairs(
    report: Mapping[str, Any],
    synthetic: np.ndarray,
    images: np.ndarray,
    evaluation: EvaluationParams,
) -> Figure:
    """Synthetic images (top) above their nearest training images (bottom), closest first
    (``evaluation.closest_pairs`` of them)."""
    from matplotlib.figure import Figure

    pairs = list(report["closest_pairs"])[: evaluation.closest_pairs]
    columns = max(1, len(pairs))
    figure = Figure(figsize=(1.4 * columns + 1.0, 3.4))
    axes = figure.subplots(2, columns, squeeze=False)
    for column in range(columns):
        for row in range(2):
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        if column < len(pairs):
            fake, train_row = pairs[column]
            axes[0, column].imshow(synthetic[fake], cmap="gray", vmin=0, vmax=255)
            axes[1, column].imshow(images[train_row], cmap="gray", vmin=0, vmax=255)
            axes[0, column].set_title(f"d={report['closest_distances'][column]:.1f}", fontsize=8)
    axes[0, 0].set_ylabel("synthetic")
    axes[1, 0].set_ylabel("nearest\ntraining")
    figure.suptitle(
        f"{report['architecture']}: closest synthetic-training pairs "
        f"(memorized fraction {report['metrics'].get('memorization_fraction', math.nan):.3f})"
    )
    figure.tight_layout()
    return figure


def build_comparison_table(
    baseline: Mapping[str, Any], *reports: Mapping[str, Any]
) -> tuple[pd.DataFrame, str, dict[str, dict[str, float]]]:
    """One row per architecture: distribution, pixel and memorization metrics, training cost
    (``cxr_synth.metrics.comparison``).

    Feature columns are named after the backbone (``FID`` only for Inception, else ``FD_rand``,
    ``KID_rand_mean``...). ``dice`` stays empty until the segmentation test fills it. Returns the
    table, its Markdown (with the real-vs-real baseline, N, backbone and every warning) and the
    values as MLflow metrics (``<arch>.<column>``, ``baseline.<column>``; the catalog adds
    the ``eval.`` prefix).
    """
    table, markdown, values = comparison_table(baseline, reports)
    return table, markdown, metric_records(values)


def _bars(
    table: pd.DataFrame, panels: list[tuple[str, str | None, str]], baseline: Mapping[str, Any]
) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(panels), 3.6))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    x = np.arange(len(table))
    for axis, (column, error, ylabel) in zip(axes, panels, strict=True):
        errors = table[error] if error and error in table else None
        axis.bar(x, table[column], yerr=errors, capsize=3, color="tab:blue")
        reference = baseline.get("metrics", {}).get(f"baseline_{column}")
        if reference is not None and math.isfinite(reference):
            axis.axhline(reference, color="grey", linestyle="--", label="real vs real")
            axis.legend(fontsize=8)
        axis.set_xticks(x, table["architecture"], rotation=30, ha="right")
        axis.set(ylabel=ylabel, title=column)
    figure.tight_layout()
    return figure


def plot_distribution_bars(table: pd.DataFrame, baseline: Mapping[str, Any]) -> Figure:
    """Fréchet distance and KID per architecture (the paper's Figure 7), lower is better."""
    fd = next(c for c in ("FID", "FD_rand") if c in table)
    kid = feature_column("KID_mean", fd)
    return _bars(
        table,
        [(fd, None, f"{fd} (lower is better)"), (kid, kid.replace("mean", "std"), kid)],
        baseline,
    )


def plot_similarity_bars(table: pd.DataFrame) -> Figure:
    """SSIM and PSNR to the nearest training image per architecture (the paper's Figure 8)."""
    return _bars(
        table,
        [("ssim_nn_mean", "ssim_nn_std", "SSIM"), ("psnr_nn_mean", "psnr_nn_std", "PSNR (dB)")],
        {},
    )


def compute_heldout_features(
    images: np.ndarray, index: pd.DataFrame, evaluation: EvaluationParams
) -> dict[str, np.ndarray]:
    """Backbone features of every named held-out set (``evaluation.heldout_sets``), once."""
    from cxr_synth.metrics import extract_features
    from cxr_synth.metrics.report import rows_view

    backbone = _backbone(evaluation)
    features = {}
    for name, splits in evaluation.named_heldout_sets().items():
        rows = rows_in_splits(index, splits, f"evaluation.heldout_sets.{name}")
        features[name] = extract_features(
            backbone, rows_view(images, np.sort(rows)), evaluation.batch_size
        )
        logger.info("held-out set %s (%s): %d images", name, ", ".join(splits), len(rows))
    return features


def resample_architecture(
    report: Mapping[str, Any],
    synthetic: np.ndarray,
    heldout_features: Mapping[str, np.ndarray],
    evaluation: EvaluationParams,
) -> pd.DataFrame:
    """One architecture's distribution metrics on ``evaluation.resamples`` bootstrap draws of
    every held-out set (the verdicts' raw material; ``cxr_synth.metrics.verdicts``)."""
    from cxr_synth.metrics import extract_features
    from cxr_synth.metrics.verdicts import resampled_metrics

    backbone = _backbone(evaluation)
    return resampled_metrics(
        heldout_features, extract_features(backbone, synthetic, evaluation.batch_size), backbone,
        evaluation.metric_options(), architecture=report["architecture"],
        resamples=evaluation.resamples, resolution=int(synthetic.shape[-1]),
    )  # fmt: skip


def compare_architectures(*resampled: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Pairwise verdicts of one run's architectures (intervals over held-out resamples only;
    a study's summary adds the seeds) and their Markdown with the rank stability."""
    from cxr_synth.metrics.verdicts import (
        RESAMPLED_COLUMNS,
        pairwise_verdicts,
        primary_metric,
        rank_stability,
        verdicts_markdown,
    )

    frames = [frame for frame in resampled if len(frame)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RESAMPLED_COLUMNS)
    verdicts = pairwise_verdicts(frame)
    markdown = verdicts_markdown(verdicts, rank_stability(frame), primary=primary_metric(frame))
    return verdicts, markdown


def promote_best_generator(verdicts: pd.DataFrame, *records: Mapping[str, Any]) -> None:
    """Move the registry's ``best`` alias to the version this run registered of the
    architecture the primary-metric verdicts separate from every other, if any
    (``cxr_synth.sharing.registry``; nothing when no generator was registered)."""
    from cxr_synth.sharing.registry import promote_best

    promote_best(verdicts, records)
