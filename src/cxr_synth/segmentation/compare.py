"""Paired comparison of two segmentation methods on the same test images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedDifference:
    """Method minus baseline, per image (each image's Dice averaged over seeds)."""

    mean: float  # mean per-image difference
    ci_low: float  # 95 % t-interval of that mean over images
    ci_high: float
    p_value: float  # Wilcoxon signed-rank test on the per-image differences (two-sided)
    n_images: int


def paired_difference(method: pd.Series, baseline: pd.Series) -> PairedDifference:
    """``method`` and ``baseline``: per-image scores indexed by image id (the same images; an
    image missing from ``baseline`` is an error). The p-value is NaN for fewer than two images or
    identical scores."""
    missing = method.index.difference(baseline.index)
    if len(missing):
        raise ValueError(f"{len(missing)} images have no baseline score, e.g. {list(missing[:3])}")
    difference = (method - baseline.reindex(method.index)).to_numpy(dtype=float)
    n = difference.size
    mean = float(difference.mean()) if n else math.nan
    if n < 2:
        return PairedDifference(mean, math.nan, math.nan, math.nan, n)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * difference.std(ddof=1) / math.sqrt(n)
    p = math.nan if np.allclose(difference, 0) else float(stats.wilcoxon(difference).pvalue)
    return PairedDifference(mean, mean - half, mean + half, p, n)
