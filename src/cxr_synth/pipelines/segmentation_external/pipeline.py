"""External lung-mask test set: preprocess it like the main set, apply every method's saved
U-Nets, one Dice/IoU table (cross-dataset generalisation)."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from cxr_synth.pipelines import in_stage, instantiate
from cxr_synth.pipelines.segmentation.pipeline import METHODS
from cxr_synth.pipelines.segmentation_external.nodes import (
    decode_external_pairs,
    evaluate_external,
    external_preprocessing_params,
    pair_external_files,
    summarise_segmentation_external,
)

NAMESPACE = "segmentation_external"
DATA = ("seg_external_images_array", "seg_external_masks_array", "seg_external_index")


def preprocessing_pipeline() -> Pipeline:
    """``seg_external_raw`` -> ``seg_external_*`` arrays with the preprocessing pipeline's library
    functions (``cxr_synth.data.mask_sets``).

    Kedro cannot map a ``params:`` input to a dataset (the external set's parameters are the
    main set's with its own file layout), so the external set has its own nodes rather than a
    re-namespaced preprocessing pipeline; they keep the preprocessing nodes' names.
    """
    return Pipeline(
        [
            Node(
                external_preprocessing_params,
                inputs={
                    "preprocessing": "params:preprocessing",
                    "external": "params:segmentation_external",
                },
                outputs="seg_external_preprocessing",
                name="external_preprocessing_params",
            ),
            Node(
                pair_external_files,
                inputs=["seg_external_raw", "seg_external_preprocessing"],
                outputs=["seg_external_pairs", "seg_external_pair_rejects"],
                name="pair_external_files",
            ),
            Node(
                decode_external_pairs,
                inputs=[
                    "seg_external_pairs",
                    "seg_external_raw",
                    "seg_external_pair_rejects",
                    "seg_external_preprocessing",
                ],
                outputs=[*DATA, "seg_external_rejects"],
                name="preprocess_segmentation",
            ),
        ]
    )


def evaluation_pipeline(method: str) -> Pipeline:
    """One method's saved U-Nets (every seed) on the external set (``<method>_external_runs``)."""
    evaluate = update_wrapper(partial(evaluate_external, method=method), evaluate_external)
    template = Pipeline(
        [
            Node(
                evaluate,
                inputs=["unets", "unet_spec", *DATA, "params:segmentation_external"],
                outputs="external_runs",
                name="evaluate_external",
                tags=["gpu"],
            )
        ]
    )
    return instantiate(
        template, f"{NAMESPACE}.{method}", method, shared={*DATA, "params:segmentation_external"}
    )


def create_pipeline(methods: tuple[str, ...] | None = None, **kwargs) -> Pipeline:
    """``segmentation_external``: the saved U-Nets of ``methods`` (default: every method of the
    segmentation pipeline) on the external set -> ``segmentation_external_summary``."""
    methods = tuple(methods or METHODS)
    summary = Node(
        summarise_segmentation_external,
        inputs={
            "external": "params:segmentation_external",
            **{m: f"{m}_external_runs" for m in methods},
        },
        outputs=[
            "segmentation_external_summary",
            "segmentation_external_summary_md",
            "segmentation_external_metrics",
        ],
        name="summarise_segmentation_external",
    )
    stage = in_stage(preprocessing_pipeline() + Pipeline([summary]), NAMESPACE)
    return stage + sum((evaluation_pipeline(m) for m in methods), Pipeline([]))
