"""The figures of a multi-seed study: learning curves and bars with error bars, from the seed
table (one row per (variant,) architecture and metric: mean, std, n_seeds) and the groups it
is keyed by. matplotlib loads in the functions that draw (docs/performance.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cxr_synth.runtime.errors import UserError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def group_keys(frame: pd.DataFrame) -> list[str]:
    """The columns one aggregate row stands for: variant (if any) and architecture."""
    return ["variant", "architecture"] if "variant" in frame.columns else ["architecture"]


def group_order(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """The (variant,) architecture groups of a seed table, in its order."""
    return list(dict.fromkeys(table[group_keys(table)].itertuples(index=False, name=None)))


def group_labels(table: pd.DataFrame) -> dict[tuple[str, ...], str]:
    """Figure labels of the groups: the architecture; with variants, the variant (or
    ``variant/architecture`` when the study has several architectures)."""
    groups = group_order(table)
    if "variant" not in table.columns:
        return {g: g[0] for g in groups}
    several = len({g[1] for g in groups}) > 1
    return {g: f"{g[0]}/{g[1]}" if several else g[0] for g in groups}


def resolve_metric(name: str, available: list[str]) -> str | None:
    """The column for metric ``name``: itself, or its offline-backbone variant (``FID`` ->
    ``FD_rand``, ``KID_mean`` -> ``KID_rand_mean``, ``precision`` -> ``precision_rand``)."""
    variants = [name, "FD_rand" if name == "FID" else None]
    variants.append(
        name.replace("KID", "KID_rand", 1) if name.startswith("KID") else f"{name}_rand"
    )
    return next((v for v in variants if v and v in available), None)


def _colours(labels: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette, n = (colormaps["tab10"], 10) if len(labels) <= 10 else (colormaps["tab20"], 20)
    return {a: palette(i % n) for i, a in enumerate(labels)}


def _seed_values(seed_table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One metric's rows of the seed table, indexed by the figure labels of their groups."""
    labels = group_labels(seed_table)
    rows = seed_table[seed_table["metric"] == metric]
    keys = group_keys(seed_table)
    index = [labels[g] for g in rows[keys].itertuples(index=False, name=None)]
    return rows.set_index(pd.Index(index, name="label"))


def _group_rows(frame: pd.DataFrame, keys: list[str], group: tuple[str, ...]) -> np.ndarray:
    """Which rows of ``frame`` belong to ``group`` (values of ``keys``)."""
    masks = [frame[k].astype(str).to_numpy() == str(v) for k, v in zip(keys, group, strict=True)]
    return np.logical_and.reduce(masks)


def _note(figure: Any, text: str) -> None:
    """Say on an empty figure why it is empty."""
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11,
                bbox={"facecolor": "white", "edgecolor": "0.6"})  # fmt: skip


