"""DCGAN (Radford et al. 2016) networks, and the GANs built on them: dcgan, lsgan, wgan_gp, the
paper's proposed modified DCGAN and the project's proposed_tuned variant (one builder; their
options and defaults are in ``options.py``).

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

from .augment import DiffAugment
from .base import GAN, Objective
from .layers import adam_settings, channels_at, ema_setting, init_dcgan_weights, log2_resolution
from .losses import LeastSquares, NonSaturating, WassersteinGP
from .options import DCGANFamilyOptions

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
    ``negative_slope`` > 0 the ReLU becomes LeakyReLU (the paper's "proposed" modification). Output: tanh.
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


def _objective(name: str, options: DCGANFamilyOptions) -> Objective:
    """dcgan, proposed and proposed_tuned: non-saturating (+ label smoothing, lazy R1); lsgan: least squares;
    wgan_gp: Wasserstein + gradient penalty. DiffAugment wraps any of them."""
    augment = DiffAugment(options.diffaugment)
    if name == "lsgan":
        return LeastSquares(augment=augment)
    if name == "wgan_gp":
        return WassersteinGP(augment=augment, gp_lambda=options.gp_lambda)
    return NonSaturating(
        augment=augment,
        real_label=1.0 - options.label_smoothing,
        r1_gamma=options.r1_gamma,
        r1_interval=options.r1_interval,
    )


def build_dcgan_family(
    name: str, options: DCGANFamilyOptions, *, resolution: int, channels: int, latent_dim: int
) -> GAN:
    """dcgan (Radford et al. 2016), lsgan (Mao et al. 2017), wgan_gp (Gulrajani et al. 2017), the
    paper's proposed modified DCGAN and proposed_tuned: the same networks, each architecture's defaults and loss
    (``cxr_synth.models.options`` documents every option)."""
    o = options
    return GAN(
        name=name,
        generator=DCGANGenerator(
            latent_dim, channels, resolution, width=o.g_width, max_width=o.max_width,
            negative_slope=o.negative_slope,
        ),
        discriminator=DCGANDiscriminator(
            channels, resolution, width=o.d_width, max_width=o.max_width, norm=o.d_norm,
            dropout=o.dropout, spectral_norm=o.spectral_norm,
        ),
        objective=_objective(name, o),
        latent_dim=latent_dim,
        g_optimizer=adam_settings(o.g_lr, o.g_betas),
        d_optimizer=adam_settings(o.d_lr, o.d_betas),
        n_critic=o.n_critic,
        ema_decay=ema_setting(o.ema_decay),
    )  # fmt: skip
