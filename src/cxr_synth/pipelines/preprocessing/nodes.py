"""Preprocessing: decode, square, resize and store images (and lung masks) as uint8 arrays.

Decoding runs over all cores and streams into one preallocated array; an image that cannot be
decoded becomes a counted, logged reject that names its file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from cxr_synth.data.imaging import (
    ImageRejected,
    ResizeSpec,
    parallel_map,
    prepare_image,
    prepare_mask,
)
from cxr_synth.pipelines.preprocessing.params import PreprocessingParams, SegmentationPreprocessing
from cxr_synth.runtime.errors import BadInput

logger = logging.getLogger(__name__)

Loader = Callable[[], Image.Image]
REJECT_COLUMNS = ["item", "stage", "reason"]


def _decode_image(loader: Loader, spec: ResizeSpec) -> np.ndarray:
    return prepare_image(loader(), spec)


def _decode_pair(
    image_loader: Loader,
    mask_loaders: list[Loader],
    spec: ResizeSpec,
    seg: SegmentationPreprocessing,
) -> tuple[np.ndarray, np.ndarray]:
    image, masks = image_loader(), [load() for load in mask_loaders]
    for mask in masks:
        if mask.size != image.size:
            raise ImageRejected(f"mask size {mask.size} differs from image size {image.size}")
    return prepare_image(image, spec), prepare_mask(
        masks, spec, seg.lung_labels, seg.lung_fraction
    )


def _reason(error: str, unusable: str) -> str:
    """A reject reason: the check's own message, or ``unusable`` + the decoding error."""
    prefix = f"{ImageRejected.__name__}: "
    return error.removeprefix(prefix) if error.startswith(prefix) else f"{unusable}: {error}"


