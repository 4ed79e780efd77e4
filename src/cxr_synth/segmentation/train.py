"""Training a U-Net for binary (lung) segmentation: Adam on Dice + BCE, early stopping on Dice.

After every epoch the mean per-image Dice on the validation set (logits thresholded at 0)
decides: a better Dice keeps a copy of the weights; ``patience`` epochs without one stop
training. The returned model holds the best weights. A run is reproducible from its ``seed``
(weights, batch order and augmentation draws) on the same device and thread count.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from cxr_synth.models.unet import UNet
from cxr_synth.runtime.devices import (
    autocast_context,
    gpu_mixed_precision,
    make_grad_scaler,
    resolve_device,
)
from cxr_synth.segmentation.config import SegmentationConfig
from cxr_synth.segmentation.evaluate import evaluate_unet
from cxr_synth.segmentation.metrics import dice_bce_loss
from cxr_synth.training.util import cpu_copy, interactive

logger = logging.getLogger("cxr_synth.segmentation")


@dataclass
class SegmentationResult:
    """A trained U-Net (best weights, on CPU, in eval mode) and how it got there."""

    model: UNet
    history: list[dict[str, float]]  # per epoch: epoch, train_loss, val_dice
    best_epoch: int
    best_val_dice: float
    epochs_run: int
    device: str  # where it was trained
    train_time_s: float


def steps_per_epoch(n_images: int, config: SegmentationConfig) -> int:
    """Optimiser steps in one epoch of ``n_images`` (``train_unet``'s loader: the last partial
    batch is dropped unless it is the only one; at most ``max_steps_per_epoch``)."""
    steps = n_images // config.batch_size if n_images > config.batch_size else int(n_images > 0)
    return min(steps, config.max_steps_per_epoch or steps)


def with_steps_of(config: SegmentationConfig, n_real: int, n_more: int) -> SegmentationConfig:
    """``config`` for ``n_real`` images with the optimiser steps it would take on ``n_real +
    n_more``: ``epochs`` and ``patience`` scaled by the ratio of steps per epoch, rounded up (a
    real-only method against one with ``n_more`` synthetic pairs, at equal optimiser steps)."""
    own, other = steps_per_epoch(n_real, config), steps_per_epoch(n_real + n_more, config)
    if not own or own == other:
        return config
    scale = other / own
    return config.model_copy(
        update={
            "epochs": math.ceil(config.epochs * scale),
            "patience": math.ceil(config.patience * scale),
        }
    )


def train_unet(
    train_set: Dataset,
    val_images: np.ndarray,
    val_masks: np.ndarray,
    config: SegmentationConfig | dict[str, Any],
    *,
    description: str = "unet",
) -> SegmentationResult:
    """Train a 1-channel U-Net on ``train_set``; see module doc.

    ``train_set`` yields (image (1, H, W) in [-1, 1], mask (1, H, W) in {0, 1}), e.g. a
    :class:`~cxr_synth.segmentation.data.SegmentationDataset`. ``val_images`` uint8 (N, H, W)
    and ``val_masks`` (N, H, W), foreground where > 0, select the best epoch.
    """
    if not isinstance(config, SegmentationConfig):
        config = SegmentationConfig.from_dict(config)
    if len(train_set) == 0 or len(val_images) == 0:
        raise ValueError(
            f"need training and validation images, got {len(train_set)} and {len(val_images)}"
        )
    if val_masks.shape != val_images.shape:
        raise ValueError(f"val_masks {val_masks.shape} must match val_images {val_images.shape}")
    started = time.perf_counter()
    device = resolve_device(config.device)
    precision = gpu_mixed_precision(device)
    torch.manual_seed(config.seed)
    model = UNet(1, 1, config.base_width, config.depth).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scaler = make_grad_scaler(device, precision)
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        drop_last=len(train_set) > config.batch_size,  # no size-1 batch for BatchNorm
        generator=torch.Generator().manual_seed(config.seed),
    )
    steps = steps_per_epoch(len(train_set), config)
    bar = tqdm(
        total=config.epochs * steps, desc=description, unit="step", disable=not interactive()
    )
    history: list[dict[str, float]] = []
    best_dice, best_epoch, best_state = -math.inf, 0, None
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss_sum = 0.0
        for step, (images, masks) in enumerate(loader):
            if step >= steps:
                break
            images, masks = images.to(device), masks.to(device)
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(device, precision):
                loss = dice_bce_loss(model(images), masks)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / (step + 1):.4f}", refresh=False)
        val_dice = float(
            evaluate_unet(
                model, val_images, val_masks, config.batch_size, device, config.test_time_flip
            )["dice_mean"]
        )
        history.append({"epoch": epoch, "train_loss": loss_sum / steps, "val_dice": val_dice})
        if val_dice > best_dice:
            best_dice, best_epoch = val_dice, epoch
            best_state = cpu_copy(model.state_dict())
        bar.set_postfix(loss=f"{loss_sum / steps:.4f}", val_dice=f"{val_dice:.4f}")
        logger.info(
            "%s epoch %d/%d: train_loss %.4f, val_dice %.4f (best %.4f at epoch %d)",
            description,
            epoch,
            config.epochs,
            loss_sum / steps,
            val_dice,
            best_dice,
            best_epoch,
        )
        if epoch - best_epoch >= config.patience:
            logger.info(
                "%s: no better validation Dice for %d epochs, stopping early",
                description,
                config.patience,
            )
            break
    bar.close()
    model.load_state_dict(best_state)
    return SegmentationResult(
        model=model.cpu().eval(),
        history=history,
        best_epoch=best_epoch,
        best_val_dice=best_dice,
        epochs_run=len(history),
        device=str(device),
        train_time_s=time.perf_counter() - started,
    )
