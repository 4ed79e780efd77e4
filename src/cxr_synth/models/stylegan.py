"""A compact StyleGAN2: Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN".

Written from the papers (StyleGAN: Karras et al. 2019; StyleGAN2; ProGAN: Karras et al. 2018), not
from NVlabs' code. What it keeps: mapping network with equalized lr and lr multiplier 0.01, learned
4x4 constant, modulated/demodulated 3x3 convolutions (grouped-conv form), per-layer noise with a
learned strength, skip generator (toRGB at every resolution, summed after upsampling), style mixing
while training, truncation with a tracked w_avg, residual discriminator with minibatch stddev,
non-saturating loss with lazy R1. Simplifications, each a documented choice:
  * up/down-sampling is bilinear interpolation / 2x2 average pooling around ordinary 3x3 convs, not
    transposed/strided convs with a [1,3,3,1] FIR filter (simpler; costs 4x the FLOPs on the
    up-sampling convs only);
  * path-length regularisation is omitted (it targets latent-space smoothness, perceptual path
    length, more than FID, and needs its own lazy G pass), so G keeps its Adam settings uncorrected;
  * a final tanh maps the skip sum into [-1, 1] like every other generator in the zoo.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from .augment import DiffAugment
from .base import GAN
from .layers import (
    EqualConv2d,
    EqualLinear,
    adam_settings,
    channels_at,
    ema_setting,
    log2_resolution,
    scaled_leaky_relu,
)
from .losses import NonSaturatingR1
from .options import StyleGANOptions


def normalize_2nd_moment(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm of z (Karras et al. 2018, §4.2): z / sqrt(mean(z^2)) per sample."""
    return z * (z.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    padding: int = 0,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Karras et al. 2020, §2.2, eqs. 1-3: per-sample weights w'_ijk = s_i w_ijk, demodulated by
    1/sqrt(sum_ik w'_ijk^2 + eps).

    Computed in the equivalent non-fused form (scale the input channels by s, one shared
    convolution, scale the output channels by the demodulation coefficients), which runs as a
    plain dense convolution: several times faster than a per-sample grouped convolution on CPUs
    and at training batch sizes on GPUs.

    x (B, Cin, H, W), weight (Cout, Cin, k, k), styles (B, Cin) -> (B, Cout, H', W').
    """
    out = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)
    if demodulate:
        # sum_ik (s_i w_ijk)^2 = sum_i s_i^2 sum_k w_ijk^2
        coefficients = (styles.square() @ weight.square().sum(dim=(2, 3)).T + eps).rsqrt()
        out = out * coefficients[:, :, None, None]
    return out


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class MappingNetwork(nn.Module):
    """z -> w: pixel norm, then ``num_layers`` FC layers with lr multiplier 0.01 (Karras et al.
    2019, §2).

    Tracks ``w_avg``, the running mean of w (updated in training mode), used by the truncation trick
    w' = w_avg + psi (w - w_avg) (Karras et al. 2019, App. B). An EMA copy of G must copy buffers
    too.
    """

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_layers: int = 8,
        lr_mul: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"mapping_layers must be >= 1, got {num_layers}")
        dims = [z_dim] + [w_dim] * num_layers
        self.net = nn.Sequential(
            *[EqualLinear(a, b, lr_mul=lr_mul, activation=True) for a, b in pairwise(dims)]
        )
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self, z: torch.Tensor, truncation_psi: float = 1.0, update_w_avg: bool = True
    ) -> torch.Tensor:
        w = self.net(normalize_2nd_moment(z))
        if self.training and update_w_avg:
            with torch.no_grad():
                batch_mean = w.detach().float().mean(dim=0)
                self.w_avg.copy_(batch_mean + self.w_avg_beta * (self.w_avg - batch_mean))
        if truncation_psi != 1.0:
            w = self.w_avg + truncation_psi * (w - self.w_avg)
        return w


class SynthesisLayer(nn.Module):
    """[2x up], modulated 3x3 conv, + scaled noise, + bias, lrelu (Karras et al. 2020, Fig. 2d)."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, *, up: bool = False
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # styles start at 1
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.weight_gain = 1.0 / math.sqrt(in_channels * 9)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if self.up:
            x = _upsample(x)
        x = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w), padding=1)
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength
        return scaled_leaky_relu(x + self.bias.view(1, -1, 1, 1))


