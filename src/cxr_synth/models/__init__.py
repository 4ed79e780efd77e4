"""The GAN zoo in pure PyTorch (no Kedro): build one by name with `build_gan`.

>>> import torch
>>> gan = build_gan("proposed", resolution=128, g_width=32)
>>> images = gan.generator(torch.randn(8, gan.latent_dim))  # (8, 1, 128, 128) in [-1, 1]
"""

from .augment import DiffAugment
from .base import GAN, Objective
from .losses import (
    LeastSquares,
    NonSaturating,
    NonSaturatingR1,
    WassersteinGP,
    gradient_penalty,
    r1_penalty,
)
from .registry import ARCHITECTURES, architecture_options, build_gan

__all__ = [
    "ARCHITECTURES",
    "GAN",
    "DiffAugment",
    "LeastSquares",
    "NonSaturating",
    "NonSaturatingR1",
    "Objective",
    "WassersteinGP",
    "architecture_options",
    "build_gan",
    "gradient_penalty",
    "r1_penalty",
]
