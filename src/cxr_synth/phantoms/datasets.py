"""The demo data sets: NIH- and Montgomery-shaped raw data made of phantoms.

Everything is drawn deterministically from a seed. The images are procedural chest phantoms
(:mod:`cxr_synth.phantoms`), NOT clinical data; only the file layout and the metadata columns
imitate the real datasets, so the rest of the project runs unchanged on either. Image
partitions are lazy callables: each phantom is drawn when it is asked for (the catalog's save),
a few ahead in background threads while earlier ones are PNG-encoded. Kedro-free; the
``demo_data`` pipeline's nodes call these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
from PIL import Image

from cxr_synth.data.nih import NO_FINDING, OFFICIAL_COLUMNS
from cxr_synth.phantoms.batch import LazyRenderer, PhantomJob
from cxr_synth.phantoms.findings import FINDINGS

# The 2017 file ends every line with a comma: an empty, unnamed last column.
NIH_COLUMNS = [*OFFICIAL_COLUMNS, ""]
# Relative frequency of each finding among labelled NIH rows (official file, 2020 version).
FINDING_WEIGHTS = {
    "Infiltration": 19894,
    "Effusion": 13317,
    "Atelectasis": 11559,
    "Nodule": 6331,
    "Mass": 5782,
    "Pneumothorax": 5302,
    "Consolidation": 4667,
    "Pleural_Thickening": 3385,
    "Cardiomegaly": 2776,
    "Emphysema": 2516,
    "Edema": 2303,
    "Fibrosis": 1686,
    "Pneumonia": 1431,
    "Hernia": 227,
}
# Number of findings on a labelled row: 1, 2, 3 or 4 (official file, rounded).
LABEL_COUNT_WEIGHTS = (0.6, 0.28, 0.09, 0.03)
PIXEL_SPACINGS = (0.143, 0.168, 0.139, 0.171)
PIXEL_SPACING_WEIGHTS = (0.4, 0.3, 0.2, 0.1)
NIH_ARCHIVES = ("images_001", "images_002")
SEG_ABNORMAL_FRACTION = 0.4  # Montgomery: 58 of 138 cases are abnormal ("_1")
SEG_FINDINGS = ("Infiltration", "Effusion", "Consolidation", "Fibrosis", "Nodule")
SEG_PATIENT_OFFSET = 1_000_000  # seg phantoms are other "patients" than the NIH ones

# Independent random streams under one seed (patients use [seed, patient, ...]).
_METADATA_STREAM = (0, 1)
_SPLIT_STREAM = (0, 2)
_SEG_STREAM = (0, 3)


def _stream(seed: int, tag: tuple[int, int]) -> np.random.Generator:
    return np.random.default_rng([seed, *tag])


def _labels(rng: np.random.Generator, n_rows: int, no_finding_fraction: float) -> list[str]:
    """NIH-style "Finding Labels": an exact share of "No Finding", else 1-4 sorted findings."""
    names = list(FINDING_WEIGHTS)
    weights = np.array(list(FINDING_WEIGHTS.values()), dtype=float)
    weights /= weights.sum()
    n_clear = round(no_finding_fraction * n_rows)
    clear = np.zeros(n_rows, dtype=bool)
    clear[rng.permutation(n_rows)[:n_clear]] = True
    labels = []
    for is_clear in clear:
        if is_clear:
            labels.append(NO_FINDING)
            continue
        k = int(rng.choice(len(LABEL_COUNT_WEIGHTS), p=LABEL_COUNT_WEIGHTS)) + 1
        picked = rng.choice(len(names), size=k, replace=False, p=weights)
        labels.append("|".join(sorted(names[i] for i in picked)))
    return labels


def nih_metadata(
    seed: int,
    image_size: int,
    n_patients: int,
    *,
    max_images_per_patient: int = 4,
    no_finding_fraction: float = 0.6,
    ap_fraction: float = 0.3,
) -> pd.DataFrame:
    """Phantom ``Data_Entry_2017.csv``: one row per image, NIH's columns in NIH's order.

    Args:
        seed: every row derives from it.
        image_size: the "OriginalImage" width and height.
        n_patients: patients, numbered from 1, with 1..``max_images_per_patient`` rows each.
        no_finding_fraction: the exact share of rows labelled "No Finding".
        ap_fraction: the expected share of AP (vs PA) views.

    Returns:
        Rows sorted by "Image Index" (``00000001_000.png`` …), patients numbered from 1
        with 1..max follow-ups each; the last, unnamed column is empty as in the 2017 file.
    """
    size = image_size
    rng = _stream(seed, _METADATA_STREAM)
    if n_patients < 1:
        raise ValueError(f"demo_data.nih.n_patients must be at least 1, got {n_patients}.")
    counts = rng.integers(1, max_images_per_patient + 1, size=n_patients)
    genders = rng.choice(["M", "F"], size=n_patients, p=[0.56, 0.44])
    first_ages = rng.integers(18, 86, size=n_patients)

    rows = []
    for patient, (count, gender, age) in enumerate(
        zip(counts, genders, first_ages, strict=True), start=1
    ):
        steps = rng.integers(0, 2, size=count)  # a year between some follow-ups
        steps[0] = 0
        ages = age + np.cumsum(steps)
        for follow_up in range(int(count)):
            spacing = float(rng.choice(PIXEL_SPACINGS, p=PIXEL_SPACING_WEIGHTS))
            rows.append(
                {
                    "Image Index": f"{patient:08d}_{follow_up:03d}.png",
                    "Follow-up #": follow_up,
                    "Patient ID": patient,
                    "Patient Age": int(ages[follow_up]),
                    "Patient Gender": str(gender),
                    "View Position": "AP" if rng.random() < ap_fraction else "PA",
                    "OriginalImage[Width": size,
                    "Height]": size,
                    "OriginalImagePixelSpacing[x": spacing,
                    "y]": spacing,
                    "": "",
                }
            )
    frame = pd.DataFrame(rows)
    frame["Finding Labels"] = _labels(rng, len(frame), no_finding_fraction)
    return frame[NIH_COLUMNS]


def nih_split_lists(metadata: pd.DataFrame, seed: int, test_fraction: float) -> tuple[str, str]:
    """Patient-wise ``train_val_list.txt`` and ``test_list.txt`` for the phantom metadata.

    Args:
        metadata: ``nih_metadata`` (needs "Image Index" and "Patient ID").
        seed: the seed of the metadata (its own stream draws the split).
        test_fraction: the share of patients in test.

    Returns:
        (train_val, test): one Image Index per line, newline-terminated, sorted. A fraction
        ``test_fraction`` of the patients (at least one, and never all of several) is in test.
    """
    rng = _stream(seed, _SPLIT_STREAM)
    patients = np.unique(metadata["Patient ID"].to_numpy())
    n_test = round(test_fraction * len(patients))
    if len(patients) > 1:
        n_test = min(max(n_test, 1), len(patients) - 1)
    test_patients = set(rng.permutation(patients)[:n_test].tolist())
    in_test = metadata["Patient ID"].isin(test_patients)
    names = metadata["Image Index"].astype(str)
    return _lines(names[~in_test]), _lines(names[in_test])


def _lines(names: pd.Series) -> str:
    return "".join(f"{name}\n" for name in sorted(names))


def _as_image(renderer: LazyRenderer, index: int) -> Image.Image:
    return Image.fromarray(renderer.get(index))


def _lazy_partitions(
    keys: list[str], jobs: list[PhantomJob], workers: int | None
) -> dict[str, Callable[[], Image.Image]]:
    """{key: callable drawing its image}, in the sorted order the PartitionedDataset saves."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    renderer = LazyRenderer([jobs[i] for i in order], workers=workers)
    return {keys[i]: partial(_as_image, renderer, rank) for rank, i in enumerate(order)}


