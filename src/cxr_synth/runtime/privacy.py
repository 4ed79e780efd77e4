"""What leaves the machine carries no patient-derived identifiers.

Source file names of clinical sets encode patients (``MCUCXR_0002_0``, ``CHNCXR_0001_0``,
``00000001_000``). Results name images by a pseudonym derived from the preprocessed array row;
the mapping back to the source names is the local index table (``seg_split_index``,
``nih_images_index`` under ``data/05_model_input``), which is never logged to MLflow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def pseudonymous_ids(rows: Iterable[int], prefix: str = "img") -> np.ndarray:
    """Stable pseudonyms ``img00042`` for array rows (the same row always gets the same id)."""
    return np.array([f"{prefix}{int(row):05d}" for row in rows], dtype=object)


def relative_to_project(text: str, project: str | os.PathLike) -> str:
    """``text`` with the project's absolute path replaced by ``.`` (paths in MLflow stay
    meaningful on another machine and do not reveal local user or folder names)."""
    root = str(Path(project).resolve())
    return text.replace(root + os.sep, "").replace(root, ".")
