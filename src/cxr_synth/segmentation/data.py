"""Image/mask pairs as tensors, and the classic joint augmentation for segmentation.

Augmentation runs on uint8 tensors (before scaling to [-1, 1]): brightness, contrast and gamma
then work in their native [0, 255] range, and corners uncovered by a rotation become 0 (black
film, empty mask). torchvision resamples ``tv_tensors.Mask`` with nearest-neighbour
interpolation, so masks stay binary and are moved exactly like their images (affine, elastic);
the photometric steps (brightness, contrast, gamma, blur) leave masks untouched.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from cxr_synth.data.torch_data import ChestXrayDataset

Range = tuple[float, float]


class RandomGamma(v2.Transform):
    """Gamma correction of images (masks pass through), gamma drawn uniformly from ``gamma``:
    ``out = 255 * (in / 255) ** gamma``; < 1 brightens the mid-tones, > 1 darkens them."""

    def __init__(self, gamma: Range) -> None:
        super().__init__()
        self.gamma = (float(gamma[0]), float(gamma[1]))

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        low, high = self.gamma
        return {"gamma": low + (high - low) * float(torch.rand(()))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.Mask) or not isinstance(inpt, tv_tensors.Image):
            return inpt
        return v2.functional.adjust_gamma(inpt, params["gamma"])


def _blur(sigma: Range) -> v2.GaussianBlur:
    """Gaussian blur with sigma drawn from ``sigma``, the kernel wide enough (±3 sigma)."""
    return v2.GaussianBlur(2 * math.ceil(3 * sigma[1]) + 1, sigma=(sigma[0], sigma[1]))


def build_classic_augmentation(
    rotation_degrees: float = 10.0,
    scale: Range | None = (0.9, 1.1),
    brightness: float = 0.1,
    contrast: float = 0.1,
    horizontal_flip: bool = False,
    *,
    translate: float = 0.0,
    elastic_alpha: float = 0.0,
    elastic_sigma: float = 5.0,
    gamma: Range | None = None,
    blur_sigma: Range | None = None,
) -> v2.Transform | None:
    """The joint augmentation, or ``None`` when every step is off; in this order:

    random rotation (±``rotation_degrees``), zoom (``scale``) and shift (± ``translate`` of the
    side); elastic deformation (torchvision's ``ElasticTransform``, displacement ``elastic_alpha``
    smoothed by ``elastic_sigma`` px; 0 = off; Simard et al., ICDAR 2003, as in Ronneberger et
    al.'s U-Net paper); brightness and contrast factors from ``[1 - x, 1 + x]``; gamma from the
    range ``gamma``; Gaussian blur with sigma from ``blur_sigma``; a horizontal flip, which puts
    the heart on the wrong side: off by default, see docs/data.md.
    """
    steps: list[v2.Transform] = []
    scale = None if scale is None or tuple(scale) == (1.0, 1.0) else tuple(scale)
    if rotation_degrees or scale is not None or translate:
        steps.append(
            v2.RandomAffine(
                rotation_degrees,
                translate=(translate, translate) if translate else None,
                scale=scale,
                interpolation=v2.InterpolationMode.BILINEAR,
            )
        )
    if elastic_alpha:
        steps.append(v2.ElasticTransform(alpha=float(elastic_alpha), sigma=float(elastic_sigma)))
    if brightness or contrast:
        steps.append(v2.ColorJitter(brightness=brightness or None, contrast=contrast or None))
    if gamma is not None and tuple(gamma) != (1.0, 1.0):
        steps.append(RandomGamma(gamma))
    if blur_sigma is not None:
        steps.append(_blur(blur_sigma))
    if horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps) if steps else None


def deform_masks(
    masks: np.ndarray,
    n: int,
    *,
    seed: int,
    rotation_degrees: float = 10.0,
    scale: Range | None = (0.9, 1.1),
    translate: float = 0.0,
    elastic_alpha: float = 0.0,
    elastic_sigma: float = 5.0,
) -> np.ndarray:
    """``n`` new masks (n, H, W) uint8 in {0, 1}: ``masks`` (foreground > 0) in turn (mask
    ``i % len(masks)``), each moved by a random affine and elastic deformation
    (``build_classic_augmentation``'s geometric steps), reproducible from ``seed``.

    Masks are resampled by nearest neighbour (``tv_tensors.Mask``): they stay binary, and the
    image a mask-conditioned generator renders on one is aligned with it by construction.
    """
    if len(masks) == 0 and n > 0:
        raise ValueError(f"no masks to deform into {n} new ones")
    move = build_classic_augmentation(
        rotation_degrees, scale, 0.0, 0.0, translate=translate,
        elastic_alpha=elastic_alpha, elastic_sigma=elastic_sigma,
    )  # fmt: skip
    out = np.empty((n, *masks.shape[1:]), np.uint8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(n):
            mask = tv_tensors.Mask(torch.from_numpy(np.asarray(masks[i % len(masks)]) > 0)[None])
            moved = move(mask.to(torch.uint8)) if move is not None else mask
            out[i] = moved[0].numpy() > 0
    return out


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
