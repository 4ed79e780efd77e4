"""The comparison table: one row per architecture's report (``metrics.report``), the real-vs-real
baseline below them, and its Markdown with N, backbone and every warning (docs/metrics.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cxr_synth.data.tables import markdown_table

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


def feature_column(name: str, label: str) -> str:
    """A feature metric's column on a backbone whose Fréchet distance is called ``label``."""
    if name == "FID":
        return label
    suffix = "_rand" if label == "FD_rand" else ""
    if name.startswith("KID"):
        return name.replace("KID", "KID" + suffix, 1)
    return name + suffix


def _label(reports: Sequence[Mapping[str, Any]]) -> str:
    labels = {(r["fid_label"], r["backbone"]) for r in reports}
    if len(labels) != 1:
        raise ValueError(f"architectures were evaluated on different backbones: {sorted(labels)}")
    return next(iter(labels))[0]


def comparison_table(
    baseline: Mapping[str, Any], reports: Sequence[Mapping[str, Any]]
) -> tuple[pd.DataFrame, str, dict[str, float]]:
    """One row per report: distribution, pixel and memorization metrics, training cost.

    Feature columns are named after the backbone (``FID`` only for Inception, else ``FD_rand``,
    ``KID_rand_mean``...); ``dice`` stays empty (the segmentation test fills it). Returns the
    table, its Markdown (the baseline row, N, backbone and every warning) and every value as
    ``<arch>.<column>`` and ``baseline.<column>``.
    """
    if not reports:
        raise ValueError("no architecture was evaluated")
    label = _label(reports)
    feature_columns = [feature_column(name, label) for name in FEATURE_COLUMNS]
    external = baseline.get("external")
    if external:  # the same metrics against the external real set, next to the in-split ones
        feature_columns += [f"{column}_external" for column in feature_columns]
    columns = [*feature_columns, *SAMPLE_COLUMNS, *PIXEL_COLUMNS, *TRAINING_COLUMNS]
    rows = []
    for report in reports:
        values = {**report["metrics"], **report["training"], "dice": math.nan}
        row = {"architecture": report["architecture"]}
        for column in columns:
            row[column] = float(values.get(column, math.nan))
        rows.append(row)
    table = pd.DataFrame(rows)

    base = {"architecture": "real (held-out) baseline"}
    base.update({c: baseline["metrics"].get(f"baseline_{c}", math.nan) for c in feature_columns})
    base.update({"n_real": float(baseline["n_real"]), "n_fake": float(baseline["n_heldout"])})
    with_baseline = pd.concat(
        [table[["architecture", *columns]], pd.DataFrame([base])], ignore_index=True
    )
    markdown = _markdown(with_baseline, baseline, reports, label)
    values = {
        f"{row['architecture']}.{column}": value
        for row in [*rows, {**base, "architecture": "baseline"}]
        for column, value in row.items()
        if column != "architecture"
    }
    return table, markdown, values


def _markdown(
    table: pd.DataFrame,
    baseline: Mapping[str, Any],
    reports: Sequence[Mapping[str, Any]],
    label: str,
) -> str:
    """The table with its heading, what N and backbone stand behind it, and its warnings (each
    followed by the architectures it concerns, unless it concerns all)."""
    external = baseline.get("external")
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
    return "\n".join(
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
            markdown_table(table),
            "",
            "## Warnings",
            "",
            *(notes or ["- none"]),
            "",
        ]
    )