def preprocess_nih_images(
    manifest: pd.DataFrame, images: Mapping[str, Loader], params: PreprocessingParams
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Decode every manifest image into a (N, R, R) uint8 array.

    Returns the array, the index (the manifest rows that made it, in array order, with a
    ``row`` column) and the rejects (images that could not be decoded, with the reason).
    """
    absent = manifest["partition"][~manifest["partition"].isin(list(images))]
    if len(absent):
        raise BadInput(
            f"nih_manifest lists {len(absent)} of its {len(manifest)} images that are not under "
            f"nih_images (e.g. {absent.iloc[0]}.png): it is from another data source (or the "
            "images moved); run ingestion first (kedro run --pipelines ingestion, same --env)"
        )
    spec = params.spec()
    jobs = [(images[partition], spec) for partition in manifest["partition"]]
    array = np.empty((len(jobs), spec.resolution, spec.resolution), dtype=np.uint8)
    kept, rejects = [], []
    for index, pixels, error in parallel_map(
        _decode_image, jobs, params.workers, "decode NIH"
    ):
        if error is None:
            array[len(kept)] = pixels
            kept.append(index)
        else:
            partition = manifest["partition"].iloc[index]
            reason = _reason(error, "unreadable image")
            rejects.append((f"{partition}.png", "preprocess_nih_images", reason))
    if rejects:
        logger.warning(
            "preprocess_nih_images: %d unreadable images rejected, e.g. %s",
            len(rejects),
            rejects[0],
        )
    if not kept:
        raise BadInput("None of the manifest's images could be decoded; see nih_decode_rejects.")
    index = manifest.iloc[kept].reset_index(drop=True)
    index.insert(0, "row", np.arange(len(kept)))
    logger.info(
        "preprocess_nih_images: %d images -> %s uint8",
        len(kept),
        (len(kept), spec.resolution, spec.resolution),
    )
    return array[: len(kept)], index, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def preprocess_external_images(
    images: Mapping[str, Loader] | None, params: PreprocessingParams
) -> tuple[np.ndarray, dict[str, Any], pd.DataFrame]:
    """An extra real image folder -> (N, R, R) uint8 at the training resolution, for evaluation's
    external reference: every PNG under it whose path matches ``external.include`` (any layout:
    NIH's ``images_*/images/``, Montgomery's ``CXR_png/``, a plain folder). No folder (``None``)
    gives an empty array, and evaluation reports no external columns.

    Returns the array, a summary (``name``, ``n_images``, ``n_rejected``; no file names) and the
    rejects (undecodable or too small images, with the reason).
    """
    spec, external = params.spec(), params.external
    empty = np.zeros((0, spec.resolution, spec.resolution), np.uint8)
    if images is None:
        logger.info("no external image folder (eval_external_raw): no external reference")
        return empty, {"name": external.name, "n_images": 0, "n_rejected": 0}, pd.DataFrame(
            columns=REJECT_COLUMNS
        )
    pattern = re.compile(external.include)
    keys = sorted(key for key in images if pattern.search(key))
    if not keys:
        raise BadInput(
            f"no PNG under the external image folder matches preprocessing.external.include "
            f"{external.include!r} ({len(images)} PNGs there, e.g. {sorted(images)[:3]})"
        )
    array = np.empty((len(keys), spec.resolution, spec.resolution), dtype=np.uint8)
    kept, rejects = 0, []
    jobs = [(images[key], spec) for key in keys]
    for index, pixels, error in parallel_map(
        _decode_image, jobs, params.workers, "decode external"
    ):
        if error is None:
            array[kept] = pixels
            kept += 1
        else:
            reason = _reason(error, "unreadable image")
            rejects.append((f"{keys[index]}.png", "preprocess_external_images", reason))
    if rejects:
        logger.warning("preprocess_external_images: %d rejected, e.g. %s", len(rejects), rejects[0])
    summary = {"name": external.name, "n_images": kept, "n_rejected": len(rejects)}
    logger.info("external reference %r: %d images", external.name, kept)
    return array[:kept], summary, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def _montgomery_pairs(keys: set[str]) -> tuple[dict[str, tuple[str, list[str]]], list[tuple]]:
    pairs, rejects = {}, []
    for key in sorted(k for k in keys if k.startswith("CXR_png/")):
        stem = key.split("/", 1)[1]
        masks = [f"ManualMask/leftMask/{stem}", f"ManualMask/rightMask/{stem}"]
        absent = [m for m in masks if m not in keys]
        if absent:
            rejects.append(
                (
                    f"{key}.png",
                    "pair_segmentation_files",
                    f"mask not found: {[m + '.png' for m in absent]}",
                )
            )
        else:
            pairs[stem] = (key, masks)
    return pairs, rejects


def _paired_pairs(
    keys: set[str], mask_suffix: str
) -> tuple[dict[str, tuple[str, list[str]]], list[tuple]]:
    pairs, rejects = {}, []
    for key in sorted(k for k in keys if k.startswith("images/")):
        stem = key.split("/", 1)[1]
        candidates = [f"masks/{stem}{mask_suffix}", f"masks/{stem}"]
        found = next((c for c in candidates if c in keys), None)
        if found is None:
            rejects.append(
                (
                    f"{key}.png",
                    "pair_segmentation_files",
                    f"mask not found: tried {[c + '.png' for c in candidates]}",
                )
            )
        else:
            pairs[stem] = (key, [found])
    return pairs, rejects


def pair_segmentation_files(
    files: Mapping[str, Loader], preprocessing: PreprocessingParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match each chest X-ray with its lung mask(s) by ``preprocessing.segmentation.layout``.

    ``montgomery``: ``CXR_png/X`` + ``ManualMask/leftMask/X`` + ``ManualMask/rightMask/X``;
    ``paired``: ``images/X`` + ``masks/X`` (or ``masks/X<mask_suffix>``, e.g. Shenzhen's ``_mask``).
    Images without a mask are rejects; a layout matching no file at all is an error.
    """
    params = preprocessing.segmentation
    layout = params.layout
    keys = set(files)
    if layout == "montgomery":
        pairs, rejects = _montgomery_pairs(keys)
    else:
        pairs, rejects = _paired_pairs(keys, params.mask_suffix)
    if not pairs and not rejects:
        expected = "CXR_png/*.png" if layout == "montgomery" else "images/*.png"
        raise BadInput(
            f"No {expected} found for the '{layout}' layout among {len(keys)} PNG files under the "
            f"`seg_raw` folder (e.g. {sorted(keys)[:3]}). Fix `seg_raw` in the catalog or "
            "preprocessing.segmentation.layout."
        )
    used = {k for image, masks in pairs.values() for k in [image, *masks]}
    image_prefix = "CXR_png/" if layout == "montgomery" else "images/"
    orphans = sorted(k for k in keys - used if not k.startswith(image_prefix))
    if orphans:
        logger.warning(
            "pair_segmentation_files: %d mask files have no image, e.g. %s",
            len(orphans),
            orphans[:3],
        )
    pattern = re.compile(params.patient_pattern)
    index = pd.DataFrame(
        [
            {
                "stem": stem,
                "patient_id": pattern.match(stem).group(1),
                "image": image,
                "masks": "|".join(masks),
            }
            for stem, (image, masks) in pairs.items()
        ],
        columns=["stem", "patient_id", "image", "masks"],
    )
    if rejects:
        logger.warning("pair_segmentation_files: %d images without a mask rejected", len(rejects))
    logger.info("pair_segmentation_files (%s): %d image/mask pairs", layout, len(index))
    return index, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def preprocess_segmentation(
    pairs: pd.DataFrame,
    files: Mapping[str, Loader],
    pair_rejects: pd.DataFrame,
    params: PreprocessingParams,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Decode image/mask pairs into aligned (N, R, R) uint8 arrays: images 0..255, masks 0/1.

    R is ``segmentation.resolution`` when set, else the images' ``resolution``. Masks that are
    not binary (without ``lung_labels``) or have an implausible lung fraction are rejects.
    """
    seg = params.segmentation
    spec = params.spec(seg.resolution)
    jobs = [
        (files[row.image], [files[m] for m in row.masks.split("|")], spec, seg)
        for row in pairs.itertuples()
    ]
    shape = (len(jobs), spec.resolution, spec.resolution)
    images, masks = np.empty(shape, np.uint8), np.empty(shape, np.uint8)
    kept, rejects = [], []
    for index, result, error in parallel_map(
        _decode_pair, jobs, params.workers, "decode seg"
    ):
        if error is None:
            images[len(kept)], masks[len(kept)] = result
            kept.append(index)
        else:
            rejects.append(
                (
                    f"{pairs['image'].iloc[index]}.png",
                    "preprocess_segmentation",
                    _reason(error, "unreadable pair"),
                )
            )
    if not kept:
        raise BadInput("No segmentation pair could be decoded; see seg_rejects.")
    images, masks = images[: len(kept)], masks[: len(kept)]
    empty = int((masks.reshape(len(kept), -1).max(axis=1) == 0).sum())
    if empty:
        logger.warning("preprocess_segmentation: %d masks are empty after resizing", empty)
    index = pairs.iloc[kept].reset_index(drop=True)
    index.insert(0, "row", np.arange(len(kept)))
    all_rejects = pd.concat(
        [pair_rejects, pd.DataFrame(rejects, columns=REJECT_COLUMNS)], ignore_index=True
    )
    logger.info("preprocess_segmentation: %d pairs, %d rejects", len(kept), len(all_rejects))
    return images, masks, index, all_rejects
