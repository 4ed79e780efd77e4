"""Reporting: the study's tables, run information and figures in one self-contained HTML file,
and a synthetic-dataset card per architecture (``reporting.<arch>``)."""

from kedro.pipeline import Node, Pipeline

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.pipelines import for_architecture, in_stage
from cxr_synth.pipelines.reporting.nodes import (
    add_dice_to_comparison,
    build_study_report,
    write_dataset_card,
)

# build_study_report's figure keywords -> the `@png` datasets (PIL images) they read.
FIGURES = {
    "synthesis_grid": "synthesis_grid@png",
    "fid_kid_bars": "fid_kid_bars@png",
    "ssim_psnr_bars": "ssim_psnr_bars@png",
    "segmentation_dice": "segmentation_dice_figure@png",
    **{
        f"{arch}__{figure}": f"{arch}_{figure}@png"
        for arch in ARCHITECTURES
        for figure in ("loss_curves", "fid_curve", "sample_grid", "closest_pairs")
    },
}


def card_template() -> Pipeline:
    """The synthesis record and the evaluation report -> the dataset card (JSON, Markdown)."""
    card = Node(
        write_dataset_card,
        inputs=["synthesis_record", "report"],
        outputs=["dataset_card", "dataset_card_md"],
        name="write_dataset_card",
    )
    return Pipeline([card])


def create_pipeline(**kwargs) -> Pipeline:
    """``reporting``: the comparison table with Dice, the study report (``study_report``, an
    HTML file also logged to MLflow) and every architecture's dataset card."""
    report = Node(
        build_study_report,
        inputs={
            "parameters": "parameters",
            "ingestion_summary": "ingestion_summary",
            "comparison_table": "study_comparison_table",
            "segmentation_summary": "segmentation_summary",
            **FIGURES,
        },
        outputs="study_report",
        name="build_study_report",
    )
    dice = Node(
        add_dice_to_comparison,
        inputs=["comparison_table", "segmentation_summary"],
        outputs=["study_comparison_table", "segmentation_metrics"],
        name="add_dice_to_comparison",
    )
    cards = [for_architecture(card_template(), arch, "reporting") for arch in ARCHITECTURES]
    return in_stage(Pipeline([dice, report]), "reporting") + sum(cards, Pipeline([]))
