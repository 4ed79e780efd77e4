"""Predicted masks and per-image Dice / IoU of a trained segmentation network."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from cxr_synth.data.torch_data import ChestXrayDataset
from cxr_synth.runtime.devices import autocast_context, resolve_device, resolve_precision
from cxr_synth.segmentation.metrics import dice_per_image, iou_per_image


def segmentation_precision(device: torch.device) -> str:
    """Mixed precision on CUDA (bf16, or fp16 on older cards), fp32 elsewhere."""
    return resolve_precision(device) if device.type == "cuda" else "fp32"


def _flip_averaged(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation: the mean of the logits of ``batch`` and of its mirror image
    (mirrored back)."""
    return (model(batch) + model(batch.flip(-1)).flip(-1)) / 2


@torch.no_grad()
def predict_masks(
    model: nn.Module,
    images: np.ndarray,
    batch_size: int = 32,
    device: str | torch.device = "auto",
    test_time_flip: bool = False,
) -> np.ndarray:
    """Binary masks uint8 (N, H, W) in {0, 1}: logits > 0 (probability > 0.5) for uint8 images;
    with ``test_time_flip`` the logits are averaged with those of the mirrored image.

    The model runs in eval mode on ``device``; its device and train/eval mode are restored after.
    """
    if len(images) == 0:
        raise ValueError("no images to predict masks for")
    device = resolve_device(device) if isinstance(device, str) else device
    precision = segmentation_precision(device)
    home = next(model.parameters()).device
    was_training = model.training
    model.to(device).eval()
    try:
        loader = DataLoader(ChestXrayDataset(images), batch_size=batch_size)
        masks = []
        for batch in loader:
            with autocast_context(device, precision):
                batch = batch.to(device)
                logits = _flip_averaged(model, batch) if test_time_flip else model(batch)
            masks.append((logits[:, 0] > 0).to("cpu", torch.uint8))
    finally:
        model.to(home).train(was_training)
    return torch.cat(masks).numpy()


def evaluate_unet(
    model: nn.Module,
    images: np.ndarray,
    masks: np.ndarray,
    batch_size: int = 32,
    device: str | torch.device = "auto",
    test_time_flip: bool = False,
) -> dict[str, np.ndarray | float]:
    """Per-image ``dice`` and ``iou`` arrays (N,) and their ``*_mean`` / ``*_std``.

    ``masks`` (N, H, W): foreground where > 0. Predictions (``predict_masks``, with
    ``test_time_flip`` if asked) are thresholded at logit 0.
    Empty prediction and empty mask score 1 (see ``metrics``).
    """
    if masks.shape != images.shape:
        raise ValueError(f"masks {masks.shape} must match images {images.shape}")
    pred = torch.from_numpy(predict_masks(model, images, batch_size, device, test_time_flip))
    target = torch.from_numpy(np.asarray(masks) > 0)
    scores = {
        "dice": dice_per_image(pred, target).numpy(),
        "iou": iou_per_image(pred, target).numpy(),
    }
    result: dict[str, np.ndarray | float] = dict(scores)
    for name, values in scores.items():
        result[f"{name}_mean"], result[f"{name}_std"] = float(values.mean()), float(values.std())
    return result