class ToRGB(nn.Module):
    """Modulated 1x1 conv to the output channels, not demodulated (Karras et al. 2020, Fig. 7b)."""

    def __init__(self, in_channels: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, in_channels, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return x + self.bias.view(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: [const | up-conv], conv, toRGB; image = up(image) +
    toRGB(x).

    Consumes ``num_convs + 1`` consecutive ws; its toRGB shares its w with the next block's first
    conv.
    """

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, channels: int, *, first: bool
    ) -> None:
        super().__init__()
        self.first = first
        if first:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, up=True)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim)
        self.to_rgb = ToRGB(out_channels, channels, w_dim)
        self.num_convs = 1 if first else 2

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w = iter(ws.unbind(dim=1))
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x, next(w), noise_mode)
        x = self.conv1(x, next(w), noise_mode)
        y = self.to_rgb(x, next(w))
        img = y if img is None else _upsample(img) + y.to(img.dtype)
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) -> image before tanh: one SynthesisBlock per side 4, 8, ..., R."""

    def __init__(
        self, w_dim: int, channels: int, resolution: int, *, width: int, max_width: int
    ) -> None:
        super().__init__()
        sizes = [2**k for k in range(2, log2_resolution(resolution) + 1)]
        ch = [channels_at(s, resolution, width, max_width) for s in sizes]
        self.blocks = nn.ModuleList(
            SynthesisBlock(c_in, c_out, w_dim, channels, first=i == 0)
            for i, (c_in, c_out) in enumerate(pairwise([ch[0], *ch]))
        )
        self.num_ws = sum(block.num_convs for block in self.blocks) + 1

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if noise_mode not in ("random", "none"):
            raise ValueError(f"noise_mode must be 'random' or 'none', got {noise_mode!r}")
        x = img = None
        start = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, start : start + block.num_convs + 1], noise_mode)
            start += block.num_convs
        return img


