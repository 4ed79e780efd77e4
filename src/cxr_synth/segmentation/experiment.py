"""One augmentation method's experiment: a U-Net per seed, each scored on every real test image.

``run_experiment(images, masks, rows, config, seeds, method)`` trains on the real training rows
(plus synthetic pairs for a GAN method), selects on the validation rows and scores the test
rows; what it reports per seed goes to the tracker that ``open_run(name)`` yields (e.g.
``cxr_synth.training.tracking.child_run``; by default nothing is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import ConcatDataset

from cxr_synth.runtime.privacy import pseudonymous_ids
from cxr_synth.segmentation.config import SegmentationConfig
from cxr_synth.segmentation.data import SegmentationDataset, build_classic_augmentation
from cxr_synth.segmentation.evaluate import evaluate_unet
from cxr_synth.segmentation.intensity import normalise_intensity
from cxr_synth.segmentation.saved import unet_spec
from cxr_synth.segmentation.train import train_unet, with_steps_of
from cxr_synth.training.tracking import RunOpener, no_run

logger = logging.getLogger("cxr_synth.segmentation")


@dataclass
class Experiment:
    """What ``run_experiment`` returns."""

    runs: pd.DataFrame  # one row per (seed, test image); ``image`` is a pseudonym
    weights: dict[int, dict[str, torch.Tensor]]  # {seed: best state dict (CPU)}
    spec: dict[str, Any]  # ``unet_spec`` plus method, n_real, n_synthetic


def run_experiment(
    images: np.ndarray,
    masks: np.ndarray,
    rows: Mapping[str, np.ndarray],
    config: SegmentationConfig,
    seeds: Sequence[int],
    method: str,
    *,
    synthetic_images: np.ndarray | None = None,
    synthetic_masks: np.ndarray | None = None,
    classic_augmentation: Mapping[str, Any] | None = None,
    synthetic_with_classic: bool = False,
    steps_of_synthetic: int = 0,
    eval_batch_size: int = 32,
    open_run: RunOpener = no_run,
) -> Experiment:
    """Train one U-Net per seed with ``method``'s training set; Dice/IoU per test image.

    ``rows``: ``train``, ``val`` and ``test`` row numbers into ``images``/``masks``. ``method``
    ``classic`` (or a GAN method with ``synthetic_with_classic``) applies
    ``build_classic_augmentation(**classic_augmentation)``; synthetic pairs join the training set.
    Every image the U-Nets see is normalised with ``config.intensity``. ``steps_of_synthetic``
    (a method without synthetic pairs only): train for the optimiser steps the training set
    would take with that many pairs more (``with_steps_of``: epochs and patience scaled).
    """
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"seg images must be square (N, R, R), got {images.shape}")
    train_rows, val_rows, test_rows = rows["train"], rows["val"], rows["test"]
    images = normalise_intensity(images, config.intensity)
    if synthetic_images is not None:
        synthetic_images = normalise_intensity(synthetic_images, config.intensity)
    classic = method == "classic" or (synthetic_images is not None and synthetic_with_classic)
    augmentation = build_classic_augmentation(**(classic_augmentation or {})) if classic else None
    real = SegmentationDataset(images, masks, rows=train_rows, augmentation=augmentation)
    parts = [real]
    n_synthetic = 0 if synthetic_images is None else len(synthetic_images)
    if n_synthetic:
        parts.append(
            SegmentationDataset(synthetic_images, synthetic_masks, augmentation=augmentation)
        )
    train_set = ConcatDataset(parts)
    image_ids = pseudonymous_ids(test_rows)
    test_images, test_masks = np.asarray(images[test_rows]), np.asarray(masks[test_rows])
    val_images, val_masks = np.asarray(images[val_rows]), np.asarray(masks[val_rows])
    counts = {"n_real": len(real), "n_synthetic": n_synthetic}
    if steps_of_synthetic and not n_synthetic:
        config = with_steps_of(config, len(real), steps_of_synthetic)
        logger.info(
            "U-Net %s: %d epochs, patience %d: the optimiser steps of %d real + %d synthetic "
            "images", method, config.epochs, config.patience, len(real), steps_of_synthetic,
        )  # fmt: skip

    frames, weights = [], {}
    for seed in seeds:
        seeded = config.model_copy(update={"seed": seed})
        with open_run(f"unet.{method}.seed{seed}") as tracker:
            result = train_unet(
                train_set, val_images, val_masks, seeded, description=f"unet {method} s{seed}"
            )
            scores = evaluate_unet(
                result.model, test_images, test_masks, batch_size=eval_batch_size,
                device=seeded.device, test_time_flip=seeded.test_time_flip,
            )  # fmt: skip
            tracker.log_params(
                {
                    "method": method,
                    "seed": seed,
                    **counts,
                    "classic_augmentation": classic,
                    "epochs": seeded.epochs,
                    "patience": seeded.patience,
                }
            )
            for row in result.history:
                tracker.log_metrics(
                    {k: float(v) for k, v in row.items() if k != "epoch"}, step=int(row["epoch"])
                )
            tracker.log_metrics(
                {"test/dice": scores["dice_mean"], "test/iou": scores["iou_mean"]}, step=0
            )
        weights[int(seed)] = result.model.state_dict()
        logger.info(
            "U-Net %s seed %s: test Dice %.4f ± %.4f over %d images (best epoch %d)",
            method, seed, scores["dice_mean"], scores["dice_std"], len(test_rows),
            result.best_epoch,
        )  # fmt: skip
        frames.append(
            pd.DataFrame(
                {
                    "method": method,
                    "seed": int(seed),
                    "image": image_ids,
                    "dice": scores["dice"],
                    "iou": scores["iou"],
                    "best_epoch": result.best_epoch,
                    "best_val_dice": result.best_val_dice,
                    "epochs_run": result.epochs_run,
                    "train_time_s": result.train_time_s,
                    **counts,
                }
            )
        )
    spec = unet_spec(seeded, images.shape[-1], weights, method=method, **counts)
    return Experiment(pd.concat(frames, ignore_index=True), weights, spec)
