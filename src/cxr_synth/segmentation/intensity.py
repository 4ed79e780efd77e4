"""Intensity normalisation of the U-Nets' input: one per-image mapping applied to every image a
U-Net sees (training, validation, test, external), recorded in its spec.

- ``histeq``: global histogram equalisation (PIL ``ImageOps.equalize``).
- ``clahe``: contrast-limited adaptive histogram equalisation (Zuiderveld 1994;
  ``skimage.exposure.equalize_adapthist``, tiles of 1/8 of the side, clip limit 0.01), the usual
  chest X-ray normalisation across scanners and hospitals.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageOps

Intensity = Literal["none", "histeq", "clahe"]
CLAHE_CLIP_LIMIT = 0.01


def normalise_intensity(images: np.ndarray, mode: Intensity) -> np.ndarray:
    """uint8 (N, H, W) -> uint8 (N, H, W), each image normalised alone; ``none`` returns
    ``images`` itself."""
    if mode == "none":
        return images
    if mode not in ("histeq", "clahe"):
        raise ValueError(f"intensity must be none, histeq or clahe, not {mode!r}")
    out = np.empty(np.shape(images), np.uint8)
    for i, image in enumerate(images):
        out[i] = _equalise(np.asarray(image, np.uint8), mode)
    return out


def _equalise(image: np.ndarray, mode: Intensity) -> np.ndarray:
    if mode == "histeq":
        return np.asarray(ImageOps.equalize(Image.fromarray(image)))
    from skimage.exposure import equalize_adapthist  # deferred: scikit-image imports slowly

    adapted = equalize_adapthist(image, clip_limit=CLAHE_CLIP_LIMIT)
    return np.clip(np.rint(adapted * 255.0), 0, 255).astype(np.uint8)
