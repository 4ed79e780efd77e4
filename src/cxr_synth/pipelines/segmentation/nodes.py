"""Segmentation glue: the lung-mask set, synthetic pairs and U-Net runs in, Dice tables out.

The U-Net and its training live in ``cxr_synth.models.unet`` and ``cxr_synth.segmentation``;
GAN pairs come from the training template run on 2-channel (image, mask) data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxr_synth.data.splits import rows_in_splits, split_patients
from cxr_synth.data.tables import interval, markdown_table, mean_std
from cxr_synth.pipelines.node_types import Figure, Tensor
from cxr_synth.pipelines.segmentation.params import LowData, SegmentationParams
from cxr_synth.training.tracking import child_run

# torch (the U-Nets, sampling), scipy (the paired test) and matplotlib are imported in the nodes
# that use them: building the pipelines stays light (cxr_synth.pipelines.node_types).

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
UNUSED = "train_unused"  # real training images left out by the low-data setting


def split_segmentation_set(
    index: pd.DataFrame, segmentation: SegmentationParams
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Patient-level train/val/test split of ``seg_index``, then the low-data subset of train.

    Every image of a patient lands in one split. Training images left out by ``low_data``
    (``n_train`` images, else ``fraction`` of them, whole patients) are marked ``train_unused``.
    Returns the index with a ``split`` column and a summary (counts per split).
    """
    if index.empty:
        raise ValueError(
            "seg_index is empty: no image/mask pair was preprocessed (see seg_rejects)"
        )
    split = segmentation.split
    fractions = {"test": split.test_fraction, "val": split.val_fraction}
    assigned = split_patients(index["patient_id"], fractions, split.seed, at_least_one=True)
    train_patients = [patient for patient, name in assigned.items() if name == "train"]
    if not train_patients:
        raise ValueError(
            f"{len(assigned)} patients cannot fill train, val and test; lower "
            "segmentation.split.val_fraction/test_fraction or add images"
        )
    counts = index["patient_id"].value_counts()
    wanted = _low_data_count(int(counts[train_patients].sum()), segmentation.low_data)
    kept = 0
    for patient in train_patients:  # already shuffled: a seeded subset of whole patients
        use = kept < wanted
        assigned[patient] = "train" if use else UNUSED
        kept += int(counts[patient]) if use else 0
    result = index.assign(split=index["patient_id"].map(assigned))
    splits = [*SPLITS, UNUSED]
    summary = {
        "images": {s: int((result["split"] == s).sum()) for s in splits},
        "patients": {
            s: int(result.loc[result["split"] == s, "patient_id"].nunique()) for s in splits
        },
    }
    logger.info("segmentation split (images): %s", summary["images"])
    return result, summary


def _low_data_count(n_available: int, low_data: LowData) -> int:
    if low_data.n_train is not None:
        wanted = low_data.n_train
        if wanted > n_available:
            logger.warning(
                "low_data.n_train=%d > %d training images: using all", wanted, n_available
            )
        return min(wanted, n_available)
    return max(1, math.ceil(n_available * low_data.fraction))


def sample_labelled_pairs(
    state_dict: Mapping[str, Tensor],
    spec: Mapping[str, Any],
    split_index: pd.DataFrame,
    segmentation: SegmentationParams,
) -> tuple[np.ndarray, np.ndarray]:
    """``synthetic_ratio`` x (real training images) pairs from a 2-channel generator.

    Returns uint8 images (N, H, W) and binary masks (N, H, W): the mask channel thresholded at
    the middle of its range (generator output 0 of [-1, 1]).
    """
    from cxr_synth.sharing.generator import check_pair
    from cxr_synth.sharing.sampling import sample_images

    check_pair(state_dict, spec, f"data/06_models/pairs_{spec['architecture']}")
    if int(spec.get("channels", 1)) != 2:
        raise ValueError(
            f"{spec['architecture']} generator has {spec.get('channels', 1)} channel(s); labelled "
            "pairs need the 2-channel generator of the segmentation pipeline (segmentation.pairs.<arch>)"
        )
    n_pairs = _n_synthetic(split_index, segmentation)
    if n_pairs < 1:
        return _empty_pairs(int(spec["resolution"]))
    samples = sample_images(state_dict, spec, n_images=n_pairs, **segmentation.synthesis.to_dict())
    images = np.ascontiguousarray(samples[:, 0])
    masks = (samples[:, 1] >= 128).astype(np.uint8)
    logger.info(
        "%s: %d synthetic pairs, mean lung fraction %.3f",
        spec["architecture"],
        n_pairs,
        masks.mean(),
    )
    return images, masks


def _n_synthetic(split_index: pd.DataFrame, segmentation: SegmentationParams) -> int:
    """``synthetic_ratio`` x the number of real training images, rounded."""
    return round(int((split_index["split"] == "train").sum()) * segmentation.synthetic_ratio)


def _empty_pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, size, size), np.uint8), np.zeros((0, size, size), np.uint8)


def deform_training_masks(
    masks: np.ndarray, split_index: pd.DataFrame, segmentation: SegmentationParams
) -> np.ndarray:
    """The masks of a mask-conditioned method's synthetic pairs: ``synthetic_ratio`` x (real
    training images) real training masks, each deformed (``segmentation.mask_deformation``,
    ``cxr_synth.segmentation.deform_masks``). Returns {0, 1} uint8 (N, H, W)."""
    from cxr_synth.segmentation import deform_masks

    rows = rows_in_splits(split_index, ["train"], "mask deformation (segmentation.split)")
    new = deform_masks(
        np.asarray(masks)[rows], _n_synthetic(split_index, segmentation),
        **segmentation.mask_deformation.to_dict(),
    )  # fmt: skip
    logger.info("%d deformed training masks, mean lung fraction %.3f", len(new), new.mean())
    return new


