"""Wiring of the ``demo_data`` pipeline: phantom raw data into the 01_raw catalog entries."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from cxr_synth.pipelines import in_stage
from cxr_synth.pipelines.demo_data.nodes import (
    make_nih_images,
    make_nih_metadata,
    make_seg_images,
    split_nih_patients,
)


def create_pipeline(**kwargs) -> Pipeline:
    """NIH metadata, patient-wise split lists and images, plus a lung-segmentation set."""
    nodes = Pipeline(
        [
            Node(
                func=make_nih_metadata,
                inputs="params:demo_data",
                outputs="nih_metadata",
                name="make_nih_metadata",
            ),
            Node(
                func=split_nih_patients,
                inputs=["nih_metadata", "params:demo_data"],
                outputs=["nih_train_val_list", "nih_test_list"],
                name="split_nih_patients",
            ),
            Node(
                func=make_nih_images,
                inputs=["nih_metadata", "params:demo_data"],
                outputs="nih_images",
                name="make_nih_images",
            ),
            Node(
                func=make_seg_images,
                inputs="params:demo_data",
                outputs="seg_raw",
                name="make_seg_images",
            ),
        ]
    )
    return in_stage(nodes, "demo_data")
