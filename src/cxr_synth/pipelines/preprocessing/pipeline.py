"""Preprocessing pipeline: raw PNGs -> compact uint8 arrays for training and segmentation."""

from kedro.pipeline import Node, Pipeline

from cxr_synth.pipelines import in_stage
from cxr_synth.pipelines.preprocessing.nodes import (
    pair_segmentation_files,
    preprocess_external_images,
    preprocess_nih_images,
    preprocess_segmentation,
)


def create_pipeline(**kwargs) -> Pipeline:
    nodes = Pipeline(
        [
            Node(
                preprocess_nih_images,
                inputs=["nih_manifest", "nih_images", "params:preprocessing"],
                outputs=["nih_images_array", "nih_images_index", "nih_decode_rejects"],
                name="preprocess_nih_images",
            ),
            Node(
                preprocess_external_images,
                inputs=["eval_external_raw", "params:preprocessing"],
                outputs=[
                    "eval_external_images_array",
                    "eval_external_summary",
                    "eval_external_rejects",
                ],
                name="preprocess_external_images",
            ),
            Node(
                pair_segmentation_files,
                inputs=["seg_raw", "params:preprocessing"],
                outputs=["seg_pairs", "seg_pair_rejects"],
                name="pair_segmentation_files",
            ),
            Node(
                preprocess_segmentation,
                inputs=["seg_pairs", "seg_raw", "seg_pair_rejects", "params:preprocessing"],
                outputs=["seg_images_array", "seg_masks_array", "seg_index", "seg_rejects"],
                name="preprocess_segmentation",
            ),
        ],
        tags=["cpu"],
    )
    return in_stage(nodes, "preprocessing")
