"""Study summary: the seed runs of one study (read from MLflow through the catalog) in, mean ± std
tables, learning curves at equal compute and bars with error bars out. No I/O here.

Every table says how many seeds stand behind a value; ``std`` is the sample standard deviation
over seeds (n − 1 in the denominator), missing with a single seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pandas.api.types import is_numeric_dtype

from cxr_synth.errors import UserError
from cxr_synth.pipelines.study_summary.params import StudyParams, StudySummaryParams

ID_COLUMNS = ("seed", "run_id", "architecture")
SEED_TABLE_COLUMNS = ["architecture", "metric", "mean", "std", "n_seeds", "seeds", "values"]
CURVE_COLUMNS = [
    "architecture", "step", "epoch", "n_seeds", "fd_mean", "fd_std",
    "wall_clock_s_mean", "wall_clock_s_std",
]  # fmt: skip


def select_seed_runs(runs: pd.DataFrame, study: StudyParams) -> pd.DataFrame:
    """The seed runs to aggregate, one row per seed (``MlflowStudyDataset`` without artifact).

    With ``study.seeds`` every listed seed must have a finished run; with ``[]`` every finished
    seed is used. All must come from the same study configuration (the runner's hash tag).
    """
    study = StudyParams.parse(study, prefix="study")
    name = study.name or (str(runs["study"].iloc[0]) if len(runs) else "?")
    finished = sorted(int(s) for s in runs["seed"])
    if study.seeds:
        missing = sorted(set(study.seeds) - set(finished))
        if missing:
            raise UserError(
                f"Study '{name}': seeds {missing} have no finished MLflow run (finished: "
                f"{finished}). Run `kedro study run studies/<file>.yml` again to complete them."
            )
        runs = runs[runs["seed"].isin(study.seeds)]
    configs = sorted(set(runs["config"]))
    if len(configs) > 1:
        by_config = {c: sorted(runs.loc[runs["config"] == c, "seed"]) for c in configs}
        raise UserError(
            f"Study '{name}': its seed runs used different study configurations {by_config}; "
            "rerun the study with `kedro study run <file> --force` so every seed uses one."
        )
    return runs.sort_values("seed").reset_index(drop=True)


def _used(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["run_id"].isin(runs["run_id"])]


def _metric_columns(frame: pd.DataFrame, wanted: list[str] | None) -> list[str]:
    numeric = [
        c
        for c in frame.columns
        if c not in ID_COLUMNS and is_numeric_dtype(frame[c]) and frame[c].notna().any()
    ]
    if wanted is None:
        return numeric
    unknown = [c for c in wanted if c not in numeric]
    if unknown:
        raise UserError(
            f"study_summary.metrics: {unknown} are not numeric columns of the seeds' comparison "
            f"tables (available: {numeric}); fix conf/base/parameters_study_summary.yml."
        )
    return list(wanted)


def _cell(mean: float, std: float, n: int) -> str:
    if n == 0:
        return ""
    seeds = f"({n} seed{'s' if n != 1 else ''})"
    if math.isnan(std):
        return f"{mean:.4g} {seeds}"
    return f"{mean:.4g} ± {std:.2g} {seeds}"


def summarise_over_seeds(
    comparison: pd.DataFrame,
    runs: pd.DataFrame,
    params: StudySummaryParams,
) -> tuple[pd.DataFrame, str, dict[str, dict[str, float]]]:
    """Mean ± std over seeds of every comparison-table metric, per architecture.

    ``comparison``: every seed's comparison table with ``seed`` and ``run_id`` columns; ``runs``:
    the selected seed runs. Returns the tidy table (one row per architecture and metric: mean,
    std, n_seeds, and the seeds and values it came from), its Markdown (one row per
    architecture, cells ``mean ± std (n seeds)``) and the values as MLflow metrics
    (``<arch>.<metric>.mean`` / ``.std``; the catalog adds the ``study.`` prefix).
    """
    params = StudySummaryParams.parse(params, prefix="study_summary")
    used = _used(comparison, runs)
    if used.empty:
        raise ValueError("no comparison-table row belongs to the selected seed runs")
    metrics = _metric_columns(used, params.metrics)
    rows = []
    for architecture, group in used.groupby("architecture", sort=False):
        for metric in metrics:
            values = group[metric].dropna()
            rows.append(
                {
                    "architecture": architecture,
                    "metric": metric,
                    "mean": float(values.mean()) if len(values) else math.nan,
                    "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                    "n_seeds": int(len(values)),
                    "seeds": ",".join(str(int(s)) for s in group.loc[values.index, "seed"]),
                    "values": ";".join(f"{v:.6g}" for v in values),
                }
            )
    table = pd.DataFrame(rows, columns=SEED_TABLE_COLUMNS)
    return table, _seed_markdown(table, runs, metrics), _seed_metrics(table)


def _seed_markdown(table: pd.DataFrame, runs: pd.DataFrame, metrics: list[str]) -> str:
    name = str(runs["study"].iloc[0])
    seeds = ", ".join(f"{int(r.seed)} (`{r.run_id}`)" for r in runs.itertuples())
    lines = [
        f"# Study `{name}`: mean ± std over {len(runs)} seeds",
        "",
        f"Seeds and their MLflow runs: {seeds}.",
        "Cells: mean ± sample standard deviation (n − 1) over seeds, and how many seeds had a "
        "value. Every seed is measured against the same real images and feature network "
        "(evaluation seeds are fixed across study seeds; docs/studies.md).",
        "",
        "| architecture | " + " | ".join(metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for architecture, group in table.groupby("architecture", sort=False):
        by_metric = group.set_index("metric")
        cells = [
            _cell(by_metric.at[m, "mean"], by_metric.at[m, "std"], int(by_metric.at[m, "n_seeds"]))
            for m in metrics
        ]
        lines.append(f"| {architecture} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def _seed_metrics(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    metrics = {}
    for row in table.itertuples():
        for kind in ("mean", "std"):
            value = getattr(row, kind)
            if math.isfinite(value):
                key = f"{row.architecture}.{row.metric}.{kind}"
                metrics[key] = {"value": float(value), "step": 0}
    return metrics


def build_learning_curves(
    histories: pd.DataFrame,
    runs: pd.DataFrame,
    seed_table: pd.DataFrame,
    params: StudySummaryParams,
) -> pd.DataFrame:
    """FD during training against optimiser steps and training wall-clock, mean ± std over seeds.

    ``histories``: every seed's ``<arch>/history.csv`` (one row per epoch: ``step``, the FD
    column ``params.curve_column`` where evaluated, ``epoch_time_s``), with ``seed``, ``run_id``
    and ``architecture``. Wall-clock is the cumulative training time (``epoch_time_s``, which
    leaves out the FD evaluations) at each evaluated epoch. Only the architectures of the seed
    table are kept (not the segmentation's ``pairs.<arch>`` GANs).
    """
    params = StudySummaryParams.parse(params, prefix="study_summary")
    value = params.curve_column
    missing = [c for c in ("step", "epoch", "epoch_time_s", value) if c not in histories]
    if missing:
        raise UserError(
            f"The seeds' history.csv artifacts have no {missing} column (columns: "
            f"{list(histories.columns)}); check study_summary.curve_column."
        )
    order = list(dict.fromkeys(seed_table["architecture"]))
    used = _used(histories, runs)
    used = used[used["architecture"].isin(order)].sort_values(["architecture", "seed", "epoch"])
    used = used.assign(
        wall_clock_s=used.groupby(["architecture", "seed"])["epoch_time_s"].cumsum()
    )
    points = used.dropna(subset=[value])
    curves = (
        points.groupby(["architecture", "step"])
        .agg(
            epoch=("epoch", "first"),
            n_seeds=("seed", "nunique"),
            fd_mean=(value, "mean"),
            fd_std=(value, "std"),
            wall_clock_s_mean=("wall_clock_s", "mean"),
            wall_clock_s_std=("wall_clock_s", "std"),
        )
        .reset_index()
    )
    curves["architecture"] = pd.Categorical(curves["architecture"], categories=order)
    curves = curves.sort_values(["architecture", "step"]).reset_index(drop=True)
    curves["architecture"] = curves["architecture"].astype(str)
    curves["step"] = curves["step"].astype(int)
    curves["epoch"] = curves["epoch"].astype(int)
    return curves[CURVE_COLUMNS]


def resolve_metric(name: str, available: list[str]) -> str | None:
    """The column for metric ``name``: itself, or its offline-backbone variant (``FID`` ->
    ``FD_rand``, ``KID_mean`` -> ``KID_rand_mean``, ``precision`` -> ``precision_rand``)."""
    variants = [name, "FD_rand" if name == "FID" else None]
    variants.append(name.replace("KID", "KID_rand", 1) if name.startswith("KID") else f"{name}_rand")
    return next((v for v in variants if v and v in available), None)


def _colours(architectures: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {a: palette(i % 10) for i, a in enumerate(architectures)}


def _seed_values(seed_table: pd.DataFrame, metric: str) -> pd.DataFrame:
    return seed_table[seed_table["metric"] == metric].set_index("architecture")


def plot_learning_curves(curves: pd.DataFrame, seed_table: pd.DataFrame) -> Figure:
    """One figure, every architecture: FD against optimiser steps (left) and training wall-clock
    (right), mean over seeds with a ±std band; below, precision and recall at the final
    evaluation (mean ± std over seeds) at each architecture's total steps and time."""
    order = list(dict.fromkeys(seed_table["architecture"]))
    colours = _colours(order)
    minutes = bool(len(curves)) and curves["wall_clock_s_mean"].max() > 300
    scale, unit = (60.0, "min") if minutes else (1.0, "s")
    n_seeds = int(curves["n_seeds"].max()) if len(curves) else 0
    figure = Figure(figsize=(10, 10))
    axes = figure.subplots(3, 2, squeeze=False)
    available = list(dict.fromkeys(seed_table["metric"]))
    for architecture in order:
        curve = curves[curves["architecture"] == architecture]
        if curve.empty:
            continue
        colour = colours[architecture]
        std = curve["fd_std"].fillna(0.0)
        for axis, x in ((axes[0, 0], curve["step"]), (axes[0, 1], curve["wall_clock_s_mean"] / scale)):
            axis.plot(x, curve["fd_mean"], marker="o", markersize=3, color=colour, label=architecture)
            axis.fill_between(x, curve["fd_mean"] - std, curve["fd_mean"] + std, color=colour, alpha=0.2)
        last = curve.iloc[-1]
        for row, name in ((1, "precision"), (2, "recall")):
            column = resolve_metric(name, available)
            if column is None or architecture not in _seed_values(seed_table, column).index:
                continue
            value = _seed_values(seed_table, column).loc[architecture]
            yerr = 0.0 if math.isnan(value["std"]) else value["std"]
            xerr = last["wall_clock_s_std"] / scale
            xerr = 0.0 if math.isnan(xerr) else xerr
            axes[row, 0].errorbar(last["step"], value["mean"], yerr=yerr, fmt="o", capsize=3,
                                  color=colour, label=architecture)  # fmt: skip
            axes[row, 1].errorbar(last["wall_clock_s_mean"] / scale, value["mean"], xerr=xerr,
                                  yerr=yerr, fmt="o", capsize=3, color=colour, label=architecture)  # fmt: skip
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
    return figure


def plot_seed_bars(
    seed_table: pd.DataFrame,
    comparison: pd.DataFrame,
    runs: pd.DataFrame,
    params: StudySummaryParams,
) -> Figure:
    """Bars of the mean over seeds with ±std error bars, one panel per ``bar_metrics`` entry,
    each seed's own value drawn as a dot on its bar."""
    params = StudySummaryParams.parse(params, prefix="study_summary")
    available = list(dict.fromkeys(seed_table["metric"]))
    panels = [m for m in (resolve_metric(n, available) for n in params.bar_metrics) if m]
    if not panels:
        raise UserError(
            f"study_summary.bar_metrics {params.bar_metrics}: none is a column of the seed "
            f"table (available: {available}); fix conf/base/parameters_study_summary.yml."
        )
    order = list(dict.fromkeys(seed_table["architecture"]))
    used = _used(comparison, runs)
    figure = Figure(figsize=(3.4 * len(panels), 3.6))
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    x = np.arange(len(order))
    for axis, metric in zip(axes, panels, strict=True):
        values = _seed_values(seed_table, metric).reindex(order)
        axis.bar(x, values["mean"], yerr=values["std"].fillna(0.0), capsize=4, color="tab:blue",
                 alpha=0.7)  # fmt: skip
        for i, architecture in enumerate(order):
            seeds = used.loc[used["architecture"] == architecture, metric].dropna()
            axis.plot(np.full(len(seeds), i), seeds, "k.", markersize=4)
        axis.set_xticks(x, order, rotation=30, ha="right")
        n = int(values["n_seeds"].max())
        axis.set(title=f"{metric} (mean ± std, {n} seeds)", ylabel=metric)
    figure.tight_layout()
    return figure
