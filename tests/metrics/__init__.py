"""Tests of cxr_synth.metrics (pure torch; tiny images, small N) and their shared helpers."""

from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms.functional as TF


def add_noise(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Gaussian pixel noise of std ``sigma`` (grey levels), clipped to uint8."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape)
    return np.clip(images + noise, 0, 255).round().astype(np.uint8)


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of std ``sigma`` px (9-px kernel)."""
    if sigma == 0:
        return images
    x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).float()
    return TF.gaussian_blur(x, 9, sigma).round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
