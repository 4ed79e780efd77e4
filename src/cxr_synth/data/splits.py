"""Patient-level splits and seeded image subsets, one definition for every stage.

Ingestion and segmentation split patients the same way; training's FID reference and the
evaluation reference draw their real images the same way, so at equal splits, N and seed they
are the same image set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

SPLIT_ORDER = ("test", "val")  # shares taken from the shuffled patients in this order; rest: train


def split_patients(
    patients: Iterable[Any], fractions: Mapping[str, float], seed: int, *, at_least_one: bool = False
) -> dict[Any, str]:
    """Seeded patient-level split: the unique patients, shuffled, give ``round(f * n)`` of
    themselves to ``test`` then ``val`` (``fractions``; at least one each with ``at_least_one``)
    and the rest to ``train`` (none left when the shares take every patient). The dict keeps
    the shuffled order, so the first k ``train`` patients are a seeded subset of whole patients."""
    unknown = set(fractions) - set(SPLIT_ORDER)
    if unknown:
        raise ValueError(f"fractions for {sorted(unknown)}; only {list(SPLIT_ORDER)} take one")
    shuffled = np.random.default_rng(seed).permutation(np.unique(np.asarray(list(patients))))
    names: list[str] = []
    for split in SPLIT_ORDER:
        if split in fractions:
            count = int(round(fractions[split] * len(shuffled)))
            names += [split] * (max(1, count) if at_least_one else count)
    names += ["train"] * (len(shuffled) - len(names))
    return dict(zip(shuffled.tolist(), names[: len(shuffled)], strict=True))


def rows_in_splits(index: pd.DataFrame, splits: Iterable[str], what: str) -> np.ndarray:
    """The ``row`` of every image in ``splits`` (index columns ``split``, ``row``); an empty
    selection is an error naming ``what`` it was for and the splits the index has."""
    splits = list(splits)
    rows = index.loc[index["split"].isin(splits), "row"].to_numpy()
    if rows.size == 0:
        raise ValueError(
            f"No preprocessed image is in the splits {splits} for the {what} "
            f"(the index has {index['split'].value_counts().to_dict()})."
        )
    return rows


def seeded_subset(rows: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most ``limit`` of ``rows`` (all of them if ``limit`` is None or not smaller), drawn
    without replacement with ``seed``, in ascending order."""
    if limit is not None and rows.size > int(limit):
        rows = np.random.default_rng(seed).choice(rows, size=int(limit), replace=False)
    return np.sort(rows)
