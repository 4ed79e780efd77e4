"""The NIH ChestX-ray14 metadata, checked row by row: schema and values, patient-level splits
(the official lists or seeded), image files on disk. Kedro-free; the ingestion pipeline's nodes
call these.

Every row dropped for a *problem* (malformed value, image missing, not in the official split) is
counted, logged and returned in a rejects table with its CSV line and the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxr_synth.data.nih import OFFICIAL_COLUMNS
from cxr_synth.data.splits import split_patients
from cxr_synth.runtime.errors import BadInput, UserError

logger = logging.getLogger(__name__)

SNAKE_CASE_NAMES = (
    "image_index",
    "finding_labels",
    "follow_up",
    "patient_id",
    "patient_age",
    "patient_gender",
    "view_position",
    "original_width",
    "original_height",
    "pixel_spacing_x",
    "pixel_spacing_y",
)
COLUMN_NAMES = dict(zip(OFFICIAL_COLUMNS, SNAKE_CASE_NAMES, strict=True))
REQUIRED_COLUMNS = list(COLUMN_NAMES)[:7]
REQUIRED_COLUMNS_SNAKE = [COLUMN_NAMES[name] for name in REQUIRED_COLUMNS]
REJECT_COLUMNS = ["image_index", "csv_line", "stage", "reason"]
_AGE = r"^\s*(\d{1,3})\s*([YMDymd]?)\s*$"  # NIH ages: 58, or 058Y / 006M / 010D in older files
_AGE_UNIT_YEARS = {"": 1, "Y": 1, "M": 12, "D": 365}
_IMAGE_FOLDER = re.compile(r"(^|/)images_\d+(/images)?$")



class ImagesMissing(UserError, FileNotFoundError):
    """The selected rows' images are not on disk; the message says where to look."""

def rejects_table(rows: pd.DataFrame, stage: str, reason: str | pd.Series) -> pd.DataFrame:
    """``rows`` (``image_index``, ``csv_line``) as rejects of ``stage``, with their reason."""
    return pd.DataFrame(
        {
            "image_index": rows["image_index"].astype(str).to_numpy(),
            "csv_line": rows["csv_line"].to_numpy(),
            "stage": stage,
            "reason": reason if isinstance(reason, str) else reason.to_numpy(),
        },
        columns=REJECT_COLUMNS,
    )


def log_rejects(rejects: pd.DataFrame, stage: str) -> None:
    """One warning per stage with rejects: how many, by reason."""
    if len(rejects):
        counts = rejects["reason"].str.split(":").str[0].value_counts().to_dict()
        logger.warning("%s: rejected %d rows %s (see nih_rejects)", stage, len(rejects), counts)


def _numbers(column: pd.Series) -> pd.Series:
    """A column's values as floats, NaN where not a number (a numeric column as read: no
    string round trip, the slow part on 112,120 rows)."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    return pd.to_numeric(column.astype("string").str.strip(), errors="coerce")


def _as_number(column: pd.Series) -> pd.Series:
    """``pd.to_numeric(column, errors="coerce")``; a NumPy number column as it is (the same)."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        return column
    return pd.to_numeric(column, errors="coerce")


def _age_years(column: pd.Series) -> pd.Series:
    """NIH ages are integers in years; older releases write them as e.g. '058Y', '006M'."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    parts = column.astype("string").str.extract(_AGE)
    unit = parts[1].str.upper().map(_AGE_UNIT_YEARS).astype(float)
    return pd.to_numeric(parts[0], errors="coerce") / unit


def _flag(mask: pd.Series) -> np.ndarray:
    """A check's result as a NumPy bool array, missing values counted as problems."""
    return mask.to_numpy(dtype=bool, na_value=True)


def _not_integer(source: pd.Series, values: pd.Series) -> np.ndarray:
    """Rows whose ``values`` (``source`` as floats) are missing or fractional."""
    if isinstance(source.dtype, np.dtype) and source.dtype.kind in "iu":  # NumPy ints: never
        return np.zeros(len(values), dtype=bool)
    return _flag(values.isna() | (values % 1 != 0))