def nih_images(
    metadata: pd.DataFrame, seed: int, image_size: int, workers: int | None = None
) -> dict[str, Callable[[], Image.Image]]:
    """One lazily drawn phantom PNG per metadata row, in NIH's archive layout.

    Args:
        metadata: ``nih_metadata``; uses "Image Index", "Patient ID", "Follow-up #",
            "Finding Labels" and "View Position".
        seed, image_size: of the phantoms (px per side).
        workers: threads drawing ahead of the writer; None: all cores but one.

    Returns:
        {"images_001/images/00000001_000": callable -> PIL "L" image, ...}: the first half
        of the rows under ``images_001``, the rest under ``images_002``. Labelled rows carry a
        finding-like change; follow-ups of a patient share its anatomy.
    """
    size = image_size
    half = max(1, math.ceil(len(metadata) / len(NIH_ARCHIVES)))
    keys, jobs = [], []
    frame = metadata.sort_values("Image Index").reset_index(drop=True)
    for i in range(len(frame)):
        name = str(frame.at[i, "Image Index"])
        labels = tuple(
            label for label in str(frame.at[i, "Finding Labels"]).split("|") if label in FINDINGS
        )
        keys.append(f"{NIH_ARCHIVES[i // half]}/images/{name.removesuffix('.png')}")
        jobs.append(
            PhantomJob(
                seed=seed,
                patient=int(frame.at[i, "Patient ID"]),
                follow_up=int(frame.at[i, "Follow-up #"]),
                size=size,
                labels=labels,
                view=str(frame.at[i, "View Position"]),
            )
        )
    return _lazy_partitions(keys, jobs, workers)


def seg_images(
    seed: int, image_size: int, n_images: int, workers: int | None = None
) -> dict[str, Callable[[], Image.Image]]:
    """Phantom lung-segmentation set in the Montgomery County layout.

    Args:
        seed, image_size: of the phantoms (px per side).
        n_images: cases, each an image and its two lung masks.
        workers: threads drawing ahead of the writer; None: all cores but one.

    Returns:
        For case ``MCUCXR_0001_0`` (``_1``: abnormal, with a finding-like change) the keys
        ``CXR_png/MCUCXR_0001_0``, ``ManualMask/leftMask/MCUCXR_0001_0`` and
        ``ManualMask/rightMask/MCUCXR_0001_0``: callables drawing the image and its 0/255
        masks of the patient's left (image right) and right lungs, from the same geometry.
    """
    size = image_size
    rng = _stream(seed, _SEG_STREAM)
    keys, jobs = [], []
    for case in range(1, n_images + 1):
        abnormal = rng.random() < SEG_ABNORMAL_FRACTION
        labels = (str(rng.choice(SEG_FINDINGS)),) if abnormal else ()
        name = f"MCUCXR_{case:04d}_{int(abnormal)}"
        job = PhantomJob(seed=seed, patient=SEG_PATIENT_OFFSET + case, size=size, labels=labels)
        for folder, output in (
            ("CXR_png", "image"),
            ("ManualMask/leftMask", "left_lung"),
            ("ManualMask/rightMask", "right_lung"),
        ):
            keys.append(f"{folder}/{name}")
            jobs.append(replace(job, output=output))
    return _lazy_partitions(keys, jobs, workers)
