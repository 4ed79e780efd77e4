"""The ``study`` and ``study_summary`` parameters (conf/base/parameters_study_summary.yml)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cxr_synth.runtime.schema import Int, StrictModel


class StudyParams(StrictModel):
    """Which study to summarise; ``kedro study run FILE`` fills these from the study file."""

    name: str | None = None  # the cxr_synth.study tag of the seed runs
    seeds: list[Int] = []  # the seeds to aggregate; [] = every finished seed of the study
    variants: list[str] = []  # the variants to aggregate, in this order; [] = every one found


Cell = Annotated[str, Field(pattern=r"^[^/]+/[^/]+$")]  # VARIANT/METHOD


class StudySegmentationParams(StrictModel):
    """The segmentation Dice table (``study_segmentation_table``): what each cell is compared with."""

    # The method every other is compared with, per variant and test set.
    reference: str = "none"
    # The variant every other is compared with (same method and test set); null = none.
    baseline: str | None = "raw"
    # Instead of baseline: compare each variant X<suffix> with X (e.g. _clahe).
    suffix: str | None = None
    # VARIANT/METHOD cells every row is compared with, where the test images are the same.
    versus: list[Cell] = []


class StudySummaryParams(StrictModel):
    """What the aggregate shows."""

    # Comparison-table columns aggregated over seeds; null = every numeric column with a value.
    metrics: list[str] | None = None
    # Panels of the bar figure; FID/KID/precision/... also find their FD_rand/KID_rand/..._rand
    # columns when the offline backbone was used.
    bar_metrics: list[str] = Field(
        default=["FID", "KID_mean", "precision", "recall", "density", "coverage"], min_length=1
    )
    # The learning-curve source: a column of <arch>/history.csv (training.evaluation's FD).
    curve_column: str = "fid"
    segmentation: StudySegmentationParams = StudySegmentationParams()
