"""Reporting: the study in one self-contained HTML file (``cxr_synth.sharing.study_report``),
the comparison table with Dice, and a synthetic-dataset card per architecture."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from PIL import Image

from cxr_synth.data.tables import add_dice, metric_records
from cxr_synth.sharing.cards import card_markdown, dataset_card
from cxr_synth.sharing.study_report import study_report


def build_study_report(
    parameters: dict,
    ingestion_summary: dict,
    comparison_table: pd.DataFrame,
    segmentation_summary: pd.DataFrame,
    **figures: Image.Image | None,
) -> str:
    """The whole study as one HTML page that needs no other file
    (``cxr_synth.sharing.study_report``); ``figures`` are the ``@png`` datasets by name
    (``pipeline.FIGURES``), a missing one is noted in the page."""
    return study_report(
        parameters, ingestion_summary, comparison_table, segmentation_summary, figures
    )


def add_dice_to_comparison(
    comparison: pd.DataFrame, summary: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """The GAN comparison table with each architecture's Dice (U-Net trained with its pairs),
    and every method's Dice and IoU as MLflow metrics (``seg.<method>.dice``, ``.iou``,
    ``.dice_delta``)."""
    columns = {"dice": "dice_mean", "iou": "iou_mean", "dice_delta": "dice_delta_vs_none"}
    metrics = metric_records(
        {
            f"{row['method']}.{name}": row[column]
            for row in summary.to_dict("records")
            for name, column in columns.items()
        }
    )
    return add_dice(comparison, summary), metrics


def write_dataset_card(
    record: Mapping[str, Any], report: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """One architecture's synthetic-dataset card (``cxr_synth.sharing.cards``): JSON and
    Markdown."""
    card = dataset_card(record, report)
    return card, card_markdown(card)
