"""Ingestion pipeline: NIH metadata CSV + image folders -> manifest, rejects, summary."""

from kedro.pipeline import Node, Pipeline

from cxr_synth.pipelines import in_stage
from cxr_synth.pipelines.ingestion.nodes import (
    assign_patient_splits,
    filter_rows,
    resolve_image_files,
    summarise_ingestion,
    validate_metadata,
)


def create_pipeline(**kwargs) -> Pipeline:
    nodes = Pipeline(
        [
            Node(
                validate_metadata,
                inputs="nih_metadata",
                outputs=["nih_valid_rows", "nih_metadata_rejects"],
                name="validate_metadata",
            ),
            Node(
                filter_rows,
                inputs=["nih_valid_rows", "params:ingestion"],
                outputs=["nih_selected_rows", "nih_filter_counts"],
                name="filter_rows",
            ),
            Node(
                assign_patient_splits,
                inputs=[
                    "nih_selected_rows",
                    "nih_train_val_list",
                    "nih_test_list",
                    "params:ingestion",
                ],
                outputs=["nih_split_rows", "nih_split_rejects"],
                name="assign_patient_splits",
            ),
            Node(
                resolve_image_files,
                inputs=["nih_split_rows", "nih_images", "params:ingestion"],
                outputs=["nih_manifest", "nih_image_rejects", "nih_resolve_counts"],
                name="resolve_image_files",
            ),
            Node(
                summarise_ingestion,
                inputs=[
                    "nih_manifest",
                    "nih_filter_counts",
                    "nih_resolve_counts",
                    "nih_metadata_rejects",
                    "nih_split_rejects",
                    "nih_image_rejects",
                ],
                outputs=["nih_rejects", "ingestion_summary", "ingestion_metrics"],
                name="summarise_ingestion",
            ),
        ],
        tags=["cpu"],
    )
    return in_stage(nodes, "ingestion")
