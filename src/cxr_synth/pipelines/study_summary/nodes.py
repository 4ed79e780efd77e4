"""Study summary: the seed runs of one study (read from MLflow through the catalog) in, mean ± std
tables, learning curves at equal compute, bars with error bars and the segmentation Dice table
out (``cxr_synth.study.summary``; the figures: ``cxr_synth.study.figures``). No I/O here.

Parameters are parsed here; the library functions take plain values.
"""

from __future__ import annotations

import pandas as pd

from cxr_synth.pipelines.node_types import Figure
from cxr_synth.pipelines.study_summary.params import StudyParams, StudySummaryParams
from cxr_synth.study.figures import learning_curve_figure, seed_bar_figure
from cxr_synth.study.summary import (
    check_has_results,
    learning_curves,
    rows_of_runs,
    seed_summary,
    segmentation_summary,
    select_runs,
    verdicts_over_seeds,
)


def select_seed_runs(runs: pd.DataFrame, study: StudyParams) -> pd.DataFrame:
    """The seed runs to aggregate (``select_runs``): ``study.seeds`` (``[]``: every finished
    seed) of ``study.variants`` (``[]``: every variant found), from one configuration each."""
    study = StudyParams.parse(study, prefix="study")
    return select_runs(runs, name=study.name, seeds=study.seeds, variants=study.variants)


def compare_over_seeds(
    resampled: pd.DataFrame, runs: pd.DataFrame
) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """Pairwise verdicts over the selected seeds x resampled held-out images (every seed's
    ``<arch>/resampled_metrics.csv``), their Markdown, and the rank stability per metric."""
    return verdicts_over_seeds(resampled, runs)


def summarise_over_seeds(
    comparison: pd.DataFrame, runs: pd.DataFrame, params: StudySummaryParams
) -> tuple[pd.DataFrame, str, dict[str, dict[str, float]]]:
    """Mean ± std over seeds of every comparison-table metric (``study_summary.metrics``), per
    architecture (``seed_summary``): the tidy table, its Markdown and the MLflow metrics."""
    params = StudySummaryParams.parse(params, prefix="study_summary")
    return seed_summary(comparison, runs, params.metrics)


def build_learning_curves(
    histories: pd.DataFrame,
    runs: pd.DataFrame,
    seed_table: pd.DataFrame,
    params: StudySummaryParams,
) -> pd.DataFrame:
    """FD during training (``study_summary.curve_column``) against optimiser steps and
    training wall-clock, mean ± std over seeds (``learning_curves``)."""
    params = StudySummaryParams.parse(params, prefix="study_summary")
    return learning_curves(histories, runs, seed_table, params.curve_column)


def plot_learning_curves(curves: pd.DataFrame, seed_table: pd.DataFrame) -> Figure:
    """The learning-curve figure (``cxr_synth.study.figures.learning_curve_figure``)."""
    return learning_curve_figure(curves, seed_table)


def plot_seed_bars(
    seed_table: pd.DataFrame,
    comparison: pd.DataFrame,
    runs: pd.DataFrame,
    params: StudySummaryParams,
) -> Figure:
    """Bars over seeds, one panel per ``bar_metrics`` entry, each selected seed's value as a dot
    (``cxr_synth.study.figures.seed_bar_figure``)."""
    params = StudySummaryParams.parse(params, prefix="study_summary")
    return seed_bar_figure(seed_table, rows_of_runs(comparison, runs), list(params.bar_metrics))


def summarise_segmentation(
    segmentation_runs: pd.DataFrame, runs: pd.DataFrame, params: StudySummaryParams
) -> tuple[pd.DataFrame, str]:
    """The Dice table of a segmentation study and its Markdown (``segmentation_summary``), each
    cell compared as ``study_summary.segmentation`` says (reference, baseline or suffix,
    versus)."""
    options = StudySummaryParams.parse(params, prefix="study_summary").segmentation
    return segmentation_summary(
        segmentation_runs,
        runs,
        reference=options.reference,
        baseline=options.baseline,
        suffix=options.suffix,
        versus=options.versus,
    )


def plot_segmentation_dice(
    segmentation_table: pd.DataFrame, params: StudySummaryParams
) -> Figure:
    """The study's Figure 10: Dice mean ± std per (variant, method), one panel per test set
    (``cxr_synth.segmentation.study_dice_figure``)."""
    from cxr_synth.segmentation import study_dice_figure

    options = StudySummaryParams.parse(params, prefix="study_summary").segmentation
    return study_dice_figure(segmentation_table, options.reference)


def check_study_has_results(
    runs: pd.DataFrame, seed_table: pd.DataFrame, segmentation_table: pd.DataFrame
) -> None:
    """Fail a summary with nothing in it (``check_has_results``): the seed runs have neither
    comparison tables nor per-image segmentation Dice, so every output is empty."""
    check_has_results(runs, seed_table, segmentation_table)