def _choice_column(column: pd.Series, allowed: list[str]) -> tuple[pd.Series, np.ndarray]:
    """``column`` stripped and upper-cased, and the rows not in ``allowed`` then. A column
    already all in ``allowed`` (the official file) is returned as it is: the same values."""
    if set(column.unique().tolist()) <= set(allowed):  # a few distinct values, not every row
        return column, np.zeros(len(column), dtype=bool)
    upper = column.astype("string").str.strip().str.upper()
    return upper, _flag(~upper.isin(allowed))


def _png_name_problems(names: pd.Series) -> np.ndarray:
    """Stripped names that are missing or do not end in .png (case-insensitive)."""
    if names.str.endswith(".png").to_numpy(dtype=bool, na_value=False).all():
        return np.zeros(len(names), dtype=bool)
    return _flag(~names.str.lower().str.endswith(".png"))


def _duplicates(names: pd.Series) -> np.ndarray:
    """Rows whose name an earlier row has; a hash count first, as names are usually unique."""
    if len(pc.unique(pa.array(names.array))) == len(names):
        return np.zeros(len(names), dtype=bool)
    return names.duplicated(keep="first").to_numpy(dtype=bool)


def validate_rows(metadata: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the NIH metadata schema (``Data_Entry_2017.csv``) and every row's values.

    Accepts both ``Data_Entry_2017.csv`` (trailing empty column) and
    ``Data_Entry_2017_v2020.csv``. Returns the valid rows with snake_case columns and a
    ``csv_line`` (1-based line in the file, header = line 1), and the malformed rows as rejects.
    """
    source = metadata.attrs.get("source", "nih_metadata")  # its file (MetadataCSVDataset)
    # pandas copies attrs into every derived frame and parquet file: the path stops here
    metadata = metadata.rename(columns=lambda name: str(name).strip())
    metadata.attrs = {}
    missing = [name for name in REQUIRED_COLUMNS if name not in metadata.columns]
    if missing:
        raise BadInput(
            f"{source} is missing the official NIH ChestX-ray14 column(s) {missing} (found "
            f"{list(metadata.columns)[:12]}); use Data_Entry_2017.csv (or "
            "Data_Entry_2017_v2020.csv) as downloaded from NIH, header unchanged"
        )
    if metadata.empty:
        raise BadInput(
            f"{source} has 0 data rows (only a header); use the full Data_Entry_2017.csv "
            "(112,120 rows) as downloaded from NIH"
        )
    known = [name for name in COLUMN_NAMES if name in metadata.columns]
    frame = metadata[known].rename(columns=COLUMN_NAMES)
    frame.insert(1, "csv_line", np.arange(len(frame)) + 2)

    # Whole-column kernels only (Arrow strings); a row's reason is the first check it fails.
    text = {
        col: frame[col].astype("string").str.strip() for col in ("image_index", "finding_labels")
    }
    gender, bad_gender = _choice_column(frame["patient_gender"], ["M", "F"])
    view, bad_view = _choice_column(frame["view_position"], ["PA", "AP"])
    age = _age_years(frame["patient_age"])
    patient = _numbers(frame["patient_id"])
    follow_up = _numbers(frame["follow_up"])
    checks = {
        "image_index: empty or not a .png name": _png_name_problems(text["image_index"]),
        "finding_labels: empty": _flag(text["finding_labels"].eq("")),
        "patient_id: not an integer": _not_integer(frame["patient_id"], patient),
        "follow_up: not an integer": _not_integer(frame["follow_up"], follow_up),
        "patient_age: not an age in years": _flag(age.isna() | (age < 0) | (age > 130)),
        "patient_gender: not M or F": bad_gender,
        "view_position: not PA or AP": bad_view,
    }
    code = np.zeros(len(frame), dtype=np.int8)  # 0: valid, i: the i-th message
    for i, bad in enumerate(checks.values(), start=1):
        code[bad & (code == 0)] = i
    duplicate = _duplicates(text["image_index"])
    code[duplicate & (code == 0)] = len(checks) + 1
    messages = np.array(["", *checks, "image_index: duplicate of an earlier row"], dtype=object)

    bad_rows = code != 0
    rejects = rejects_table(
        frame[["image_index", "csv_line"]].iloc[np.flatnonzero(bad_rows)],
        "validate_metadata",
        pd.Series(messages[code[bad_rows]]),
    )
    log_rejects(rejects, "validate_metadata")

    ok = ~bad_rows
    every = bool(ok.all())  # the usual case: no row to take out

    def kept(column: pd.Series) -> pd.Series:
        return column if every else column[ok]

    valid = kept(frame)
    optional = ("original_width", "original_height", "pixel_spacing_x", "pixel_spacing_y")
    valid = valid.assign(
        image_index=kept(text["image_index"]).astype(str),
        finding_labels=kept(text["finding_labels"]).astype(str),
        patient_id=kept(patient).astype("int64"),
        follow_up=kept(follow_up).astype("int64"),
        patient_age=kept(age),
        patient_gender=kept(gender).astype(str),
        view_position=kept(view).astype(str),
        **{col: _as_number(valid[col]) for col in optional if col in valid},
    )
    logger.info("validate_metadata: %d of %d rows are valid", len(valid), len(frame))
    return valid.reset_index(drop=True), rejects


def split_names(text: str | None) -> set[str]:
    """The image names of a split list file (``test_list.txt``), one a line."""
    return {line.strip() for line in (text or "").splitlines() if line.strip()}


def assign_splits(
    selected: pd.DataFrame,
    train_val_list: str | None,
    test_list: str | None,
    *,
    source: str = "auto",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every row a ``split`` (train / val / test), never sharing a patient between splits.

    With NIH's official ``train_val_list.txt`` and ``test_list.txt`` (``split.source``: ``auto``
    or ``official``) the test set is the official one and ``val`` is a seeded patient-level share
    of train_val; rows listed in neither file are rejected. Otherwise (``auto`` without the lists,
    or ``seeded``) patients are split with ``val_fraction`` / ``test_fraction``. Returns the rows
    with their split and the rows rejected (listed in neither file).
    """
    have_lists = train_val_list is not None and test_list is not None
    if source == "official" and not have_lists:
        raise BadInput(
            "ingestion.split.source is 'official' but train_val_list.txt and/or test_list.txt "
            "were not found next to the metadata CSV. Download them from NIH, or set "
            "ingestion.split.source to 'seeded'."
        )
    frame = selected.copy()
    rejects = pd.DataFrame(columns=REJECT_COLUMNS)
    if have_lists and source != "seeded":
        in_test = frame["image_index"].isin(split_names(test_list))
        in_train_val = frame["image_index"].isin(split_names(train_val_list))
        unlisted = ~(in_test | in_train_val)
        rejects = rejects_table(
            frame[unlisted], "assign_patient_splits", "split: not in train_val_list.txt or test_list.txt"
        )
        frame, in_test = frame[~unlisted].copy(), in_test[~unlisted]
        frame["split"] = np.where(in_test, "test", "train")
        train_patients = frame.loc[~in_test, "patient_id"].to_numpy()
        val_of = split_patients(train_patients, {"val": val_fraction}, seed)
        frame.loc[~in_test, "split"] = frame.loc[~in_test, "patient_id"].map(val_of)
    else:
        fractions = {"val": val_fraction, "test": test_fraction}
        frame["split"] = frame["patient_id"].map(
            split_patients(frame["patient_id"].to_numpy(), fractions, seed)
        )
    log_rejects(rejects, "assign_patient_splits")

    leaking = frame.groupby("patient_id")["split"].nunique()
    if (leaking > 1).any():
        raise BadInput(
            f"Patients {leaking[leaking > 1].index[:10].tolist()} appear in more than one split: "
            "train_val_list.txt and test_list.txt do not match this metadata file. Use the lists "
            "from the same NIH release, or set ingestion.split.source to 'seeded'."
        )
    logger.info(
        "assign_patient_splits (%s): %s images",
        "official lists" if have_lists and source != "seeded" else "seeded",
        frame["split"].value_counts().to_dict(),
    )
    return frame.reset_index(drop=True), rejects


def image_lookup(partition_ids: list[str]) -> tuple[dict[str, str], int]:
    """Map ``<Image Index>`` to the partition holding it, across all ``images_*/images/`` folders."""
    lookup: dict[str, str] = {}
    duplicates = 0
    for partition in sorted(partition_ids):
        folder, _, stem = partition.rpartition("/")
        if not _IMAGE_FOLDER.search(folder):
            continue
        name = f"{stem}.png"
        if name in lookup:
            duplicates += 1
            logger.warning("%s is in several image folders; using %s", name, lookup[name])
            continue
        lookup[name] = partition
    return lookup, duplicates


def resolve_images(
    split_rows: pd.DataFrame,
    partitions: Collection[str],
    *,
    on_missing: str = "proceed",
    max_images: int | None = None,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Attach each row's image file (``partition``) and apply the optional ``max_images`` cap.

    ``partitions``: the partition ids of every PNG under the NIH root
    (``images_*/images/<stem>``). With ``on_missing="proceed"`` rows without a file are rejected
    and the run goes on (the common partial download); with ``"fail"`` it stops and says how
    many are missing. Returns the rows kept, the rejects and the counts of this step.
    """
    lookup, duplicates = image_lookup(list(partitions))
    frame = split_rows.copy()
    frame["partition"] = frame["image_index"].map(lookup)
    missing = frame["partition"].isna()
    n_found, n_rows = int((~missing).sum()), len(frame)
    summary = f"{n_found} of {n_rows} selected rows have an image on disk"
    logger.info("resolve_image_files: %s (%d PNG files under the NIH root)", summary, len(partitions))
    if missing.any() and on_missing == "fail":
        raise ImagesMissing(
            f"{summary}; first missing: {frame.loc[missing, 'image_index'].head(5).tolist()}; "
            "download the missing images_*.tar.gz archives into the NIH folder, or set "
            "ingestion.on_missing_images: proceed to train on the images present"
        )
    if n_found == 0:
        raise ImagesMissing(
            f"{summary}: no images_*/images/<Image Index>.png among the {len(partitions)} PNGs of "
            f"nih_images (e.g. {sorted(partitions)[:2]}); nih_root must be the folder holding "
            "images_001/ ..."
        )
    rejects = rejects_table(
        frame[missing], "resolve_image_files", "image: file not found in any images_*/images/ folder"
    )
    log_rejects(rejects, "resolve_image_files")
    frame = frame[~missing]

    counts = {"with_image_on_disk": n_found, "duplicate_image_files": duplicates}
    cap = max_images
    if cap is not None and len(frame) > cap:
        frame = frame.sample(n=cap, random_state=seed).sort_index()
        logger.info("resolve_image_files: kept a seeded sample of %d images (ingestion.max_images)", cap)
    counts["after_max_images"] = len(frame)
    return frame.reset_index(drop=True), rejects, counts


def check_manifest_images(partitions: pd.Series, available: Collection[str]) -> None:
    """Stop when the manifest names images that are not under ``nih_images``: a manifest from
    another data source (the demo's, after switching to ``--env nih``) or moved images."""
    absent = partitions[~partitions.isin(list(available))]
    if len(absent):
        raise BadInput(
            f"nih_manifest lists {len(absent)} of its {len(partitions)} images that are not under "
            f"nih_images (e.g. {absent.iloc[0]}.png): it is from another data source (or the "
            "images moved); run ingestion first (kedro run --pipelines ingestion, same --env)"
        )
