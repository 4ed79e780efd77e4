"""Ingestion: validate the NIH metadata, select rows, split by patient, resolve image files.

Every row that is dropped for a *problem* (malformed value, image missing, not in the official
split) is counted, logged and returned in a rejects table with its CSV line and the reason
(``cxr_synth.data.metadata`` does the checks). Rows removed by the user's *filters* (label, view,
age, gender, cap) are counted in the summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxr_synth.data.metadata import assign_splits, resolve_images, validate_rows
from cxr_synth.data.tables import metric_records
from cxr_synth.pipelines.ingestion.params import IngestionParams
from cxr_synth.runtime.errors import BadInput

logger = logging.getLogger(__name__)


def validate_metadata(metadata: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the NIH metadata schema and every row's values (``validate_rows``): the valid rows
    with snake_case columns and their ``csv_line``, and the malformed rows as rejects."""
    return validate_rows(metadata)


def filter_rows(
    valid: pd.DataFrame, params: IngestionParams
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the user's filters in order; return the kept rows and the row count after each.

    ``finding_labels`` are exact ``Finding Labels`` strings; labels equal to one of them only
    after case/whitespace normalisation are counted and warned about, and kept only with
    ``accept_label_variants``. An empty selection is an error naming the filter that emptied it.
    """
    counts = {"valid_rows": len(valid)}
    labels, n_variants = _label_matches(valid["finding_labels"], params)
    steps = [
        ("finding_labels", lambda: labels),
        ("view_positions", lambda: _member(valid["view_position"], params.view_positions)),
        ("age_range", lambda: valid["patient_age"].between(*params.age_range)),
        ("genders", lambda: _member(valid["patient_gender"], params.genders)),
    ]
    keep = np.ones(len(valid), dtype=bool)  # one take at the end, not one per filter
    for name, mask in steps:
        keep &= np.asarray(mask(), dtype=bool)
        counts[f"after_{name}"] = int(keep.sum())
        if not counts[f"after_{name}"]:
            raise BadInput(
                f"No rows left after the `ingestion.{name}` filter ({getattr(params, name)!r}); "
                f"row counts so far: {counts}. Widen the filter in parameters_ingestion.yml."
            )
    counts["label_variants"] = n_variants
    logger.info("filter_rows: %s", counts)
    return valid[keep].reset_index(drop=True), counts


def _member(column: pd.Series, values: list[str]) -> np.ndarray:
    """``column.isin(values)``; all true at once when every distinct value is wanted."""
    if set(column.unique().tolist()) <= set(values):
        return np.ones(len(column), dtype=bool)
    return column.isin(values).to_numpy(dtype=bool)


def _fold(label: str) -> str:
    """A label case- and whitespace-folded, for near-miss matching."""
    return " ".join(label.split()).casefold()


def _label_matches(labels: pd.Series, params: IngestionParams) -> tuple[np.ndarray, int]:
    """Rows whose label is wanted, and the number of near-misses (case, spaces), warned about."""
    codes, distinct = pd.factorize(labels)  # a few hundred distinct labels are looked at
    distinct = distinct.tolist()
    wanted = {_fold(label) for label in params.finding_labels}
    is_exact = [label in params.finding_labels for label in distinct]
    is_near = [
        not exact and _fold(label) in wanted
        for exact, label in zip(is_exact, distinct, strict=True)
    ]
    exact = np.array([*is_exact, False])[codes]  # code -1 (missing): the trailing False
    variants = np.array([*is_near, False])[codes]
    if variants.any():
        seen = labels[variants].value_counts().to_dict()
        logger.warning(
            "ingestion.finding_labels: %d row(s) match %s only after case/space normalisation "
            "(%s); %s (ingestion.accept_label_variants: %s)",
            int(variants.sum()), params.finding_labels, seen,
            "kept" if params.accept_label_variants else "left out",
            str(params.accept_label_variants).lower(),
        )  # fmt: skip
    return (exact | variants if params.accept_label_variants else exact), int(variants.sum())


def assign_patient_splits(
    selected: pd.DataFrame,
    train_val_list: str | None,
    test_list: str | None,
    params: IngestionParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every row a ``split`` (train / val / test), never sharing a patient between splits:
    NIH's official lists when present (``split.source``), else seeded (``assign_splits``)."""
    split = params.split
    return assign_splits(
        selected,
        train_val_list,
        test_list,
        source=split.source,
        val_fraction=split.val_fraction,
        test_fraction=split.test_fraction,
        seed=params.seed,
    )


def resolve_image_files(
    split_rows: pd.DataFrame,
    images: Mapping[str, Callable[[], Any]],
    params: IngestionParams,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Attach each row's image file (``partition``) and apply the optional ``max_images`` cap
    (``resolve_images``). ``images`` is the lazily-loaded partition dict of every PNG under the
    NIH root; no image is read here."""
    return resolve_images(
        split_rows,
        list(images),
        on_missing=params.on_missing_images,
        max_images=params.max_images,
        seed=params.seed,
    )


def summarise_ingestion(
    manifest: pd.DataFrame,
    filter_counts: dict[str, int],
    resolve_counts: dict[str, int],
    metadata_rejects: pd.DataFrame,
    split_rejects: pd.DataFrame,
    image_rejects: pd.DataFrame,
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, dict[str, float]]]:
    """Collect all rejects in one table and the row counts of every step (JSON and MLflow)."""
    rejects = pd.concat([metadata_rejects, split_rejects, image_rejects], ignore_index=True)
    counts = {
        "rows_in_csv": filter_counts["valid_rows"] + len(metadata_rejects),
        "rejected_malformed": len(metadata_rejects),
        **filter_counts,
        "rejected_not_in_split_lists": len(split_rejects),
        "rejected_image_missing": len(image_rejects),
        **resolve_counts,
        "manifest_rows": len(manifest),
        **{f"split_{name}": int(n) for name, n in manifest["split"].value_counts().items()},
        **{
            f"patients_{name}": int(n)
            for name, n in manifest.groupby("split")["patient_id"].nunique().items()
        },
    }
    summary = {"counts": counts, "rejects_by_reason": rejects["reason"].value_counts().to_dict()}
    metrics = metric_records(counts)
    logger.info("ingestion: %d images in the manifest, %d rejects", len(manifest), len(rejects))
    return rejects, summary, metrics
