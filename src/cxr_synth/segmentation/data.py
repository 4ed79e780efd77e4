"""Image/mask pairs as tensors, and the classic joint augmentation for segmentation.

Augmentation runs on uint8 tensors (before scaling to [-1, 1]): brightness and contrast then
work in their native [0, 255] range, and corners uncovered by a rotation become 0 (black film,
empty mask). torchvision resamples ``tv_tensors.Mask`` with nearest-neighbour interpolation,
so masks stay binary and are moved exactly like their images.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from cxr_synth.data.torch_data import ChestXrayDataset


def build_classic_augmentation(
    rotation_degrees: float = 10.0,
    scale: tuple[float, float] | None = (0.9, 1.1),
    brightness: float = 0.1,
    contrast: float = 0.1,
    horizontal_flip: bool = False,
) -> v2.Transform | None:
    """Random rotation + scale, brightness/contrast (image only) and optional flip, or ``None``.

    Brightness and contrast factors are drawn from ``[1 - x, 1 + x]``. A horizontal flip puts
    the heart on the wrong side: off by default, see docs/data.md.
    """
    steps: list[v2.Transform] = []
    scale = None if scale is None or tuple(scale) == (1.0, 1.0) else tuple(scale)
    if rotation_degrees or scale is not None:
        steps.append(
            v2.RandomAffine(
                rotation_degrees, scale=scale, interpolation=v2.InterpolationMode.BILINEAR
            )
        )
    if brightness or contrast:
        steps.append(v2.ColorJitter(brightness=brightness or None, contrast=contrast or None))
    if horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps) if steps else None


class SegmentationDataset(ChestXrayDataset):
    """(image, mask) pairs: image float32 (1, H, W) in [-1, 1], mask float32 (1, H, W) in {0, 1}.

    ``images``: uint8 (N, H, W); ``masks``: uint8 or bool (N, H, W), foreground where > 0 (so
    0/1 and 0/255 masks both work). ``rows`` selects a subset (e.g. a split) without copying;
    the arrays may be memory-mapped. ``augmentation`` is called as ``augmentation(image, mask)``
    on ``tv_tensors.Image`` / ``tv_tensors.Mask`` uint8 tensors (see module doc).
    """

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        rows: np.ndarray | None = None,
        augmentation: v2.Transform | None = None,
    ) -> None:
        if masks is None:
            raise ValueError("a segmentation dataset needs masks")
        super().__init__(images, masks, rows, augmentation)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = int(self.rows[index])
        image = tv_tensors.Image(torch.from_numpy(np.array(self.images[row], dtype=np.uint8)))
        mask = tv_tensors.Mask(
            torch.from_numpy(np.asarray(self.masks[row]) > 0)[None].to(torch.uint8)
        )
        if self.augmentation is not None:
            image, mask = self.augmentation(image, mask)
        image = image.as_subclass(torch.Tensor).float() / 127.5 - 1.0
        return image, mask.as_subclass(torch.Tensor).float()
