"""Segmentation: split the lung-mask set, train each GAN on (image, mask) pairs with the training
template, sample labelled pairs (mask2image: render images on deformed real masks), train U-Nets
per augmentation method, compare Dice."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from cxr_synth.models.registry import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from cxr_synth.pipelines import for_architecture, in_stage, instantiate
from cxr_synth.pipelines.segmentation.nodes import (
    deform_training_masks,
    plot_segmentation_dice,
    run_segmentation_experiment,
    sample_labelled_pairs,
    sample_on_masks,
    split_segmentation_set,
    summarise_segmentation,
)
from cxr_synth.pipelines.training import pipeline as training
from cxr_synth.segmentation.config import BASELINES

# every U-Net training set: real only, classic, each pair GAN's, each mask-conditioned GAN's
METHODS = (*BASELINES, *ARCHITECTURES, *CONDITIONAL_ARCHITECTURES)


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


PAIR_SHARED = {  # the datasets and parameters every GAN trained on (image, mask) pairs shares
    "nih_images_array": "seg_images_array",
    "nih_images_index": "seg_split_index",
    "masks": "seg_masks_array",
    "seg_split_index": "seg_split_index",
    "fid_reference_stats": "pairs_fid_reference_stats",
    "params:training": "params:pair_training",
    "params:segmentation": "params:segmentation",
}


def pair_training_pipeline(architectures: tuple[str, ...] = ARCHITECTURES) -> Pipeline:
    """The GAN training template on 2-channel (image, mask) data, then labelled samples.

    Namespace ``segmentation.pairs.<arch>``, datasets ``pairs_<arch>_*``: the same nodes and
    parameters as ``train_<arch>`` (each architecture's ``model`` and ``loop``), with
    ``pair_training`` as the shared section, the segmentation training split as data, and the
    NIH-trained ``<arch>_generator`` as the weights it may start from.
    """
    sampling = Pipeline(
        [
            Node(
                sample_labelled_pairs,
                inputs=["generator", "generator_spec", "seg_split_index", "params:segmentation"],
                outputs=["synthetic_images", "synthetic_masks"],
                name="sample_labelled_pairs",
                tags=["gpu"],
            )
        ]
    )
    reference = Pipeline(
        training.reference_pipeline(),
        inputs={k: PAIR_SHARED[k] for k in ("nih_images_array", "nih_images_index")},
        outputs={"fid_reference_stats": PAIR_SHARED["fid_reference_stats"]},
        parameters={"params:training": PAIR_SHARED["params:training"]},
    )
    return in_stage(reference, "segmentation.pairs") + sum(
        (
            for_architecture(
                training.architecture_template(paired=True) + sampling,
                name,
                "segmentation.pairs",
                shared={**PAIR_SHARED, "pretrained_generator": f"{name}_generator"},
                prefix=f"pairs_{name}",
            )
            for name in architectures
        ),
        Pipeline([]),
    )


DEFORMED_MASKS = "seg_deformed_masks"  # every mask-conditioned GAN renders on the same masks


def mask_conditioned_pipeline(
    architectures: tuple[str, ...] = CONDITIONAL_ARCHITECTURES,
) -> Pipeline:
    """Deformed real training masks (``segmentation.deform_training_masks`` ->
    ``seg_deformed_masks``), then per mask-conditioned GAN (mask2image) the training template on
    the (image, mask) pairs with those masks as the FID's conditions and one image per mask
    (``pairs_<arch>_synthetic_images``): every synthetic image comes with a mask correct by
    construction. Namespace, parameters and reference statistics as the pair GANs'
    (``pair_training_pipeline``). The deformation sits in the ``segmentation`` stage, outside
    ``segmentation.pairs``: made from the real masks, it is an input of the GANs, not an output
    (inside, kedro-viz would see a layer cycle through the namespace)."""
    deform = Node(
        deform_training_masks,
        inputs=["seg_masks_array", "seg_split_index", "params:segmentation"],
        outputs=DEFORMED_MASKS,
        name="deform_training_masks",
    )
    template = training.architecture_template(conditional=True) + Pipeline(
        [
            Node(
                sample_on_masks,
                inputs=["generator", "generator_spec", "conditions", "params:segmentation"],
                outputs="synthetic_images",
                name="sample_on_masks",
                tags=["gpu"],
            ),
        ]
    )
    used = template.all_inputs() | template.all_outputs()
    shared = {k: v for k, v in PAIR_SHARED.items() if k in used} | {"conditions": DEFORMED_MASKS}
    return in_stage(Pipeline([deform]), "segmentation") + sum(
        (
            for_architecture(
                template,
                name,
                "segmentation.pairs",
                shared=shared,
                prefix=f"pairs_{name}",
            )
            for name in architectures
        ),
        Pipeline([]),
    )


def experiment_pipeline(method: str) -> Pipeline:
    """U-Nets for one method (``segmentation.<method>``, datasets ``<method>_*``); a GAN method
    adds its labelled pairs (``pairs_<method>_synthetic_images`` and ``_masks``; a
    mask-conditioned one, ``seg_deformed_masks``)."""
    shared = {
        "images": "seg_images_array",
        "masks": "seg_masks_array",
        "split_index": "seg_split_index",
        "params:segmentation": "params:segmentation",
    }
    inputs = {"images": "images", "masks": "masks", "split_index": "split_index",
              "segmentation": "params:segmentation"}  # fmt: skip
    if method not in BASELINES:
        for kind in ("images", "masks"):
            inputs[f"synthetic_{kind}"] = f"synthetic_{kind}"
            shared[f"synthetic_{kind}"] = f"pairs_{method}_synthetic_{kind}"
        if method in CONDITIONAL_ARCHITECTURES:  # its images were rendered on these masks
            shared["synthetic_masks"] = DEFORMED_MASKS
    experiment = Node(
        update_wrapper(
            partial(run_segmentation_experiment, method=method), run_segmentation_experiment
        ),
        inputs=inputs,
        outputs=["segmentation_runs", "unets", "unet_spec"],  # <method>_unets: {seed: weights}
        name="run_segmentation_experiment",
        tags=["gpu"],
    )
    return instantiate(
        Pipeline([experiment]),
        f"segmentation.{method}",
        method,
        shared=shared,
        tags=["segmentation", method],
    )


def summary_pipeline(methods: tuple[str, ...]) -> Pipeline:
    """Every method's runs -> the Dice table and Figure 10."""
    return Pipeline(
        [
            Node(
                summarise_segmentation,
                inputs={m: f"{m}_segmentation_runs" for m in methods},
                outputs=["segmentation_summary", "segmentation_summary_md"],
                name="summarise_segmentation",
            ),
            Node(
                plot_segmentation_dice,
                inputs="segmentation_summary",
                outputs="segmentation_dice_figure@matplotlib",
                name="plot_segmentation_dice",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """``segmentation``: split, pair GANs, mask-conditioned GANs, U-Nets for every method,
    summary."""
    experiments = sum((experiment_pipeline(m) for m in METHODS), Pipeline([]))
    return in_stage(
        Pipeline(split_pipeline() + summary_pipeline(METHODS)), "segmentation"
    ) + Pipeline(
        pair_training_pipeline() + mask_conditioned_pipeline() + experiments,
        tags=["segmentation"],
    )
