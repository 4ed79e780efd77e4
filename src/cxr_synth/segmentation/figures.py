"""Figure 10 of the seed paper: test Dice per augmentation method, mean ± std over seeds, for
one run's methods or a whole study's (variant, test set, method) cells. matplotlib loads in the
function that draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cxr_synth.segmentation.config import BASELINES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TEST_SET_TITLES = {"in": "held-out images of the training set", "ext": "external set"}


def dice_figure(
    panels: Mapping[str, pd.DataFrame],
    reference: str = "none",
    title: str = "U-Net lung segmentation",
) -> Figure:
    """One panel per entry of ``panels`` (its title: the key), one point per row of its frame
    (columns ``label``, ``method``, ``dice_mean``, ``dice_std``) at the Dice mean with a ±std
    bar; the methods without synthetic images (``BASELINES``) as grey squares, the others as
    blue dots, and a dashed line at the first ``reference`` row's mean.

    Points with error bars rather than bars: the axis is zoomed to the data, which would make
    bar heights misleading.
    """
    from matplotlib.figure import Figure

    widths = [max(3.0, 0.55 * len(frame) + 1.2) for frame in panels.values()]
    figure = Figure(figsize=(max(7.0, sum(widths)), 3.8))
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False, width_ratios=widths or None)[0]
    for axis, (name, frame) in zip(axes, panels.items(), strict=False):
        positions = np.arange(len(frame))
        for position, row in zip(positions, frame.itertuples(), strict=True):
            baseline = row.method in BASELINES
            axis.errorbar(
                position, row.dice_mean, yerr=0 if math.isnan(row.dice_std) else row.dice_std,
                fmt="s" if baseline else "o", color="#666666" if baseline else "#3b75af",
                capsize=4,
            )  # fmt: skip
        references = frame.loc[frame["method"] == reference, "dice_mean"]
        if len(references):
            axis.axhline(float(references.iloc[0]), color="#666666", linestyle="--", linewidth=1)
        axis.set_xticks(positions, frame["label"], rotation=30, ha="right", fontsize=8)
        spread = frame["dice_std"].fillna(0)
        low = float(np.nanmin(frame["dice_mean"] - spread))
        high = float(np.nanmax(frame["dice_mean"] + spread))
        axis.set_ylim(max(0.0, low - 0.02), min(1.0, high + 0.02) + 0.005)
        axis.set(ylabel="test Dice (mean ± std over seeds)", title=name)
        axis.grid(alpha=0.3, axis="y")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def study_dice_figure(table: pd.DataFrame, reference: str = "none") -> Figure:
    """``dice_figure`` of ``cxr_synth.segmentation.study_dice_table``'s table: one panel per
    test set, one point per (variant, method) cell, labelled ``variant/method`` when the study
    has variants; an empty table (a study without segmentation) gives a figure that says so."""
    if table.empty:
        from matplotlib.figure import Figure

        figure = Figure(figsize=(6, 3.6))
        figure.text(0.5, 0.5, "No segmentation results in this study's seed runs.",
                    ha="center", va="center", fontsize=11)  # fmt: skip
        return figure
    panels = {}
    for test_set, rows in table.groupby("test_set", sort=False):
        variants = rows["variant"] if "variant" in rows.columns else pd.Series("", index=rows.index)
        labels = [f"{v}/{m}" if v else m for v, m in zip(variants, rows["method"], strict=True)]
        name = f"{test_set}: {TEST_SET_TITLES.get(str(test_set), str(test_set))}"
        panels[name] = rows.assign(label=labels)
    return dice_figure(panels, reference)
