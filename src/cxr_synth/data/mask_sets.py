"""Lung-mask sets: each chest X-ray paired with its mask file(s) by the set's layout, and the
pairs decoded into aligned image and mask arrays. Kedro-free; the preprocessing pipeline (the
main set) and the segmentation_external pipeline (another hospital's set) call these.

Layouts: ``montgomery``: ``CXR_png/X`` + ``ManualMask/leftMask/X`` + ``ManualMask/rightMask/X``;
``paired``: ``images/X`` + ``masks/X`` (or ``masks/X<mask_suffix>``, e.g. Shenzhen's ``_mask``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from cxr_synth.data.decoding import Loader, decode_into, rejects_frame
from cxr_synth.data.imaging import ImageRejected, ResizeSpec, prepare_image, prepare_mask
from cxr_synth.runtime.errors import BadInput

logger = logging.getLogger(__name__)

# The stages the rejects and log lines name (the preprocessing nodes; the external set's too).
PAIR_STAGE = "pair_segmentation_files"
DECODE_STAGE = "preprocess_segmentation"
Pairs = dict[str, tuple[str, list[str]]]  # stem -> (image key, mask keys)


class MaskSetLayout(Protocol):
    """What the functions read of a mask set's settings (``preprocessing.segmentation``)."""

    layout: str  # montgomery | paired
    mask_suffix: str
    patient_pattern: str  # group 1 of the file stem is the patient id
    lung_labels: list[int] | None
    lung_fraction: tuple[float, float]


def _montgomery_pairs(keys: set[str]) -> tuple[Pairs, list[tuple]]:
    pairs, rejects = {}, []
    for key in sorted(k for k in keys if k.startswith("CXR_png/")):
        stem = key.split("/", 1)[1]
        masks = [f"ManualMask/leftMask/{stem}", f"ManualMask/rightMask/{stem}"]
        absent = [m for m in masks if m not in keys]
        if absent:
            rejects.append(
                (f"{key}.png", PAIR_STAGE, f"mask not found: {[m + '.png' for m in absent]}")
            )
        else:
            pairs[stem] = (key, masks)
    return pairs, rejects


def _paired_pairs(keys: set[str], mask_suffix: str) -> tuple[Pairs, list[tuple]]:
    pairs, rejects = {}, []
    for key in sorted(k for k in keys if k.startswith("images/")):
        stem = key.split("/", 1)[1]
        candidates = [f"masks/{stem}{mask_suffix}", f"masks/{stem}"]
        found = next((c for c in candidates if c in keys), None)
        if found is None:
            reason = f"mask not found: tried {[c + '.png' for c in candidates]}"
            rejects.append((f"{key}.png", PAIR_STAGE, reason))
        else:
            pairs[stem] = (key, [found])
    return pairs, rejects


def pair_files(keys: Collection[str], files: MaskSetLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match each chest X-ray among ``keys`` (file paths without ``.png``) with its lung mask(s)
    by ``files.layout``: the pairs (``stem``, ``patient_id``, ``image``, ``masks`` joined by
    ``|``) and the images without a mask as rejects. A layout matching no file is an error."""
    keys = set(keys)
    if files.layout == "montgomery":
        pairs, rejects = _montgomery_pairs(keys)
    else:
        pairs, rejects = _paired_pairs(keys, files.mask_suffix)
    if not pairs and not rejects:
        expected = "CXR_png/*.png" if files.layout == "montgomery" else "images/*.png"
        raise BadInput(
            f"No {expected} found for the '{files.layout}' layout among {len(keys)} PNG files "
            f"under the `seg_raw` folder (e.g. {sorted(keys)[:3]}). Fix `seg_raw` in the catalog "
            "or preprocessing.segmentation.layout."
        )
    used = {k for image, masks in pairs.values() for k in [image, *masks]}
    image_prefix = "CXR_png/" if files.layout == "montgomery" else "images/"
    orphans = sorted(k for k in keys - used if not k.startswith(image_prefix))
    if orphans:
        logger.warning("%s: %d mask files have no image, e.g. %s", PAIR_STAGE, len(orphans),
                       orphans[:3])  # fmt: skip
    pattern = re.compile(files.patient_pattern)
    index = pd.DataFrame(
        [{"stem": stem, "patient_id": pattern.match(stem).group(1), "image": image,
          "masks": "|".join(masks)} for stem, (image, masks) in pairs.items()],
        columns=["stem", "patient_id", "image", "masks"],
    )  # fmt: skip
    if rejects:
        logger.warning("%s: %d images without a mask rejected", PAIR_STAGE, len(rejects))
    logger.info("%s (%s): %d image/mask pairs", PAIR_STAGE, files.layout, len(index))
    return index, rejects_frame(rejects)


def _decode_pair(
    image_loader: Loader,
    mask_loaders: list[Loader],
    spec: ResizeSpec,
    lung_labels: Sequence[int] | None,
    lung_fraction: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    image, masks = image_loader(), [load() for load in mask_loaders]
    for mask in masks:
        if mask.size != image.size:
            raise ImageRejected(f"mask size {mask.size} differs from image size {image.size}")
    return prepare_image(image, spec), prepare_mask(masks, spec, lung_labels, lung_fraction)


def decode_pairs(
    pairs: pd.DataFrame,
    loaders: Mapping[str, Loader],
    pair_rejects: pd.DataFrame,
    spec: ResizeSpec,
    files: MaskSetLayout,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Decode ``pairs`` (``pair_files``) into aligned (N, R, R) uint8 arrays at ``spec``: images
    0..255, masks 0/1. Masks that are not binary (without ``files.lung_labels``) or have an
    implausible lung fraction are rejects.

    Returns the images, the masks, the index (the pairs kept, in array order, with a ``row``
    column) and every reject: ``pair_rejects`` and this step's.
    """
    jobs = [(loaders[row.image], [loaders[m] for m in row.masks.split("|")], spec,
             files.lung_labels, files.lung_fraction) for row in pairs.itertuples()]  # fmt: skip
    shape = (len(jobs), spec.resolution, spec.resolution)
    images, masks = np.empty(shape, np.uint8), np.empty(shape, np.uint8)
    kept, failed = decode_into((images, masks), _decode_pair, jobs, workers, "decode seg",
                               "unreadable pair")  # fmt: skip
    if not kept:
        raise BadInput("No segmentation pair could be decoded; see seg_rejects.")
    images, masks = images[: len(kept)], masks[: len(kept)]
    empty = int((masks.reshape(len(kept), -1).max(axis=1) == 0).sum())
    if empty:
        logger.warning("%s: %d masks are empty after resizing", DECODE_STAGE, empty)
    index = pairs.iloc[kept].reset_index(drop=True)
    index.insert(0, "row", np.arange(len(kept)))
    rejects = [(f"{pairs['image'].iloc[i]}.png", DECODE_STAGE, reason) for i, reason in failed]
    all_rejects = pd.concat([pair_rejects, rejects_frame(rejects)], ignore_index=True)
    logger.info("%s: %d pairs, %d rejects", DECODE_STAGE, len(kept), len(all_rejects))
    return images, masks, index, all_rejects
