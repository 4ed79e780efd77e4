"""mask2image: a lung mask in, a radiograph out — pix2pix (Isola et al. 2017), small and configurable.

G is a U-Net (Ronneberger et al. 2015) from the mask (1, R, R) to the image; it returns the
(image, mask) pair, so D, the FD and the samples see the same 2-channel pairs as the pair GANs'
and the mask of every sample is its input, correct by construction. Noise comes only from
dropout in the decoder, kept on at sampling time (Isola et al. 2017, §3.1): a mask yields
different images for different RNG states. D is a PatchGAN on the pair, one logit per patch.
Loss: non-saturating adversarial + ``l1_lambda`` · L1 to the real image (Isola et al. 2017,
eq. 4, λ = 100).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import DiffAugment
from .base import GAN
from .layers import adam_settings, ema_setting, init_dcgan_weights, log2_resolution
from .losses import Logs, NonSaturating
from .options import Mask2ImageOptions


def masks_to_condition(masks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W) masks, foreground where > 0 -> G's input (N, 1, H, W) in {-1, 1} (float32)."""
    return ((torch.as_tensor(masks) > 0).float() * 2.0 - 1.0).unsqueeze(1)


class _Down(nn.Module):
    """Conv 4x4 stride 2 -> InstanceNorm (unless first or innermost) -> LeakyReLU(0.2)."""

    def __init__(self, c_in: int, c_out: int, norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm)
        self.norm = nn.InstanceNorm2d(c_out, affine=True) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)


