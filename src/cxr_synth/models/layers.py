"""Building blocks shared by the zoo: resolution bookkeeping, DCGAN init, equalized lr."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def log2_resolution(resolution: int) -> int:
    """log2 of an image side; the side must be a power of two >= 8 (4x4 is every network's base)."""
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise ValueError(f"resolution must be an int, got {resolution!r}")
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(
            f"resolution must be a power of two >= 8 (e.g. 64, 128, 256), got {resolution}"
        )
    return resolution.bit_length() - 1


def channels_at(size: int, finest: int, width: int, max_width: int) -> int:
    """Channels at side `size`: `width` at side `finest`, doubling per halving, capped."""
    return min(width * (finest // size), max_width)


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al. 2016, §4: weights ~ N(0, 0.02); norm scales ~ N(1, 0.02); biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def scaled_leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) times sqrt(2), keeping unit variance (He et al. 2015; StyleGAN's lrelu)."""
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (Karras et al. 2018, §4.1) and an lr multiplier.

    Weights are stored ~ N(0, 1/lr_mul²) and scaled by ``lr_mul / sqrt(fan_in)`` at run time, so
    Adam's step size is the same for every layer and ``lr_mul`` slows a layer down (0.01 in
    StyleGAN's mapping).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        x = F.linear(x, self.weight * self.weight_gain, bias)
        return scaled_leaky_relu(x) if self.activation else x


class EqualConv2d(nn.Module):
    """Conv2d (stride 1, 'same' padding) with equalized learning rate (Karras et al. 2018, §4.1)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        return scaled_leaky_relu(x) if self.activation else x


def adam_settings(lr: float, betas: tuple[float, float] | list[float]) -> dict:
    """Validated keyword arguments for `torch.optim.Adam`, as `GAN.g_optimizer` / `d_optimizer`."""
    betas = tuple(float(b) for b in betas)
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
    if not lr > 0:
        raise ValueError(f"learning rate must be > 0, got {lr}")
    return {"lr": float(lr), "betas": betas}


def ema_setting(ema_decay: float | None) -> float | None:
    """EMA decay of G's weights (None or 0 = off); must lie in (0, 1)."""
    if not ema_decay:
        return None
    if not 0.0 < ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1) or null/0 for off, got {ema_decay}")
    return float(ema_decay)
