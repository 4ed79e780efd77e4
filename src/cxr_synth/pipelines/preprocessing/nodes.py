"""Preprocessing: decode, square, resize and store images (and lung masks) as uint8 arrays.

Decoding runs over all cores and streams into one preallocated array; an image that cannot be
decoded becomes a counted, logged reject that names its file (``cxr_synth.data.decoding``; the
lung-mask set: ``cxr_synth.data.mask_sets``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxr_synth.data.decoding import REJECT_COLUMNS, Loader, decode_images, rejects_frame
from cxr_synth.data.mask_sets import decode_pairs, pair_files
from cxr_synth.data.metadata import check_manifest_images
from cxr_synth.pipelines.preprocessing.params import PreprocessingParams
from cxr_synth.runtime.errors import BadInput

logger = logging.getLogger(__name__)


def preprocess_nih_images(
    manifest: pd.DataFrame, images: Mapping[str, Loader], params: PreprocessingParams
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Decode every manifest image into a (N, R, R) uint8 array.

    Returns the array, the index (the manifest rows that made it, in array order, with a
    ``row`` column) and the rejects (images that could not be decoded, with the reason).
    """
    partitions = manifest["partition"]
    check_manifest_images(partitions, images)
    spec = params.spec()
    array, kept, failed = decode_images([images[p] for p in partitions], spec, params.workers,
                                        "decode NIH")  # fmt: skip
    rejects = [(f"{partitions.iloc[i]}.png", "preprocess_nih_images", reason)
               for i, reason in failed]  # fmt: skip
    if rejects:
        logger.warning("preprocess_nih_images: %d unreadable images rejected, e.g. %s",
                       len(rejects), rejects[0])  # fmt: skip
    if not kept:
        raise BadInput("None of the manifest's images could be decoded; see nih_decode_rejects.")
    index = manifest.iloc[kept].reset_index(drop=True)
    index.insert(0, "row", np.arange(len(kept)))
    logger.info("preprocess_nih_images: %d images -> %s uint8", len(kept),
                (len(kept), spec.resolution, spec.resolution))  # fmt: skip
    return array, index, rejects_frame(rejects)


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
    if images is None:
        logger.info("no external image folder (eval_external_raw): no external reference")
        return np.zeros((0, spec.resolution, spec.resolution), np.uint8), {
            "name": external.name, "n_images": 0, "n_rejected": 0
        }, pd.DataFrame(columns=REJECT_COLUMNS)  # fmt: skip
    keys = sorted(key for key in images if re.search(external.include, key))
    if not keys:
        raise BadInput(
            f"no PNG under the external image folder matches preprocessing.external.include "
            f"{external.include!r} ({len(images)} PNGs there, e.g. {sorted(images)[:3]})"
        )
    array, kept, failed = decode_images([images[key] for key in keys], spec, params.workers,
                                        "decode external")  # fmt: skip
    rejects = [(f"{keys[i]}.png", "preprocess_external_images", reason) for i, reason in failed]
    if rejects:
        logger.warning("preprocess_external_images: %d rejected, e.g. %s", len(rejects), rejects[0])
    logger.info("external reference %r: %d images", external.name, len(kept))
    summary = {"name": external.name, "n_images": len(kept), "n_rejected": len(rejects)}
    return array, summary, rejects_frame(rejects)


def pair_segmentation_files(
    files: Mapping[str, Loader], preprocessing: PreprocessingParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match each chest X-ray with its lung mask(s) by ``preprocessing.segmentation.layout``
    (``cxr_synth.data.mask_sets.pair_files``): the pairs, and the images without a mask as
    rejects; a layout matching no file at all is an error."""
    return pair_files(files, preprocessing.segmentation)


def preprocess_segmentation(
    pairs: pd.DataFrame,
    files: Mapping[str, Loader],
    pair_rejects: pd.DataFrame,
    params: PreprocessingParams,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Decode image/mask pairs into aligned (N, R, R) uint8 arrays: images 0..255, masks 0/1
    (``cxr_synth.data.mask_sets.decode_pairs``). R is ``segmentation.resolution`` when set,
    else the images' ``resolution``; implausible masks are rejects."""
    seg = params.segmentation
    return decode_pairs(pairs, files, pair_rejects, params.spec(seg.resolution), seg,
                        params.workers)  # fmt: skip