def sample_on_masks(
    state_dict: Mapping[str, Tensor],
    spec: Mapping[str, Any],
    masks: np.ndarray,
    segmentation: SegmentationParams,
) -> np.ndarray:
    """The images of a mask-conditioned method's synthetic pairs: one uint8 image (N, H, W) per
    mask, rendered by its generator (``cxr_synth.sharing.sampling.sample_on_masks``;
    ``segmentation.synthesis`` sets batch size, seed and device)."""
    from cxr_synth.sharing.generator import check_pair
    from cxr_synth.sharing.sampling import sample_on_masks as render

    check_pair(state_dict, spec, f"data/06_models/pairs_{spec['architecture']}")
    synthesis = segmentation.synthesis
    return render(state_dict, spec, masks, batch_size=synthesis.batch_size, seed=synthesis.seed,
                  device=synthesis.device)  # fmt: skip


def run_segmentation_experiment(
    images: np.ndarray,
    masks: np.ndarray,
    split_index: pd.DataFrame,
    segmentation: SegmentationParams,
    method: str,
    synthetic_images: np.ndarray | None = None,
    synthetic_masks: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict[int, dict[str, Tensor]], dict[str, Any]]:
    """Train one U-Net per seed with ``method``'s training set; Dice/IoU per real test image
    (``cxr_synth.segmentation.run_experiment``, one MLflow child run per seed).

    ``method``: ``none`` (real training images), ``classic`` (the same with rotation, scaling,
    brightness/contrast) or an architecture name (real + that GAN's synthetic pairs, or for
    mask2image its images rendered on deformed real masks; no classic
    augmentation, so the GAN's effect is measured alone, unless
    ``segmentation.synthetic_with_classic`` asks for the combination). With
    ``segmentation.equal_steps`` ``none`` and ``classic`` train for the optimiser steps of a
    method with synthetic pairs. Returns

    - one row per (seed, test image); ``image`` is a pseudonym (``cxr_synth.runtime.privacy``),
      never the source file name;
    - the trained U-Nets' best weights, ``{seed: state_dict}`` (CPU tensors);
    - their spec (``cxr_synth.segmentation.unet_spec``: base_width, depth, resolution, seeds,
      method, n_real, n_synthetic), so ``build_unets(spec, weights)`` rebuilds them.
    """
    from cxr_synth.segmentation import run_experiment

    rows = {
        s: rows_in_splits(split_index, [s], "segmentation (see segmentation.split)") for s in SPLITS
    }
    experiment = run_experiment(
        images, masks, rows, segmentation.unet, segmentation.seeds, method,
        synthetic_images=synthetic_images, synthetic_masks=synthetic_masks,
        classic_augmentation=segmentation.classic_augmentation.to_dict(),
        synthetic_with_classic=segmentation.synthetic_with_classic,
        steps_of_synthetic=_n_synthetic(split_index, segmentation) if segmentation.equal_steps else 0,
        eval_batch_size=segmentation.eval_batch_size, open_run=child_run,
    )  # fmt: skip
    return experiment.runs, experiment.weights, experiment.spec


def summarise_segmentation(**runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Dice/IoU per method (mean ± std over seeds) and the paired comparison with ``none``.

    ``dice_delta_vs_none``: mean per-image (method - none) test Dice, each image's Dice averaged
    over the same seeds; ``dice_delta_ci_low``/``_high``: its 95 % interval over images;
    ``p_value``: Wilcoxon signed-rank test on the per-image differences
    (``cxr_synth.segmentation.method_dice_table``). Returns the table and its Markdown version.
    """
    from cxr_synth.segmentation import method_dice_table

    results = pd.concat(runs.values(), ignore_index=True)
    by_method = dict(tuple(results.groupby("method", sort=False)))
    table = method_dice_table(by_method).rename(columns={"n_images": "n_test"})
    for column in ("n_real", "n_synthetic"):
        counts = [int(frame[column].iloc[0]) for frame in by_method.values()]
        table.insert(len(table.columns) - 1, column, counts)  # before n_test
    return table, _markdown(table)


def _markdown(table: pd.DataFrame) -> str:
    shown = pd.DataFrame(
        {
            "method": table["method"],
            "Dice (mean ± std over seeds)": [
                mean_std(m, s) for m, s in zip(table["dice_mean"], table["dice_std"], strict=True)
            ],
            "IoU": [
                mean_std(m, s) for m, s in zip(table["iou_mean"], table["iou_std"], strict=True)
            ],
            "Δ Dice vs none": table["dice_delta_vs_none"],
            "95 % CI (per image)": list(
                map(interval, table["dice_delta_ci_low"], table["dice_delta_ci_high"])
            ),
            "p (Wilcoxon)": table["p_value"],
            "real + synthetic": [
                f"{r} + {s}" for r, s in zip(table["n_real"], table["n_synthetic"], strict=True)
            ],
        }
    )
    n_seeds, n_test = int(table["n_seeds"].max()), int(table["n_test"].max())
    return (
        f"{markdown_table(shown)}\n\n{n_seeds} seeds per method, {n_test} real test images "
        "(patient-disjoint, never augmented). Δ: paired by seed; p: Wilcoxon signed-rank on "
        "per-image Dice vs `none`.\n"
    )


def plot_segmentation_dice(summary: pd.DataFrame) -> Figure:
    """Test Dice per augmentation method, mean ± std over seeds (the paper's Figure 10;
    ``cxr_synth.segmentation.dice_figure``)."""
    from cxr_synth.segmentation import dice_figure

    return dice_figure({"held-out real test images": summary.assign(label=summary["method"])})
