"""Evaluation glue: synthetic and real images in, per-architecture reports and the comparison
table out. Every number comes from ``cxr_synth.metrics`` (docs/metrics.md defines each column);
this module only picks the image sets, caches the real features once, and lays out the results.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxr_synth.data.splits import rows_in_splits, seeded_subset
from cxr_synth.data.tables import markdown_table, metric_records
from cxr_synth.metrics.params import FeatureParams
from cxr_synth.pipelines.evaluation.params import EvaluationParams
from cxr_synth.pipelines.node_types import Figure

# The metrics (torch, scipy) and matplotlib are imported in the nodes that use them: building
# the pipelines stays light (cxr_synth.pipelines.node_types).

logger = logging.getLogger(__name__)

# Columns of the comparison table, by their name on the Inception backbone; metrics computed on
# backbone features get the backbone's label (FID -> FD_rand, KID_mean -> KID_rand_mean, ...).
FEATURE_COLUMNS = ("FID", "KID_mean", "KID_std", "precision", "recall", "density", "coverage")
PIXEL_COLUMNS = (
    "ssim_nn_mean",
    "ssim_nn_std",
    "psnr_nn_mean",
    "psnr_nn_std",
    "memorization_fraction",
    "nn_distance_ratio",
)
SAMPLE_COLUMNS = ("n_real", "n_fake")  # the N of both sets behind every feature metric
TRAINING_COLUMNS = (
    "dice",
    "train_hours",
    "images_per_s",
    "sampling_images_per_s",
    "best_epoch",
    "epochs",
)


def _rows_view(images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``images[rows]``; a contiguous run of rows stays a view (memory-mapped, not read)."""
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return images[int(rows[0]) : int(rows[-1]) + 1]
    return np.asarray(images[rows])


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


def _column(name: str, label: str) -> str:
    """A feature metric's column on a backbone whose Fréchet distance is called ``label``."""
    if name == "FID":
        return label
    suffix = "_rand" if label == "FD_rand" else ""
    if name.startswith("KID"):
        return name.replace("KID", "KID" + suffix, 1)
    return name + suffix


