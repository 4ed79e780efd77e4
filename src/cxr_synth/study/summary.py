"""The summary of a study's seed runs: which runs to aggregate, mean ± std tables over seeds,
learning curves at equal compute, verdicts over seeds x held-out draws and the segmentation Dice
table. Kedro-free and without I/O: the ``study_summary`` pipeline's nodes read the seed runs from
MLflow through the catalog and call these.

A study need not have every input: one that trains no GAN (segmentation only) has no comparison
tables or histories, one that evaluates a saved generator no histories, a GAN study no
segmentation artifacts. What a study lacks becomes an empty output (a table of headers, a figure
that says why) with a logged warning; only a study with neither comparison tables nor
segmentation artifacts fails (``check_has_results``).

Every table says how many seeds stand behind a value; ``std`` is the sample standard deviation
over seeds (n − 1 in the denominator), missing with a single seed.

A study with variants (an ablation: ``variants:`` in the study file) has a ``variant`` column in
every input (``MlflowStudyDataset``); then every aggregate is per variant *and* architecture, with
a ``variant`` column in front, and the figures draw one curve/bar per variant (per
``variant/architecture`` when the study trained several architectures).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from cxr_synth.data.tables import metric_records
from cxr_synth.runtime.errors import UserError
from cxr_synth.segmentation.compare import study_dice_markdown, study_dice_table
from cxr_synth.study.figures import group_keys, group_order

logger = logging.getLogger(__name__)

ID_COLUMNS = ("variant", "seed", "run_id", "architecture")
SEED_TABLE_COLUMNS = ["architecture", "metric", "mean", "std", "n_seeds", "seeds", "values"]
CURVE_COLUMNS = [
    "architecture", "step", "epoch", "n_seeds", "fd_mean", "fd_std",
    "wall_clock_s_mean", "wall_clock_s_std",
]  # fmt: skip
# The per-image Dice artifacts of a seed run: folder -> test set (in-domain, external).
TEST_SETS = {"segmentation": "in", "segmentation_external": "ext"}


def _select_seeds(runs: pd.DataFrame, seeds: list[int], name: str, what: str) -> pd.DataFrame:
    finished = sorted(int(s) for s in runs["seed"])
    if seeds:
        missing = sorted(set(seeds) - set(finished))
        if missing:
            raise UserError(
                f"Study '{name}'{what}: seeds {missing} have no finished MLflow run (finished: "
                f"{finished}). Run `kedro study run studies/<file>.yml` again to complete them."
            )
        runs = runs[runs["seed"].isin(seeds)]
    configs = sorted(set(runs["config"]))
    if len(configs) > 1:
        by_config = {c: sorted(runs.loc[runs["config"] == c, "seed"]) for c in configs}
        raise UserError(
            f"Study '{name}'{what}: its seed runs used different study configurations "
            f"{by_config}; rerun the study with `kedro study run <file> --force` so every seed "
            "uses one."
        )
    return runs.sort_values("seed")


def select_runs(
    runs: pd.DataFrame,
    *,
    name: str | None = None,
    seeds: Sequence[int] = (),
    variants: Sequence[str] = (),
) -> pd.DataFrame:
    """The seed runs to aggregate, one row per seed (``MlflowStudyDataset`` without artifact).

    With ``seeds`` every listed seed must have a finished run; with none every finished seed is
    used. All must come from the same study configuration (the runner's hash tag). With
    variants, this holds per variant: ``variants`` (in that order) must each have the seeds,
    none takes every variant found (by name). ``name``: the study's, for the messages.
    """
    seeds, variants = list(seeds), list(variants)
    name = name or (str(runs["study"].iloc[0]) if len(runs) else "?")
    if "variant" not in runs.columns:
        if variants:
            raise UserError(
                f"Study '{name}': study.variants {variants} given, but its seed runs have "
                "no variant; run the study file with `variants:` first, or drop study.variants."
            )
        return _select_seeds(runs, seeds, name, "").reset_index(drop=True)
    found = list(dict.fromkeys(sorted(runs["variant"])))
    if variants:
        missing = [v for v in variants if v not in found]
        if missing:
            raise UserError(
                f"Study '{name}': variants {missing} have no finished MLflow run (found: "
                f"{[v for v in found if v]}). Run `kedro study run studies/<file>.yml` again."
            )
        order = variants
    elif "" in found:
        raise UserError(
            f"Study '{name}' has seed runs with and without a variant; name the variants to "
            "aggregate in study.variants (kedro study run passes the file's), or rename the study."
        )
    else:
        order = found
    parts = [
        _select_seeds(runs[runs["variant"] == variant], seeds, name, f", variant '{variant}'")
        for variant in order
    ]
    return pd.concat(parts).reset_index(drop=True)


def rows_of_runs(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of the selected runs, in the runs' order (variants as selected, then seeds)."""
    rank = {run_id: i for i, run_id in enumerate(runs["run_id"])}
    used = frame[frame["run_id"].isin(rank)]
    return used.iloc[np.argsort(used["run_id"].map(rank).to_numpy(), kind="stable")]


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


def verdicts_over_seeds(
    resampled: pd.DataFrame, runs: pd.DataFrame
) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """Pairwise verdicts over the selected seeds x resampled held-out images (every seed's
    ``<arch>/resampled_metrics.csv``), their Markdown, and the rank stability per metric."""
    from cxr_synth.metrics.verdicts import (
        pairwise_verdicts,
        primary_metric,
        rank_stability,
        verdicts_markdown,
    )

    used = rows_of_runs(resampled, runs) if "run_id" in resampled else resampled.iloc[:0]
    if used.empty:
        logger.warning(
            "Study '%s': no seed run has resampled metrics (evaluation.resamples > 0), so there "
            "are no verdicts.", _name(runs),
        )  # fmt: skip
    verdicts, stability = pairwise_verdicts(used), rank_stability(used)
    markdown = verdicts_markdown(verdicts, stability, primary=primary_metric(used))
    markdown += f"\nStudy: {_name(runs)}, seed runs {list(runs['run_id'])}.\n"
    return verdicts, markdown, stability


def seed_summary(
    comparison: pd.DataFrame, runs: pd.DataFrame, metrics: list[str] | None = None
) -> tuple[pd.DataFrame, str, dict[str, dict[str, float]]]:
    """Mean ± std over seeds of every comparison-table metric, per architecture.

    ``comparison``: every seed's comparison table with ``seed`` and ``run_id`` columns; ``runs``:
    the selected seed runs; ``metrics``: the columns to aggregate (None: every numeric column
    with a value). Returns the tidy table (one row per architecture and metric: mean,
    std, n_seeds, and the seeds and values it came from), its Markdown (one row per
    architecture, cells ``mean ± std (n seeds)``) and the values as MLflow metrics
    (``<arch>.<metric>.mean`` / ``.std``; the catalog adds the ``study.`` prefix).
    """
    used = rows_of_runs(comparison, runs)
    keys = group_keys(used)
    if used.empty:
        logger.warning(
            "Study '%s': no seed run has a comparison table (or <arch>/evaluation.json "
            "reports), so the seed table, the learning curves and the bars are empty; as "
            "expected for a study that evaluates no generator (e.g. segmentation only).",
            _name(runs),
        )
        table = pd.DataFrame(columns=[*keys, *SEED_TABLE_COLUMNS[1:]])
        return table, _empty_markdown(runs, "no comparison tables", NO_COMPARISON), {}
    metrics = _metric_columns(used, metrics)
    rows = []
    for group_key, group in used.groupby(keys, sort=False):
        for metric in metrics:
            values = group[metric].dropna()
            rows.append(
                {
                    **dict(zip(keys, group_key, strict=True)),
                    "metric": metric,
                    "mean": float(values.mean()) if len(values) else math.nan,
                    "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                    "n_seeds": int(len(values)),
                    "seeds": ",".join(str(int(s)) for s in group.loc[values.index, "seed"]),
                    "values": ";".join(f"{v:.6g}" for v in values),
                }
            )
    columns = [*keys, *SEED_TABLE_COLUMNS[1:]]
    table = pd.DataFrame(rows, columns=columns)
    return table, _seed_markdown(table, runs, metrics), _seed_metrics(table)


NO_COMPARISON = (
    "No seed run has a comparison table or `<arch>/evaluation.json` reports: the study "
    "evaluated no generator (segmentation_table.md has the Dice of a segmentation study)."
)
NO_SEGMENTATION = (
    "No seed run has per-image segmentation Dice (`segmentation/<method>_runs.csv`, "
    "`segmentation_external/<method>_runs.csv`): the study ran no segmentation."
)


def _name(runs: pd.DataFrame) -> str:
    return str(runs["study"].iloc[0]) if len(runs) else "?"


def _empty_markdown(runs: pd.DataFrame, what: str, why: str) -> str:
    return "\n".join([f"# Study `{_name(runs)}`: {what}", "", _run_list(runs), "", why, ""])


def _run_list(runs: pd.DataFrame) -> str:
    seeds = lambda part: ", ".join(f"{int(r.seed)} (`{r.run_id}`)" for r in part.itertuples())  # noqa: E731
    if "variant" not in runs.columns:
        return f"Seeds and their MLflow runs: {seeds(runs)}."
    per_variant = [
        f"{variant}: {seeds(part)}" for variant, part in runs.groupby("variant", sort=False)
    ]
    return "Variants, seeds and their MLflow runs: " + "; ".join(per_variant) + "."


def _seed_markdown(table: pd.DataFrame, runs: pd.DataFrame, metrics: list[str]) -> str:
    name = str(runs["study"].iloc[0])
    keys = group_keys(table)
    n_seeds = runs["seed"].nunique()
    lines = [
        f"# Study `{name}`: mean ± std over {n_seeds} seed{'s' if n_seeds != 1 else ''}",
        "",
        _run_list(runs),
        "Cells: mean ± sample standard deviation (n − 1) over seeds, and how many seeds had a "
        "value. Every seed is measured against the same real images and feature network "
        "(evaluation seeds are fixed across study seeds; docs/studies.md).",
        "",
        "| " + " | ".join(keys) + " | " + " | ".join(metrics) + " |",
        "|" + "---|" * (len(keys) + len(metrics)),
    ]
    for group_key, group in table.groupby(keys, sort=False):
        by_metric = group.set_index("metric")
        cells = [
            _cell(by_metric.at[m, "mean"], by_metric.at[m, "std"], int(by_metric.at[m, "n_seeds"]))
            for m in metrics
        ]
        lines.append("| " + " | ".join(map(str, group_key)) + " | " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def _seed_metrics(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    keys = group_keys(table)
    return metric_records(
        {
            ".".join([*(str(row[k]) for k in keys), row["metric"], kind]): row[kind]
            for row in table.to_dict("records")
            for kind in ("mean", "std")
        }
    )


def learning_curves(
    histories: pd.DataFrame,
    runs: pd.DataFrame,
    seed_table: pd.DataFrame,
    curve_column: str = "fid",
) -> pd.DataFrame:
    """FD during training against optimiser steps and training wall-clock, mean ± std over seeds.

    ``histories``: every seed's ``<arch>/history.csv`` (one row per epoch: ``step``, the FD
    column ``curve_column`` where evaluated, ``epoch_time_s``), with ``seed``, ``run_id``
    and ``architecture``. Wall-clock is the cumulative training time (``epoch_time_s``, which
    leaves out the FD evaluations) at each evaluated epoch. Only the architectures of the seed
    table are kept (not the segmentation's ``pairs.<arch>`` GANs). With variants: per variant
    and architecture, a ``variant`` column in front.
    """
    value = curve_column
    keys = group_keys(seed_table)
    if seed_table.empty or rows_of_runs(histories, runs).empty:
        if not seed_table.empty:
            logger.warning(
                "Study '%s': no seed run has a <arch>/history.csv (no training in the study, "
                "e.g. evaluation only), so the learning curves are empty.", _name(runs)
            )  # fmt: skip
        return pd.DataFrame(columns=[*keys, *CURVE_COLUMNS[1:]])
    missing = [c for c in ("step", "epoch", "epoch_time_s", value) if c not in histories]
    if missing:
        raise UserError(
            f"The seeds' history.csv artifacts have no {missing} column (columns: "
            f"{list(histories.columns)}); check study_summary.curve_column."
        )
    rank = {group: i for i, group in enumerate(group_order(seed_table))}
    used = rows_of_runs(histories, runs)
    groups = pd.Series(list(used[keys].itertuples(index=False, name=None)), index=used.index)
    used = used[groups.isin(rank)].sort_values([*keys, "seed", "epoch"])
    used = used.assign(wall_clock_s=used.groupby([*keys, "seed"])["epoch_time_s"].cumsum())
    points = used.dropna(subset=[value])
    curves = (
        points.groupby([*keys, "step"])
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
    curves["_rank"] = [rank[g] for g in curves[keys].itertuples(index=False, name=None)]
    curves = curves.sort_values(["_rank", "step"]).reset_index(drop=True)
    for key in keys:
        curves[key] = curves[key].astype(str)
    curves["step"] = curves["step"].astype(int)
    curves["epoch"] = curves["epoch"].astype(int)
    return curves[[*keys, *CURVE_COLUMNS[1:]]]


# ------------------------------------------------------------------------ segmentation studies
def _segmentation_frames(used: pd.DataFrame, runs: pd.DataFrame, reference: str) -> dict:
    """{(variant, test set, method): per-(seed, image) rows}: variants in the runs' order, then
    the in-domain and the external test set, then the reference method and the others."""
    variants = list(dict.fromkeys(runs["variant"])) if "variant" in runs.columns else [""]
    variant = used["variant"] if "variant" in used.columns else pd.Series("", index=used.index)
    test_set = used["folder"].map(TEST_SETS)
    frames = {}
    for key, rows in used.groupby([variant, test_set, used["name"]], sort=False):
        frames[key] = rows.drop(columns=["variant", "folder", "name"], errors="ignore")

    def order(key: tuple[str, str, str]) -> tuple:
        return (variants.index(key[0]), list(TEST_SETS.values()).index(key[1]),
                key[2] != reference, key[2])  # fmt: skip

    return {key: frames[key] for key in sorted(frames, key=order)}


def segmentation_summary(
    segmentation_runs: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    reference: str = "none",
    baseline: str | None = "raw",
    suffix: str | None = None,
    versus: Sequence[str] = (),
) -> tuple[pd.DataFrame, str]:
    """The Dice table of a segmentation study (``cxr_synth.segmentation.study_dice_table``).

    ``segmentation_runs``: every seed run's per-image ``segmentation/<method>_runs.csv`` (test
    set ``in``: the held-out images of the training set) and
    ``segmentation_external/<method>_runs.csv`` (``ext``: the external set), with ``study_seed``,
    ``run_id``, ``folder`` and ``name`` (the method) in front; ``runs``: the selected seed runs.
    Per (variant, test set, method): Dice mean ± std over U-Net seeds (each seed's U-Net: mean
    over the test images) and the paired per-image differences (mean, 95 % t-interval,
    Wilcoxon p) with the ``reference`` method (``none``) of the same variant,
    with the baseline variant (``baseline``, or ``suffix`` pairing) and with the ``versus``
    cells. Returns the table (no ``variant`` column in a study without variants) and its
    Markdown. A study without segmentation artifacts gets an empty table and a warning.
    """
    used = rows_of_runs(segmentation_runs, runs)
    if "folder" in used.columns:
        used = used[used["folder"].isin(TEST_SETS)]
    frames = _segmentation_frames(used, runs, reference) if len(used) else {}
    table = study_dice_table(frames, reference=reference, baseline=baseline, suffix=suffix,
                             versus=list(versus))  # fmt: skip
    if "variant" not in runs.columns:
        table = table.drop(columns="variant")
    if not frames:
        logger.warning(
            "Study '%s': no seed run has per-image segmentation Dice (segmentation/<method>_runs"
            ".csv), so the segmentation table is empty; as expected for a study that ran no "
            "segmentation.", _name(runs)
        )  # fmt: skip
        return table, _empty_markdown(runs, "no segmentation", NO_SEGMENTATION)
    markdown = study_dice_markdown(table, reference=reference, suffix=suffix)
    n_seeds = int(table["n_seeds"].max())
    lines = [
        f"# Study `{_name(runs)}`: segmentation Dice over {n_seeds} U-Net seed"
        + ("s" if n_seeds != 1 else ""),
        "",
        _run_list(runs),
        "Dice: mean ± sample std (n − 1) over the U-Net seeds (each seed: mean over the test "
        "images). Δ: paired per image (each image's Dice averaged over the seeds), its 95 % "
        "t-interval over the images and the Wilcoxon signed-rank p; the interval covers "
        "image-to-image variation, not seed-to-seed variation (the ± column). Test set `in`: "
        "the held-out images of the training set; `ext`: the external set. A Δ is given only "
        "between cells that score the same images.",
        "",
        markdown,
        "",
    ]
    return table, "\n".join(lines)


def check_has_results(
    runs: pd.DataFrame, seed_table: pd.DataFrame, segmentation_table: pd.DataFrame
) -> None:
    """Fail a summary with nothing in it: the seed runs have neither comparison tables
    (``<arch>/evaluation.json``) nor per-image segmentation Dice, so every output is empty."""
    if seed_table.empty and segmentation_table.empty:
        raise UserError(
            f"Study '{_name(runs)}': its seed runs have none of the artifacts the study summary "
            "aggregates (a comparison table or <arch>/evaluation.json reports, "
            "segmentation/<method>_runs.csv); did the seeds run the evaluation or the "
            "segmentation? Add those pipelines to the study file's run.pipelines."
        )