class StyleGAN2Generator(nn.Module):
    """z (B, latent_dim) -> image (B, C, R, R) in [-1, 1]; ``truncation_psi`` < 1 trades variety."""

    def __init__(
        self,
        latent_dim: int,
        channels: int,
        resolution: int,
        *,
        width: int = 128,
        max_width: int = 256,
        w_dim: int = 256,
        mapping_layers: int = 8,
        style_mixing_prob: float = 0.9,
    ) -> None:
        super().__init__()
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {style_mixing_prob}")
        self.latent_dim = latent_dim
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(
            w_dim, channels, resolution, width=width, max_width=max_width
        )
        self.num_ws = self.synthesis.num_ws
        self.style_mixing_prob = style_mixing_prob

    def sample_ws(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """Per-layer styles (B, num_ws, w_dim). In training mode, with probability
        ``style_mixing_prob`` the layers from a random cut-off on use the w of a second z (style
        mixing, Karras et al. 2019, §3.1).
        """
        ws = self.mapping(z, truncation_psi).unsqueeze(1).repeat(1, self.num_ws, 1)
        if self.training and torch.rand(()).item() < self.style_mixing_prob:
            cutoff = int(torch.randint(1, self.num_ws, ()))
            w2 = self.mapping(torch.randn_like(z), truncation_psi, update_w_avg=False)
            ws[:, cutoff:] = w2.unsqueeze(1).to(ws.dtype)
        return ws

    def forward(
        self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "random"
    ) -> torch.Tensor:
        return torch.tanh(self.synthesis(self.sample_ws(z, truncation_psi), noise_mode))


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_features: int = 1) -> torch.Tensor:
    """Append the mean per-group std of features as extra channels (Karras et al. 2018, §3).

    Groups of ``group_size`` samples (or the largest divisor of B not above it); the std over each
    group is averaged over channels (split into ``num_features`` parts) and pixels.
    """
    b, c, h, w = x.shape
    g = next(d for d in range(min(group_size, b), 0, -1) if b % d == 0)
    y = x.float().reshape(g, b // g, num_features, c // num_features, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (B/g, F, C/F, H, W)
    y = y.mean(dim=(2, 3, 4))  # (B/g, F)
    y = (
        y.reshape(1, b // g, num_features, 1, 1)
        .expand(g, -1, -1, h, w)
        .reshape(b, num_features, h, w)
    )
    return torch.cat([x, y.to(x.dtype)], dim=1)


class DiscriminatorBlock(nn.Module):
    """Residual D block (Karras et al. 2020, Fig. 7c): (conv, conv, down + down, 1x1) / sqrt 2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activation=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(F.avg_pool2d(x, 2))
        x = F.avg_pool2d(self.conv1(self.conv0(x)), 2)
        return (x + y) * math.sqrt(0.5)


class StyleGAN2Discriminator(nn.Module):
    """Image (B, C, R, R) -> logits (B,): fromRGB, residual blocks to 4x4, mbstd, conv, 2 FC."""

    def __init__(
        self,
        channels: int,
        resolution: int,
        *,
        width: int = 128,
        max_width: int = 256,
        mbstd_group_size: int = 4,
    ) -> None:
        super().__init__()
        sizes = [2**k for k in range(log2_resolution(resolution), 1, -1)]  # R, R/2, ..., 4
        ch = [channels_at(s, resolution, width, max_width) for s in sizes]
        self.from_rgb = EqualConv2d(channels, ch[0], 1, activation=True)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(a, b) for a, b in pairwise(ch)])
        self.mbstd_group_size = mbstd_group_size
        self.conv = EqualConv2d(ch[-1] + 1, ch[-1], 3, activation=True)
        self.fc = EqualLinear(ch[-1] * 16, ch[-1], activation=True)
        self.out = EqualLinear(ch[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.from_rgb(x))
        x = self.conv(minibatch_stddev(x, self.mbstd_group_size))
        return self.out(self.fc(x.flatten(1))).view(x.shape[0])


def build_stylegan(
    options: StyleGANOptions, *, resolution: int, channels: int, latent_dim: int
) -> GAN:
    """Compact StyleGAN2 (Karras et al. 2020) with the non-saturating loss and lazy R1.

    ``options`` (``StyleGANOptions``): widths, ``w_dim``, ``mapping_layers``,
    ``style_mixing_prob``, ``mbstd_group_size``; ``r1_gamma`` (null: the StyleGAN2-ADA heuristic
    0.0002 R^2 / 32, i.e. 0.1 at 128 for batch 32; Karras et al. 2020b, App. D) every
    ``r1_interval`` D steps, scaled by the interval; D's Adam is corrected for lazy R1 as in the
    paper (App. B): lr * c and betas ** c with c = r1_interval / (r1_interval + 1). No
    path-length regularisation (see module docstring). Sampling:
    ``generator(z, truncation_psi=0.7, noise_mode="random" | "none")``.
    """
    o = options
    r1_gamma, r1_interval, d_betas = o.r1_gamma, o.r1_interval, o.d_betas
    if r1_gamma is None:
        r1_gamma = 0.0002 * resolution**2 / 32
    generator = StyleGAN2Generator(
        latent_dim,
        channels,
        resolution,
        width=o.g_width,
        max_width=o.max_width,
        w_dim=o.w_dim,
        mapping_layers=o.mapping_layers,
        style_mixing_prob=o.style_mixing_prob,
    )
    discriminator = StyleGAN2Discriminator(
        channels, resolution, width=o.d_width, max_width=o.max_width,
        mbstd_group_size=o.mbstd_group_size,
    )
    objective = NonSaturatingR1(
        augment=DiffAugment(o.diffaugment), r1_gamma=r1_gamma, r1_interval=r1_interval
    )
    c = r1_interval / (r1_interval + 1) if r1_gamma > 0 else 1.0
    return GAN(
        name="stylegan",
        generator=generator,
        discriminator=discriminator,
        objective=objective,
        latent_dim=latent_dim,
        g_optimizer=adam_settings(o.g_lr, o.g_betas),
        d_optimizer=adam_settings(o.d_lr * c, [b**c for b in d_betas]),
        n_critic=1,
        ema_decay=ema_setting(o.ema_decay),
    )
