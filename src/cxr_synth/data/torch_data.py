"""The torch Dataset every training pipeline shares: uint8 arrays -> float tensors in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2


def build_augmentation(
    rotation_degrees: float = 0.0, horizontal_flip: bool = False, vertical_flip: bool = False
) -> v2.Transform | None:
    """Random rotation and flips, or ``None`` when all are off.

    A horizontal flip puts the heart on the wrong side: off by default, see docs/data.md.
    Rotation fills the corners with -1 (black), the value of empty film.
    """
    steps: list[v2.Transform] = []
    if rotation_degrees:
        steps.append(
            v2.RandomRotation(
                rotation_degrees, interpolation=v2.InterpolationMode.BILINEAR, fill=-1.0
            )
        )
    if horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if vertical_flip:
        steps.append(v2.RandomVerticalFlip())
    return v2.Compose(steps) if steps else None


def check_arrays(images: np.ndarray, masks: np.ndarray | None = None) -> None:
    """Images must be uint8 (N, H, W); masks, if any, uint8 (0/1 or 0/255) or bool of that shape."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be a (N, H, W) uint8 array, got {images.shape} {images.dtype}"
        )
    if masks is None:
        return
    if masks.shape != images.shape:
        raise ValueError(f"masks {masks.shape} must match images {images.shape}")
    if masks.dtype not in (np.uint8, np.bool_):
        raise ValueError(f"masks must be uint8 (0/1 or 0/255) or bool, got {masks.dtype}")


class ChestXrayDataset(Dataset):
    """Images (N, H, W) uint8 — and optionally aligned masks (foreground > 0) — as (C, H, W) float tensors.

    Pixel values are scaled to [-1, 1], the generator's tanh range. With ``masks`` each item has
    two channels (image, mask), both in [-1, 1] and transformed identically, so a GAN can learn
    image/mask pairs. ``rows`` selects a subset (e.g. the training split) without copying; the
    arrays may be memory-mapped.
    """

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray | None = None,
        rows: np.ndarray | None = None,
        augmentation: v2.Transform | None = None,
    ) -> None:
        check_arrays(images, masks)
        self.images, self.masks = images, masks
        self.rows = np.arange(len(images)) if rows is None else np.asarray(rows)
        self.augmentation = augmentation

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> torch.Tensor:
        row = int(self.rows[index])
        channels = [torch.from_numpy(np.array(self.images[row], dtype=np.float32)) / 127.5 - 1.0]
        if self.masks is not None:
            channels.append(torch.from_numpy(np.asarray(self.masks[row]) > 0).float() * 2.0 - 1.0)
        item = torch.stack(channels)
        return self.augmentation(item) if self.augmentation is not None else item