def learning_curve_figure(curves: pd.DataFrame, seed_table: pd.DataFrame) -> Figure:
    """FD against optimiser steps (left) and training wall-clock (right), mean over seeds with a
    ±std band, one curve per group; below, precision and recall at the final evaluation (mean ±
    std over seeds) at each group's total steps and time.

    ``curves``: per group and ``step``: ``n_seeds``, ``fd_mean``, ``fd_std``,
    ``wall_clock_s_mean``, ``wall_clock_s_std``; empty curves give a figure that says so.
    """
    from matplotlib.figure import Figure

    keys = group_keys(seed_table)
    labels = group_labels(seed_table)
    colours = _colours(list(labels.values()))
    minutes = bool(len(curves)) and curves["wall_clock_s_mean"].max() > 300
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    n_seeds = int(curves["n_seeds"].max()) if len(curves) else 0
    figure = Figure(figsize=(10, 10))
    axes = figure.subplots(3, 2, squeeze=False)
    available = list(dict.fromkeys(seed_table["metric"]))
    for group, label in labels.items():
        curve = curves[_group_rows(curves, keys, group)]
        if curve.empty:
            continue
        colour = colours[label]
        std = curve["fd_std"].fillna(0.0)
        for axis, x in (
            (axes[0, 0], curve["step"]),
            (axes[0, 1], curve["wall_clock_s_mean"] / scale),
        ):
            axis.plot(x, curve["fd_mean"], marker="o", markersize=3, color=colour, label=label)
            axis.fill_between(
                x, curve["fd_mean"] - std, curve["fd_mean"] + std, color=colour, alpha=0.2
            )
        last = curve.iloc[-1]
        for row, name in ((1, "precision"), (2, "recall")):
            column = resolve_metric(name, available)
            if column is None or label not in _seed_values(seed_table, column).index:
                continue
            value = _seed_values(seed_table, column).loc[label]
            yerr = 0.0 if math.isnan(value["std"]) else value["std"]
            xerr = last["wall_clock_s_std"] / scale
            xerr = 0.0 if math.isnan(xerr) else xerr
            axes[row, 0].errorbar(last["step"], value["mean"], yerr=yerr, fmt="o", capsize=3,
                                  color=colour, label=label)  # fmt: skip
            axes[row, 1].errorbar(last["wall_clock_s_mean"] / scale, value["mean"], xerr=xerr,
                                  yerr=yerr, fmt="o", capsize=3, color=colour, label=label)  # fmt: skip
    axes[0, 0].set(xlabel="optimiser steps", ylabel="FD during training (lower is better)",
                   title=f"FD vs steps (mean ± std, {n_seeds} seeds)")  # fmt: skip
    axes[0, 1].set(xlabel=f"training wall-clock ({unit})", ylabel="FD during training",
                   title="FD vs wall-clock (evaluation time left out)")  # fmt: skip
    for row, name in ((1, "precision"), (2, "recall")):
        column = resolve_metric(name, available) or name
        axes[row, 0].set(xlabel="optimiser steps (at the end of training)", ylabel=column,
                         title=f"{column}, final evaluation only")  # fmt: skip
        axes[row, 1].set(xlabel=f"training wall-clock ({unit})", ylabel=column,
                         title=f"{column}, final evaluation only")  # fmt: skip
    for axis in axes.flat:
        if axis.has_data():
            axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    if curves.empty:
        _note(figure, "No learning curves: no seed run has a training history of an evaluated "
                      "architecture.")  # fmt: skip
    return figure


def seed_bar_figure(
    seed_table: pd.DataFrame, seed_rows: pd.DataFrame, bar_metrics: list[str]
) -> Figure:
    """Bars of the mean over seeds with ±std error bars, one panel per ``bar_metrics`` entry
    found (``resolve_metric``), one bar per group, each seed's own value (a row of
    ``seed_rows``, keyed as the seed table) drawn as a dot on its bar. An empty seed table gives
    a figure that says so; ``bar_metrics`` of which none is in it raise a ``UserError``."""
    from matplotlib.figure import Figure

    if seed_table.empty:
        figure = Figure(figsize=(6, 3.6))
        _note(figure, "No bars: no seed run has a comparison table (the study evaluated no "
                      "generator).")  # fmt: skip
        return figure
    available = list(dict.fromkeys(seed_table["metric"]))
    panels = [m for m in (resolve_metric(n, available) for n in bar_metrics) if m]
    if not panels:
        raise UserError(
            f"study_summary.bar_metrics {bar_metrics}: none is a column of the seed "
            f"table (available: {available}); fix conf/base/parameters_study_summary.yml."
        )
    keys = group_keys(seed_table)
    labels = group_labels(seed_table)
    order = list(labels.values())
    figure = Figure(figsize=(max(3.4, 0.45 * len(order) + 1.5) * len(panels), 3.6))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    x = np.arange(len(order))
    for axis, metric in zip(axes, panels, strict=True):
        values = _seed_values(seed_table, metric).reindex(order)
        axis.bar(x, values["mean"], yerr=values["std"].fillna(0.0), capsize=4, color="tab:blue",
                 alpha=0.7)  # fmt: skip
        for i, group in enumerate(labels):
            seeds = seed_rows.loc[_group_rows(seed_rows, keys, group), metric].dropna()
            axis.plot(np.full(len(seeds), i), seeds, "k.", markersize=4)
        axis.set_xticks(x, order, rotation=30, ha="right")
        n = int(values["n_seeds"].max())
        axis.set(title=f"{metric} (mean ± std, {n} seeds)", ylabel=metric)
    figure.tight_layout()
    return figure
