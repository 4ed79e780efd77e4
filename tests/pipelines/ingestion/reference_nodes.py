"""The ingestion checks as they were before they were made faster (issue #16; as of commit 2fa85c8):
a frozen reference that test_equivalence.py compares the current nodes with, output for output.
Not used by the project; do not edit (it is what "the same output" means)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from cxr_synth.data.metadata import (
    _AGE,
    _AGE_UNIT_YEARS,
    COLUMN_NAMES,
    REJECT_COLUMNS,
    REQUIRED_COLUMNS,
    REQUIRED_COLUMNS_SNAKE,
)
from cxr_synth.pipelines.ingestion.params import IngestionParams

logger = logging.getLogger(__name__)


def _rejects(rows: pd.DataFrame, stage: str, reason: str | pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_index": rows["image_index"].astype(str).to_numpy(),
            "csv_line": rows["csv_line"].to_numpy(),
            "stage": stage,
            "reason": reason if isinstance(reason, str) else reason.to_numpy(),
        },
        columns=REJECT_COLUMNS,
    )


def _log_rejects(rejects: pd.DataFrame, stage: str) -> None:
    if len(rejects):
        counts = rejects["reason"].str.split(":").str[0].value_counts().to_dict()
        logger.warning("%s: rejected %d rows %s (see nih_rejects)", stage, len(rejects), counts)


def _numbers(column: pd.Series) -> pd.Series:
    """A column's values as floats, NaN where not a number (a numeric column as read: no
    string round trip, the slow part on 112,120 rows)."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    return pd.to_numeric(column.astype("string").str.strip(), errors="coerce")


def _age_years(column: pd.Series) -> pd.Series:
    """NIH ages are integers in years; older releases write them as e.g. '058Y', '006M'."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    parts = column.astype("string").str.extract(_AGE)
    unit = parts[1].str.upper().map(_AGE_UNIT_YEARS).astype(float)
    return pd.to_numeric(parts[0], errors="coerce") / unit


def validate_metadata(metadata: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the NIH metadata schema and every row's values.

    Accepts both ``Data_Entry_2017.csv`` (trailing empty column) and
    ``Data_Entry_2017_v2020.csv``. Returns the valid rows with snake_case columns and a
    ``csv_line`` (1-based line in the file, header = line 1), and the malformed rows as rejects.
    """
    metadata = metadata.rename(columns=lambda name: str(name).strip())
    missing = [name for name in REQUIRED_COLUMNS if name not in metadata.columns]
    if missing:
        raise ValueError(
            f"nih_metadata is missing the official NIH ChestX-ray14 column(s) {missing}. "
            f"Found columns: {list(metadata.columns)}. Point `nih_metadata` in your catalog at "
            "Data_Entry_2017.csv (or Data_Entry_2017_v2020.csv) as downloaded from NIH."
        )
    if metadata.empty:
        raise ValueError(
            "The NIH metadata file has 0 data rows (only a header). Point `nih_metadata` at the "
            "full Data_Entry_2017.csv (112,120 rows) as downloaded from NIH."
        )
    known = [name for name in COLUMN_NAMES if name in metadata.columns]
    frame = metadata[known].rename(columns=COLUMN_NAMES)
    frame.insert(1, "csv_line", np.arange(len(frame)) + 2)

    numeric = {"patient_age", "patient_id", "follow_up"}
    text = {
        col: frame[col].astype("string").str.strip()
        for col in REQUIRED_COLUMNS_SNAKE
        if col not in numeric
    }
    age = _age_years(frame["patient_age"])
    patient = _numbers(frame["patient_id"])
    follow_up = _numbers(frame["follow_up"])
    problems = {
        "image_index: empty or not a .png name": ~text["image_index"]
        .fillna("")
        .str.lower()
        .str.endswith(".png"),
        "finding_labels: empty": text["finding_labels"].fillna("").eq(""),
        "patient_id: not an integer": patient.isna() | (patient % 1 != 0),
        "follow_up: not an integer": follow_up.isna() | (follow_up % 1 != 0),
        "patient_age: not an age in years": age.isna() | (age < 0) | (age > 130),
        "patient_gender: not M or F": ~text["patient_gender"]
        .str.upper()
        .isin(["M", "F"])
        .fillna(False),
        "view_position: not PA or AP": ~text["view_position"]
        .str.upper()
        .isin(["PA", "AP"])
        .fillna(False),
    }
    reason = pd.Series("", index=frame.index)
    for message, bad in problems.items():
        bad = bad.fillna(True).astype(bool)
        reason[bad & reason.eq("")] = message
    duplicated = text["image_index"].duplicated(keep="first") & reason.eq("")
    reason[duplicated] = "image_index: duplicate of an earlier row"

    bad_rows = reason.ne("")
    rejects = _rejects(frame[bad_rows], "validate_metadata", reason[bad_rows])
    _log_rejects(rejects, "validate_metadata")

    valid = frame[~bad_rows].copy()
    valid["image_index"] = text["image_index"][~bad_rows].astype(str)
    valid["finding_labels"] = text["finding_labels"][~bad_rows].astype(str)
    valid["patient_id"] = patient[~bad_rows].astype("int64")
    valid["follow_up"] = follow_up[~bad_rows].astype("int64")
    valid["patient_age"] = age[~bad_rows]
    valid["patient_gender"] = text["patient_gender"][~bad_rows].str.upper().astype(str)
    valid["view_position"] = text["view_position"][~bad_rows].str.upper().astype(str)
    for column in ("original_width", "original_height", "pixel_spacing_x", "pixel_spacing_y"):
        if column in valid:
            valid[column] = pd.to_numeric(valid[column], errors="coerce")
    logger.info("validate_metadata: %d of %d rows are valid", len(valid), len(frame))
    return valid.reset_index(drop=True), rejects


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
        ("finding_labels", lambda f: labels.loc[f.index]),
        ("view_positions", lambda f: f["view_position"].isin(params.view_positions)),
        ("age_range", lambda f: f["patient_age"].between(*params.age_range)),
        ("genders", lambda f: f["patient_gender"].isin(params.genders)),
    ]
    kept = valid
    for name, keep in steps:
        kept = kept[keep(kept)]
        counts[f"after_{name}"] = len(kept)
        if kept.empty:
            raise ValueError(
                f"No rows left after the `ingestion.{name}` filter ({getattr(params, name)!r}); "
                f"row counts so far: {counts}. Widen the filter in parameters_ingestion.yml."
            )
    counts["label_variants"] = n_variants
    logger.info("filter_rows: %s", counts)
    return kept.reset_index(drop=True), counts


def _normalised(labels: pd.Series) -> pd.Series:
    """Case- and whitespace-folded labels, computed once per distinct value (a few hundred)."""
    return labels.map({label: " ".join(label.split()).casefold() for label in labels.unique()})


def _label_matches(labels: pd.Series, params: IngestionParams) -> tuple[pd.Series, int]:
    """Rows whose label is wanted, and the number of near-misses (case, spaces), warned about."""
    exact = labels.isin(params.finding_labels)
    wanted = {" ".join(label.split()).casefold() for label in params.finding_labels}
    variants = ~exact & _normalised(labels).isin(wanted)
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