class _Up(nn.Module):
    """ConvTranspose 4x4 stride 2 -> InstanceNorm -> dropout (also in eval mode) -> ReLU."""

    def __init__(self, c_in: int, c_out: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
        self.norm = nn.InstanceNorm2d(c_out, affine=True)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return F.relu(F.dropout(x, self.dropout, training=True) if self.dropout else x)


class Mask2ImageGenerator(nn.Module):
    """Mask (B, 1, R, R) in [-1, 1] -> (image, mask) (B, 2, R, R): a U-Net with skip connections.

    ``depth`` stride-2 levels, ``width`` channels at the first, doubling per level up to
    ``max_width``; ``dropout`` on the ``dropout_layers`` innermost decoder levels. InstanceNorm
    rather than BatchNorm: training and sampling then normalise alike (pix2pix's batch-1 setting).
    """

    def __init__(
        self,
        resolution: int,
        *,
        width: int = 64,
        max_width: int = 512,
        depth: int = 4,
        dropout: float = 0.5,
        dropout_layers: int = 3,
    ) -> None:
        super().__init__()
        if not 1 <= depth <= log2_resolution(resolution):
            raise ValueError(f"g_depth must be in [1, log2(resolution)], got {depth}")
        ch = [min(width * 2**i, max_width) for i in range(depth)]
        self.down = nn.ModuleList(
            _Down(c_in, c_out, norm=0 < i < depth - 1)
            for i, (c_in, c_out) in enumerate(zip([1, *ch[:-1]], ch, strict=True))
        )
        # decoder, innermost first: level i takes the level below (and its skip) up to ch[i - 1]
        self.up = nn.ModuleList(
            _Up(
                ch[i] * (1 if i == depth - 1 else 2),
                ch[i - 1],
                dropout if k < dropout_layers else 0.0,
            )
            for k, i in enumerate(range(depth - 1, 0, -1))
        )
        self.out = nn.ConvTranspose2d(ch[0] * (1 if depth == 1 else 2), 1, 4, 2, 1)
        init_dcgan_weights(self)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        skips, x = [], mask
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()  # the innermost level has no skip of its own
        for layer in self.up:
            x = torch.cat([layer(x), skips.pop()], dim=1)
        return torch.cat([torch.tanh(self.out(x)), mask.to(x.dtype)], dim=1)


class PatchDiscriminator(nn.Module):
    """(image, mask) (B, 2, R, R) -> one logit per overlapping patch (B, P) (Isola et al. 2017,
    §3.2.2): ``layers`` stride-2 convs, one stride-1 conv, a 1-channel conv; pix2pix's 70x70
    PatchGAN is ``layers=3`` at 256²."""

    def __init__(
        self, channels: int, *, width: int = 64, max_width: int = 512, layers: int = 3
    ) -> None:
        super().__init__()
        ch = [min(width * 2**i, max_width) for i in range(layers + 1)]
        modules: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([channels, *ch[:-1]], ch, strict=True)):
            stride, norm = (2 if i < layers else 1), i > 0
            modules.append(nn.Conv2d(c_in, c_out, 4, stride, 1, bias=not norm))
            modules += [nn.InstanceNorm2d(c_out, affine=True)] if norm else []
            modules.append(nn.LeakyReLU(0.2, inplace=True))
        modules.append(nn.Conv2d(ch[-1], 1, 4, 1, 1))
        self.net = nn.Sequential(*modules)
        init_dcgan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class Pix2PixLoss:
    """Isola et al. 2017, eq. 4: G* = arg min_G max_D L_cGAN(G, D) + λ L_L1(G).

    L_cGAN is the non-saturating loss on D(mask, image) (``losses.NonSaturating``, with its
    DiffAugment); L_L1 = E|y - G(x)| on the image channel. The condition is the real batch's last
    channel (the mask); the loop passes it to G and the real batch to ``generator_loss``.
    """

    def __init__(self, *, l1_lambda: float = 100.0, augment: DiffAugment | None = None) -> None:
        if l1_lambda < 0:
            raise ValueError(f"l1_lambda must be >= 0, got {l1_lambda}")
        self.adversarial = NonSaturating(augment=augment)
        self.l1_lambda = l1_lambda
        self.needs_double_backward = False

    def condition(self, real: torch.Tensor) -> torch.Tensor:
        return real[:, -1:]

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, Logs]:
        return self.adversarial.discriminator_loss(discriminator, real, fake, step)

    def generator_loss(
        self, discriminator: nn.Module, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        adversarial, logs = self.adversarial.generator_loss(discriminator, fake)
        l1 = (fake[:, :1].float() - real[:, :1].float()).abs().mean()
        logs = {**logs, "g_adv": logs.pop("g_loss"), "l1": l1.detach()}
        return adversarial + self.l1_lambda * l1, logs


def build_mask2image(
    options: Mask2ImageOptions, *, resolution: int, channels: int, latent_dim: int
) -> GAN:
    """mask2image for (image, mask) pairs (``channels`` must be 2); ``latent_dim`` is unused: G's
    input is one mask, and the GAN's ``latent_dim`` records its size, R²."""
    if channels != 2:
        raise ValueError(
            f"mask2image learns (image, mask) pairs: channels must be 2, got {channels}"
        )
    o = options
    if resolution >> o.d_layers < 4:
        raise ValueError(
            f"d_layers={o.d_layers} halves {resolution}² below 4²: at most "
            f"{log2_resolution(resolution) - 2} at this resolution"
        )
    return GAN(
        name="mask2image",
        generator=Mask2ImageGenerator(
            resolution, width=o.g_width, max_width=o.max_width, depth=o.g_depth,
            dropout=o.dropout, dropout_layers=o.dropout_layers,
        ),
        discriminator=PatchDiscriminator(
            channels, width=o.d_width, max_width=o.max_width, layers=o.d_layers
        ),
        objective=Pix2PixLoss(l1_lambda=o.l1_lambda, augment=DiffAugment(o.diffaugment)),
        latent_dim=resolution * resolution,
        g_optimizer=adam_settings(o.g_lr, o.g_betas),
        d_optimizer=adam_settings(o.d_lr, o.d_betas),
        ema_decay=ema_setting(o.ema_decay),
    )  # fmt: skip