def compute_evaluation_reference(
    images: np.ndarray,
    index: pd.DataFrame,
    external_images: np.ndarray | None,
    external_summary: Mapping[str, Any] | None,
    evaluation: EvaluationParams,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The real sets, their backbone features, and the real-vs-real baseline, computed once.

    Reference (``real_splits``, at most ``n_real``, seeded) and training images (all of
    ``real_splits``) are what the GANs learned from; held-out images (``heldout_splits``) were
    never trained on; external images (``eval_external_images_array``; empty, or None where
    preprocessing has not made it) come from elsewhere. Returns the cache every architecture's evaluation reads (rows, features,
    statistics, backbone identifier) and the baseline: held-out vs reference distribution metrics,
    the values a perfect generator would get, and reference vs external (``_external``), what a
    generator of the training distribution would get against the external set.
    """
    from cxr_synth.metrics import distribution_metrics, extract_features, stats_from_features

    seed = evaluation.seed
    training = rows_in_splits(index, evaluation.real_splits, "evaluation reference")
    real_rows = seeded_subset(training, evaluation.n_real, seed)  # as training's FID reference
    train_rows = np.sort(training)
    heldout = rows_in_splits(index, evaluation.heldout_splits, "held-out evaluation set")
    heldout_rows = seeded_subset(heldout, evaluation.n_heldout, seed)
    backbone = _backbone(evaluation)
    batch_size = evaluation.batch_size
    side = int(images.shape[-1])
    real_features = extract_features(backbone, _rows_view(images, real_rows), batch_size)
    stats = stats_from_features(real_features, backbone.identifier, side)
    held_features = extract_features(backbone, _rows_view(images, heldout_rows), batch_size)
    options = evaluation.metric_options()
    metrics, notes = distribution_metrics(
        real_features, held_features, backbone, options, real_stats=stats, resolution=side
    )
    external_features = np.zeros((0, backbone.num_features), np.float32)
    external = None
    if external_images is not None and len(external_images):
        external_features = extract_features(backbone, external_images, batch_size)
        name = (external_summary or {}).get("name", "external")
        external = {"name": name, "n": len(external_features)}
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


def _training_summary(spec: Mapping[str, Any], history: pd.DataFrame) -> dict[str, float]:
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
    """Every metric of one architecture's synthetic images, and how that generator was trained.

    ``reference`` and ``baseline`` come from ``compute_evaluation_reference`` (real features are not
    recomputed here); ``sampling_cost`` from ``generate_images`` (None for images sampled before
    it was recorded: the sampling rate is then NaN). Returns a JSON-ready report: ``metrics`` (columns of docs/metrics.md plus
    the ``baseline_`` ones), ``training``, ``warnings``, ``closest_pairs`` as [synthetic index,
    ``nih_images_array`` row] and ``seconds`` per step.
    """
    from cxr_synth.metrics import FeatureStats, evaluate_generator_samples

    backbone = _backbone(evaluation)
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
    train = _rows_view(images, train_rows)
    real = train if np.array_equal(real_rows, train_rows) else _rows_view(images, real_rows)
    result = evaluate_generator_samples(
        real, synthetic, backbone, evaluation.metric_options(), real_stats=stats,
        real_features=reference["real_features"],
        external_features=reference.get("external_features"), train=train,
        heldout=_rows_view(images, heldout_rows),
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
            **_training_summary(spec, history),
            "sampling_images_per_s": float((sampling_cost or {}).get("images_per_s", math.nan)),
        },
        "warnings": warnings,
        "closest_pairs": [[int(f), int(train_rows[t])] for f, t in pairs],
        "closest_distances": [float(d) for d in result["closest_distances"]],
        "seconds": {key: float(value) for key, value in result["seconds"].items()},
    }


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


def _label(reports: tuple[Mapping[str, Any], ...]) -> str:
    labels = {(r["fid_label"], r["backbone"]) for r in reports}
    if len(labels) != 1:
        raise ValueError(f"architectures were evaluated on different backbones: {sorted(labels)}")
    return next(iter(labels))[0]


def build_comparison_table(
    baseline: Mapping[str, Any], *reports: Mapping[str, Any]
) -> tuple[pd.DataFrame, str, dict[str, dict[str, float]]]:
    """One row per architecture: distribution, pixel and memorization metrics, training cost.

    Feature columns are named after the backbone (``FID`` only for Inception, else ``FD_rand``,
    ``KID_rand_mean``...). ``dice`` stays empty until the segmentation test fills it. Returns the
    table, its Markdown (with the real-vs-real baseline, N, backbone and every warning) and the
    values as MLflow metrics (``<arch>.<column>``, ``baseline.<column>``; the catalog adds
    the ``eval.`` prefix).
    """
    if not reports:
        raise ValueError("no architecture was evaluated")
    label = _label(reports)
    feature_columns = [_column(name, label) for name in FEATURE_COLUMNS]
    external = baseline.get("external")
    if external:  # the same metrics against the external real set, next to the in-split ones
        feature_columns += [f"{column}_external" for column in feature_columns]
    rows = []
    for report in reports:
        values = {**report["metrics"], **report["training"], "dice": math.nan}
        row = {"architecture": report["architecture"]}
        for column in (*feature_columns, *SAMPLE_COLUMNS, *PIXEL_COLUMNS, *TRAINING_COLUMNS):
            row[column] = float(values.get(column, math.nan))
        rows.append(row)
    table = pd.DataFrame(rows)

    base = {"architecture": "real (held-out) baseline"}
    base.update({c: baseline["metrics"].get(f"baseline_{c}", math.nan) for c in feature_columns})
    base.update({"n_real": float(baseline["n_real"]), "n_fake": float(baseline["n_heldout"])})
    shown = table[
        ["architecture", *feature_columns, *SAMPLE_COLUMNS, *PIXEL_COLUMNS, *TRAINING_COLUMNS]
    ]
    with_baseline = pd.concat([shown, pd.DataFrame([base])], ignore_index=True)
    warnings: dict[str, list[str]] = {}
    for report in reports:
        for note in [*baseline["warnings"], *report["warnings"]]:
            warnings.setdefault(note, [])
            if report["architecture"] not in warnings[note]:
                warnings[note].append(report["architecture"])
    every = [r["architecture"] for r in reports]
    synthetic_counts = ", ".join(
        f"{r['architecture']} {int(r['metrics'].get('n_fake', 0))}" for r in reports
    )
    notes = [
        f"- {note}" + ("" if archs == every else f" ({', '.join(archs)})")
        for note, archs in warnings.items()
    ]
    markdown = "\n".join(
        [
            "# GAN comparison",
            "",
            f"Backbone: `{reports[0]['backbone']}` (Fréchet distance reported as **{label}**). "
            f"Reference: {baseline['n_real']} real training images; held-out: "
            f"{baseline['n_heldout']}; synthetic per architecture: "
            f"{synthetic_counts}.",
            f"Every {label} and feature metric compares `n_real` reference with `n_fake` "
            "synthetic (for the baseline: held-out) images; below 10,000 each, Fréchet distances "
            "are biased upwards and comparable only at equal N (docs/metrics.md).",
            "The last row is the real-vs-real baseline (held-out vs reference), the value a "
            "perfect generator would get at that N. Definitions: docs/metrics.md.",
            *(
                [
                    f"`_external` columns: the same metrics against the external real set "
                    f"`{external['name']}` ({external['n']} images, another source than the "
                    "training data); their baseline is the reference images against it."
                ]
                if external
                else []
            ),
            "",
            markdown_table(with_baseline),
            "",
            "## Warnings",
            "",
            *(notes or ["- none"]),
            "",
        ]
    )
    metrics = metric_records(
        {
            f"{row['architecture']}.{column}": value
            for row in [*rows, {**base, "architecture": "baseline"}]
            for column, value in row.items()
            if column != "architecture"
        }
    )
    return table, markdown, metrics


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
    kid = _column("KID_mean", fd)
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

    backbone = _backbone(evaluation)
    features = {}
    for name, splits in evaluation.named_heldout_sets().items():
        rows = rows_in_splits(index, splits, f"evaluation.heldout_sets.{name}")
        features[name] = extract_features(
            backbone, _rows_view(images, np.sort(rows)), evaluation.batch_size
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
