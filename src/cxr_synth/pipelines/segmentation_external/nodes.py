"""External test sets: the saved U-Nets of every method on another lung-mask set.

The external set is paired and decoded by the library functions the preprocessing pipeline
uses (``cxr_synth.data.mask_sets``), with the main set's preprocessing settings (its segmentation resolution included: each U-Net's spec is
checked against it) and the external set's file layout. Nothing is retrained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxr_synth.data.mask_sets import decode_pairs, pair_files
from cxr_synth.data.tables import interval, markdown_table, mean_std, metric_records
from cxr_synth.pipelines.node_types import Tensor
from cxr_synth.pipelines.preprocessing.params import PreprocessingParams
from cxr_synth.pipelines.segmentation_external.params import ExternalSetParams
from cxr_synth.runtime.privacy import pseudonymous_ids

# torch (the U-Nets) and scipy (the paired test) are imported in the nodes that use them:
# building the pipelines stays light (cxr_synth.pipelines.node_types).

logger = logging.getLogger(__name__)

RAW_DATASET = "seg_external_raw"


def external_preprocessing_params(
    preprocessing: PreprocessingParams, external: ExternalSetParams
) -> PreprocessingParams:
    """``preprocessing`` with the external set's ``files``, at the main set's segmentation
    resolution (``preprocessing.segmentation.resolution``, else ``preprocessing.resolution``).

    Resampling, squaring, bit-depth scaling and the minimum image size stay those of the main
    set. Each method's U-Nets are checked against that resolution when they are applied
    (``evaluate_external``), so any subset of methods can be evaluated.
    """
    resolution = preprocessing.segmentation.resolution or preprocessing.resolution
    segmentation = external.files.model_copy(update={"resolution": resolution})
    return preprocessing.model_copy(update={"segmentation": segmentation})


def pair_external_files(
    files: Mapping[str, Callable], preprocessing: PreprocessingParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The external set's images paired with their masks (``cxr_synth.data.mask_sets.pair_files``),
    with its own layout (``preprocessing`` from ``external_preprocessing_params``).

    An error names the external set's catalog entry and parameters as well.
    """
    try:
        return pair_files(files, preprocessing.segmentation)
    except ValueError as error:
        raise ValueError(
            f"{error} [external set: the folder is the `{RAW_DATASET}` catalog entry "
            "(conf/<env>/catalog_segmentation_external.yml; with --env nih: --params "
            "seg_external_root=/path), the layout segmentation_external.files.layout]"
        ) from error


def decode_external_pairs(
    pairs: pd.DataFrame,
    files: Mapping[str, Callable],
    pair_rejects: pd.DataFrame,
    preprocessing: PreprocessingParams,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """The external pairs decoded as the main set's (``cxr_synth.data.mask_sets.decode_pairs``)
    at the main set's segmentation resolution: images, masks, index, every reject."""
    files_spec = preprocessing.segmentation
    return decode_pairs(pairs, files, pair_rejects, preprocessing.spec(files_spec.resolution),
                        files_spec, preprocessing.workers)  # fmt: skip


def evaluate_external(
    unets: Mapping[Any, Mapping[str, Tensor]],
    spec: Mapping[str, Any],
    images: np.ndarray,
    masks: np.ndarray,
    index: pd.DataFrame,
    external: ExternalSetParams,
    method: str,
) -> pd.DataFrame:
    """Every seed's saved U-Net of ``method`` on the external set: Dice/IoU per image
    (``cxr_synth.segmentation.evaluate_saved_unets``).

    Returns one row per (seed, image): method, seed, dataset, image (a pseudonym of the array
    row, never the source file name), dice, iou.
    """
    from cxr_synth.segmentation import evaluate_saved_unets

    if len(index) != len(images):
        raise ValueError(f"seg_external_index has {len(index)} rows for {len(images)} images")
    return evaluate_saved_unets(
        unets, spec, images, masks, pseudonymous_ids(index["row"]), external.name, method,
        batch_size=external.batch_size, device=external.device,
    )  # fmt: skip


def summarise_segmentation_external(
    external: ExternalSetParams, **runs: pd.DataFrame
) -> tuple[pd.DataFrame, str, dict[str, dict[str, float]]]:
    """Dice/IoU per method on the external set, mean ± std over seeds (each seed: mean over images).

    With ``none`` among the methods, every other one gets the paired difference to it on the
    same external images (``dice_delta_vs_none``, its 95 % interval over images and the Wilcoxon
    p-value; ``cxr_synth.segmentation.method_dice_table``). Returns the table (method, n_seeds,
    dice_mean, dice_std, iou_mean, iou_std, dice_delta_vs_none, dice_delta_ci_low/_high, p_value,
    n_images, dataset), its Markdown version and MLflow metrics ``<method>.dice`` / ``.iou`` /
    ``.dice_delta``.
    """
    from cxr_synth.segmentation import method_dice_table

    if not runs:
        raise ValueError("no external evaluation runs to summarise")
    table = method_dice_table(runs).assign(dataset=external.name)
    metrics = metric_records(
        {
            f"{row.method}.{name}": getattr(row, column)
            for row in table.itertuples()
            for name, column in (
                ("dice", "dice_mean"),
                ("iou", "iou_mean"),
                ("dice_delta", "dice_delta_vs_none"),
            )
        }
    )
    return table, _markdown(table, external.name), metrics


def _markdown(table: pd.DataFrame, dataset: str) -> str:
    shown = pd.DataFrame(
        {
            "method": table["method"],
            "Dice (mean ± std over seeds)": list(
                map(mean_std, table["dice_mean"], table["dice_std"])
            ),
            "IoU": list(map(mean_std, table["iou_mean"], table["iou_std"])),
            "Δ Dice vs none": table["dice_delta_vs_none"],
            "95 % CI (per image)": list(
                map(interval, table["dice_delta_ci_low"], table["dice_delta_ci_high"])
            ),
            "p (Wilcoxon)": table["p_value"],
            "seeds": table["n_seeds"],
            "images": table["n_images"],
        }
    )
    return (
        f"External test set `{dataset}`: the saved U-Nets of every method, not retrained.\n\n"
        f"{markdown_table(shown)}\n\nEach seed's value is the mean over all images of the "
        "external set (every image is a test image there); ± is the std over seeds. Δ, its "
        "interval and p compare each image's Dice (mean over seeds) with `none`'s, paired.\n"
    )
