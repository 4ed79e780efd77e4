"""Segmentation: split the lung-mask set, train each GAN on (image, mask) pairs with the training
template, sample labelled pairs, train U-Nets per augmentation method, compare Dice."""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.pipelines import for_architecture
from cxr_synth.pipelines.segmentation.nodes import (
    add_dice_to_comparison,
    plot_dice,
    run_segmentation_experiment,
    sample_labelled_pairs,
    split_segmentation_set,
    summarise_segmentation,
)
from cxr_synth.pipelines.training import pipeline as training

BASELINES = ("none", "classic")


def split_pipeline() -> Pipeline:
    return Pipeline(
        [
            Node(
                split_segmentation_set,
                inputs=["seg_index", "params:segmentation"],
                outputs=["seg_split_index", "seg_split_summary"],
                name="split_segmentation_set",
            )
        ]
    )


def pair_training_pipeline(architectures: tuple[str, ...] = ARCHITECTURES) -> Pipeline:
    """The GAN training template on 2-channel (image, mask) data, then labelled samples.

    Namespace ``pairs.<arch>``: the same nodes and parameters as ``train_<arch>`` (each
    architecture's ``model`` and ``loop``), with ``pair_training`` as the shared section and the
    segmentation training split as data.
    """
    sampling = Pipeline(
        [
            Node(
                sample_labelled_pairs,
                inputs=[
                    "generator",
                    "generator_spec",
                    "seg_split_index",
                    "params:segmentation",
                ],
                outputs=["synthetic_pair_images", "synthetic_pair_masks"],
                name="sample_labelled_pairs",
                tags=["gpu"],
            )
        ]
    )
    per_architecture = sum(
        (
            for_architecture(
                Pipeline(
                    training.architecture_template(paired=True) + sampling,
                    inputs={"pretrained_generator": f"pretrained_{name}_generator"},
                ),
                name,
                "segmentation",
                inputs={
                    *training.SHARED_INPUTS,
                    "masks",
                    "seg_split_index",
                    f"pretrained_{name}_generator",
                },
                parameters={"params:training", "params:segmentation"},
            )
            for name in architectures
        ),
        training.reference_pipeline(),
    )
    return Pipeline(
        per_architecture,
        namespace="pairs",
        inputs={
            "nih_images_array": "seg_images_array",
            "nih_images_index": "seg_split_index",
            "masks": "seg_masks_array",
            "seg_split_index": "seg_split_index",
            **{f"pretrained_{a}_generator": f"{a}.generator" for a in architectures},  # NIH-trained
        },
        parameters={
            "params:training": "params:pair_training",
            "params:segmentation": "params:segmentation",
            **{
                f"params:{a}.{p}": f"params:{a}.{p}"
                for a in architectures
                for p in ("model", "loop")
            },
        },
    )


def experiment_pipeline(method: str) -> Pipeline:
    """U-Nets for one method under ``namespace=method``; a GAN method adds its labelled pairs."""
    synthetic = method not in BASELINES
    inputs = {
        "images": "seg_images_array",
        "masks": "seg_masks_array",
        "split_index": "seg_split_index",
        "segmentation": "params:segmentation",
    }
    if synthetic:
        inputs |= {
            "synthetic_images": f"pairs.{method}.synthetic_pair_images",
            "synthetic_masks": f"pairs.{method}.synthetic_pair_masks",
        }
    with warnings.catch_warnings():  # "pairs.<arch>.x" names are the namespaces' own outputs
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'")
        experiment = Node(
            update_wrapper(
                partial(run_segmentation_experiment, method=method), run_segmentation_experiment
            ),
            inputs=inputs,
            outputs=["segmentation_runs", "unets", "unet_spec"],  # <method>.unets: {seed: weights}
            name="run_segmentation_experiment",
            tags=["gpu"],
        )
    return Pipeline(
        [experiment],
        namespace=method,
        inputs=set(inputs.values()) - {"params:segmentation"},
        parameters={"params:segmentation"},
        tags=["segmentation", method],
    )


def summary_pipeline(methods: tuple[str, ...]) -> Pipeline:
    """Every method's runs -> the Dice table, Figure 10, and the comparison table with Dice."""
    with warnings.catch_warnings():  # "<method>.x" names are the namespaces' own outputs
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'")
        return Pipeline(
            [
                Node(
                    summarise_segmentation,
                    inputs={m: f"{m}.segmentation_runs" for m in methods},
                    outputs=["segmentation_summary", "segmentation_summary_md"],
                    name="summarise_segmentation",
                ),
                Node(
                    plot_dice,
                    inputs="segmentation_summary",
                    outputs="segmentation_dice_figure@matplotlib",
                    name="plot_segmentation_dice",
                ),
                Node(
                    add_dice_to_comparison,
                    inputs=["comparison_table", "segmentation_summary"],
                    outputs=["study_comparison_table", "segmentation_metrics"],
                    name="add_dice_to_comparison",
                ),
            ],
            tags=["segmentation"],
        )


def create_pipeline(**kwargs) -> Pipeline:
    """``segmentation``: split, pair GANs, U-Nets for every method, summary."""
    methods = (*BASELINES, *ARCHITECTURES)
    experiments = sum((experiment_pipeline(m) for m in methods), Pipeline([]))
    return Pipeline(
        split_pipeline() + pair_training_pipeline() + experiments + summary_pipeline(methods),
        tags=["segmentation"],
    )
