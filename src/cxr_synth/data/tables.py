"""Result tables, written one way for every stage: Markdown cells and MLflow metric records."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd


def metric_records(values: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{key: value}`` -> the ``{key: {"value": v, "step": 0}}`` records that kedro-mlflow's
    ``MlflowMetricsHistoryDataset`` logs; missing (None) and non-finite values are left out."""
    return {
        key: {"value": float(value), "step": 0}
        for key, value in values.items()
        if value is not None and math.isfinite(float(value))
    }


def mean_std(mean: float, std: float, digits: int = 4) -> str:
    """``0.8612 ± 0.0170``; an undefined std (one seed) shows as ``± n/a``."""
    spread = "n/a" if math.isnan(std) else f"{std:.{digits}f}"
    return f"{mean:.{digits}f} ± {spread}"


def interval(low: float, high: float, digits: int = 4) -> str:
    """``[-0.0120, +0.0310]``; an undefined interval (NaN) is an empty cell."""
    return "" if math.isnan(low) else f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a Markdown table: floats to 4 significant digits, NaN as an empty cell."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def add_dice(comparison: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The GAN comparison table with each architecture's U-Net Dice (mean and std over seeds)
    from the segmentation summary, ``dice_std`` right after ``dice``."""
    by_method = summary.set_index("method")
    table = comparison.copy()
    table["dice"] = table["architecture"].map(by_method["dice_mean"])
    table.insert(
        table.columns.get_loc("dice") + 1,
        "dice_std",
        table["architecture"].map(by_method["dice_std"]),
    )
    return table
