"""Saved U-Nets on another lung-mask set: rebuilt from their spec, nothing retrained."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from cxr_synth.segmentation.evaluate import evaluate_unet
from cxr_synth.segmentation.intensity import normalise_intensity
from cxr_synth.segmentation.saved import build_unets

logger = logging.getLogger("cxr_synth.segmentation")


def evaluate_saved_unets(
    unets: Mapping[Any, Mapping[str, torch.Tensor]],
    spec: Mapping[str, Any],
    images: np.ndarray,
    masks: np.ndarray,
    image_ids: Sequence[str],
    dataset: str,
    method: str,
    *,
    batch_size: int = 32,
    device: str = "auto",
) -> pd.DataFrame:
    """Every seed's U-Net of ``spec`` on ``images``: one row per (seed, image) with method, seed,
    dataset, image (``image_ids``), dice, iou.

    The images are normalised as in the U-Nets' training (``spec["intensity"]``); a set at
    another resolution than ``spec["resolution"]`` raises ``ValueError``.
    """
    if images.shape[-1] != int(spec["resolution"]):
        raise ValueError(
            f"{method}: the U-Nets were trained at {spec['resolution']} px, the external set is "
            f"{images.shape[-1]} px; rerun the external preprocessing "
            "(`kedro run --pipelines segmentation_external`)"
        )
    models = build_unets(spec, unets)
    images = normalise_intensity(images, spec.get("intensity", "none"))
    frames = []
    for seed, model in models.items():
        scores = evaluate_unet(
            model, images, masks, batch_size=batch_size, device=device,
            test_time_flip=bool(spec.get("test_time_flip", False)),
        )  # fmt: skip
        logger.info(
            "U-Net %s seed %s on %s: Dice %.4f ± %.4f over %d images",
            method, seed, dataset, scores["dice_mean"], scores["dice_std"], len(images),
        )  # fmt: skip
        frames.append(
            pd.DataFrame(
                {
                    "method": method,
                    "seed": seed,
                    "dataset": dataset,
                    "image": image_ids,
                    "dice": scores["dice"],
                    "iou": scores["iou"],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
