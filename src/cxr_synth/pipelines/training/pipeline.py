"""One training pipeline template, instantiated per architecture as ``training.<arch>``."""

from kedro.pipeline import Node, Pipeline

from cxr_synth.models.registry import ARCHITECTURES
from cxr_synth.pipelines import for_architecture, in_stage
from cxr_synth.pipelines.training.nodes import (
    compute_fid_reference_stats,
    plot_fid_curve,
    plot_loss_curves,
    train_generator,
)

SHARED = {"nih_images_array", "nih_images_index", "fid_reference_stats", "params:training"}


def reference_pipeline() -> Pipeline:
    """The real-image statistics every architecture's periodic FID is measured against."""
    return Pipeline(
        [
            Node(
                compute_fid_reference_stats,
                inputs=["nih_images_array", "nih_images_index", "params:training"],
                outputs="fid_reference_stats",
                name="compute_fid_reference_stats",
                tags=["cpu"],
            )
        ]
    )


def architecture_template(paired: bool = False, conditional: bool = False) -> Pipeline:
    """Train, then plot; ``for_architecture`` names the datasets ``<arch>_generator`` etc.

    ``paired=True`` adds the ``masks`` input: the GAN then learns 2-channel (image, mask) pairs
    (the segmentation pipeline maps the inputs to the lung-mask set), and ``pretrained_generator``,
    the weights it may start from (``init_from_pretrained``). ``conditional=True`` (a
    mask-conditioned GAN, always paired) adds ``conditions`` instead: the masks its FID renders.
    """
    extra = {"masks": "masks"} if paired or conditional else {}
    extra |= {"conditions": "conditions"} if conditional else {}
    extra |= {"pretrained": "pretrained_generator"} if paired and not conditional else {}
    return Pipeline(
        [
            Node(
                train_generator,
                inputs={
                    "images": "nih_images_array",
                    "index": "nih_images_index",
                    "reference_stats": "fid_reference_stats",
                    "model": "params:model",
                    "loop": "params:loop",
                    "training": "params:training",
                    **extra,
                },
                outputs=[
                    "generator",
                    "generator_spec",
                    "history",
                    "training_metrics",
                    "sample_grid@png",
                ],
                name="train_generator",
                tags=["training", "gpu"],
            ),
            Node(
                plot_loss_curves,
                ["history", "generator_spec"],
                "loss_curves@matplotlib",
                name="plot_loss_curves",
            ),
            Node(
                plot_fid_curve,
                ["history", "generator_spec"],
                "fid_curve@matplotlib",
                name="plot_fid_curve",
            ),
        ]
    )


def architecture_pipeline(architecture: str) -> Pipeline:
    """``train_<architecture>``: the reference statistics and one architecture's training."""
    return in_stage(reference_pipeline(), "training") + for_architecture(
        architecture_template(), architecture, "training", shared=SHARED
    )


def create_pipelines() -> dict[str, Pipeline]:
    """``train_<arch>`` for every architecture, and ``train_all``."""
    pipelines = {f"train_{name}": architecture_pipeline(name) for name in ARCHITECTURES}
    pipelines["train_all"] = sum(pipelines.values(), Pipeline([]))
    return pipelines


def create_pipeline(**kwargs) -> Pipeline:
    """Every architecture (what ``train_all`` runs)."""
    return create_pipelines()["train_all"]
