"""DCGAN (Radford et al. 2016) networks, and the three GANs built on them: dcgan, lsgan, wgan_gp.

Widths follow one convention across the zoo: ``g_width`` / ``d_width`` are the channels of the
finest hidden feature map (here side R/2: G's last hidden layer, D's first), doubling at every
halving of the side, capped at ``max_width``. At 64x64 with width 64 that is the paper's
512-256-128-64 (ngf, ndf).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from .base import GAN, Objective
from .layers import adam_settings, channels_at, ema_setting, init_dcgan_weights, log2_resolution
from .losses import LeastSquares, NonSaturating, WassersteinGP

D_NORMS = ("batch", "layer", "instance", "none")


def _activation(negative_slope: float) -> nn.Module:
    return (
        nn.ReLU(inplace=True) if negative_slope == 0 else nn.LeakyReLU(negative_slope, inplace=True)
    )


def _norm(kind: str, num_channels: int) -> nn.Module | None:
    """Normalisation after a D conv; "layer" is GroupNorm(1, C), i.e. LayerNorm over (C, H, W)."""
    if kind not in D_NORMS:
        raise ValueError(f"d_norm must be one of {D_NORMS}, got {kind!r}")
    return {
        "batch": lambda: nn.BatchNorm2d(num_channels),
        "layer": lambda: nn.GroupNorm(1, num_channels),
        "instance": lambda: nn.InstanceNorm2d(num_channels, affine=True),
        "none": lambda: None,
    }[kind]()


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) -> image (B, C, R, R) in [-1, 1]: 4x4 projection, stride-2 deconvs.

    Each hidden layer is ConvTranspose -> BatchNorm -> ReLU (Radford et al. 2016, §3); with
    ``negative_slope`` > 0 the ReLU becomes LeakyReLU (the "proposed" variant). Output: tanh.
    """

    def __init__(
        self,
        latent_dim: int,
        channels: int,
        resolution: int,
        *,
        width: int = 64,
        max_width: int = 512,
        negative_slope: float = 0.0,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        sizes = [2**k for k in range(2, log2_resolution(resolution))]  # 4, 8, ..., R/2
        ch = [channels_at(s, resolution // 2, width, max_width) for s in sizes]
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, ch[0], 4, 1, 0, bias=False)]
        layers += [nn.BatchNorm2d(ch[0]), _activation(negative_slope)]
        for c_in, c_out in pairwise(ch):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]
            layers += [nn.BatchNorm2d(c_out), _activation(negative_slope)]
        layers += [nn.ConvTranspose2d(ch[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Image (B, C, R, R) -> logits (B,): stride-2 convs, LeakyReLU(0.2), a 4x4 conv to one score.

    No normalisation on the first layer (Radford et al. 2016, §3); ``norm`` on the others. Optional
    ``dropout`` after each activation and spectral normalisation of every conv (Miyato et al. 2018).
    """

    def __init__(
        self,
        channels: int,
        resolution: int,
        *,
        width: int = 64,
        max_width: int = 512,
        norm: str = "batch",
        dropout: float = 0.0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        sizes = [resolution // 2**k for k in range(1, log2_resolution(resolution) - 1)]  # R/2 ... 4
        ch = [channels_at(s, resolution // 2, width, max_width) for s in sizes]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(pairwise([channels, *ch])):
            norm_layer = _norm(norm, c_out) if i > 0 else None
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm_layer is None))
            layers += [norm_layer] if norm_layer is not None else []
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            layers += [nn.Dropout(dropout)] if dropout > 0 else []
        layers.append(nn.Conv2d(ch[-1], 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)
        if spectral_norm:
            for m in self.net:
                if isinstance(m, nn.Conv2d):
                    _spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0])


def _dcgan_family(
    name: str,
    objective: Objective,
    *,
    resolution: int,
    channels: int,
    latent_dim: int,
    g_width: int,
    d_width: int,
    max_width: int,
    g_lr: float,
    d_lr: float,
    g_betas: tuple[float, float],
    d_betas: tuple[float, float],
    ema_decay: float | None,
    d_norm: str = "batch",
    n_critic: int = 1,
) -> GAN:
    if n_critic < 1:
        raise ValueError(f"n_critic must be >= 1, got {n_critic}")
    return GAN(
        name=name,
        generator=DCGANGenerator(
            latent_dim, channels, resolution, width=g_width, max_width=max_width
        ),
        discriminator=DCGANDiscriminator(
            channels, resolution, width=d_width, max_width=max_width, norm=d_norm
        ),
        objective=objective,
        latent_dim=latent_dim,
        g_optimizer=adam_settings(g_lr, g_betas),
        d_optimizer=adam_settings(d_lr, d_betas),
        n_critic=n_critic,
        ema_decay=ema_setting(ema_decay),
    )


def build_dcgan(
    *,
    resolution: int = 128,
    channels: int = 1,
    latent_dim: int = 100,
    g_width: int = 64,
    d_width: int = 64,
    max_width: int = 512,
    g_lr: float = 2e-4,
    d_lr: float = 2e-4,
    g_betas: tuple[float, float] = (0.5, 0.999),
    d_betas: tuple[float, float] = (0.5, 0.999),
    ema_decay: float | None = None,
) -> GAN:
    """DCGAN (Radford et al. 2016) with the non-saturating BCE-with-logits loss.

    Options: ``g_width``/``d_width`` (64) full-resolution channels, doubling per halving up to
    ``max_width`` (512; the paper's 128x128 would need 1024 at 4x4); Adam ``g_lr``/``d_lr`` (2e-4),
    ``g_betas``/``d_betas`` ((0.5, 0.999)) as in the paper; ``ema_decay`` (None: off).
    """
    return _dcgan_family(
        "dcgan",
        NonSaturating(),
        resolution=resolution,
        channels=channels,
        latent_dim=latent_dim,
        g_width=g_width,
        d_width=d_width,
        max_width=max_width,
        g_lr=g_lr,
        d_lr=d_lr,
        g_betas=g_betas,
        d_betas=d_betas,
        ema_decay=ema_decay,
    )


def build_lsgan(
    *,
    resolution: int = 128,
    channels: int = 1,
    latent_dim: int = 100,
    g_width: int = 64,
    d_width: int = 64,
    max_width: int = 512,
    g_lr: float = 2e-4,
    d_lr: float = 2e-4,
    g_betas: tuple[float, float] = (0.5, 0.999),
    d_betas: tuple[float, float] = (0.5, 0.999),
    ema_decay: float | None = None,
) -> GAN:
    """LSGAN (Mao et al. 2017): the DCGAN networks with the least-squares loss, a=0, b=1, c=1.

    Options as for dcgan: ``g_width``/``d_width`` (64), ``max_width`` (512), ``g_lr``/``d_lr``
    (2e-4), ``g_betas``/``d_betas`` ((0.5, 0.999)), ``ema_decay`` (None: off).
    """
    return _dcgan_family(
        "lsgan",
        LeastSquares(),
        resolution=resolution,
        channels=channels,
        latent_dim=latent_dim,
        g_width=g_width,
        d_width=d_width,
        max_width=max_width,
        g_lr=g_lr,
        d_lr=d_lr,
        g_betas=g_betas,
        d_betas=d_betas,
        ema_decay=ema_decay,
    )


def build_wgan_gp(
    *,
    resolution: int = 128,
    channels: int = 1,
    latent_dim: int = 100,
    g_width: int = 64,
    d_width: int = 64,
    max_width: int = 512,
    d_norm: str = "layer",
    gp_lambda: float = 10.0,
    n_critic: int = 5,
    g_lr: float = 1e-4,
    d_lr: float = 1e-4,
    g_betas: tuple[float, float] = (0.0, 0.9),
    d_betas: tuple[float, float] = (0.0, 0.9),
    ema_decay: float | None = None,
) -> GAN:
    """WGAN-GP (Gulrajani et al. 2017): DCGAN networks, critic without BatchNorm, gradient penalty.

    The penalty constrains each sample's input gradient, but BatchNorm makes a sample's score depend
    on the rest of the batch, so the penalised gradient is not the per-sample one (paper, §4).
    ``d_norm`` ("layer", default) uses layer normalisation, the paper's recommended drop-in;
    "instance" or "none" also work; "batch" is rejected. Other options: ``gp_lambda`` (10),
    ``n_critic`` (5) critic steps per G step, Adam ``g_lr``/``d_lr`` (1e-4), ``g_betas``/``d_betas``
    ((0.0, 0.9)) as in the paper's Algorithm 1, ``g_width``/``d_width`` (64), ``max_width`` (512),
    ``ema_decay`` (None: off).
    """
    if d_norm == "batch":
        raise ValueError(
            f"wgan_gp's critic cannot use BatchNorm; d_norm must be one of {D_NORMS[1:]}"
        )
    return _dcgan_family(
        "wgan_gp",
        WassersteinGP(gp_lambda=gp_lambda),
        resolution=resolution,
        channels=channels,
        latent_dim=latent_dim,
        g_width=g_width,
        d_width=d_width,
        max_width=max_width,
        g_lr=g_lr,
        d_lr=d_lr,
        g_betas=g_betas,
        d_betas=d_betas,
        ema_decay=ema_decay,
        d_norm=d_norm,
        n_critic=n_critic,
    )
