"""The proposed GAN: the paper's modified DCGAN plus switchable stabilisers for small datasets.

Every stabiliser is one option, so an ablation is a parameters file: ``spectral_norm: false``,
``diffaugment: ""``, ``ema_decay: null``, ``label_smoothing: 0.0``, ``dropout: 0.0``,
``r1_gamma: 0.0``.
"""

from __future__ import annotations

from .augment import DiffAugment
from .base import GAN
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .layers import adam_settings, ema_setting
from .losses import NonSaturating


def build_proposed(
    *,
    resolution: int = 128,
    channels: int = 1,
    latent_dim: int = 100,
    g_width: int = 64,
    d_width: int = 64,
    max_width: int = 512,
    negative_slope: float = 0.2,
    dropout: float = 0.3,
    d_norm: str = "none",
    spectral_norm: bool = True,
    diffaugment: str = "color,translation,cutout",
    label_smoothing: float = 0.1,
    ema_decay: float | None = 0.999,
    r1_gamma: float = 0.0,
    r1_interval: int = 16,
    g_lr: float = 2e-4,
    d_lr: float = 2e-4,
    g_betas: tuple[float, float] = (0.5, 0.999),
    d_betas: tuple[float, float] = (0.5, 0.999),
) -> GAN:
    """Modified DCGAN with non-saturating loss and stabilisers, each documented with its source.

    Networks (the paper's modification of Radford et al. 2016):
      * G: ConvTranspose -> BatchNorm -> LeakyReLU(``negative_slope``=0.2), not ReLU; tanh output.
      * D: Conv -> LeakyReLU(0.2) -> Dropout(``dropout``=0.3). ``d_norm`` ("none"; or "batch",
        "layer", "instance") adds a normalisation after every conv but the first. Default "none":
        spectral norm already controls D's scale, and BatchNorm would mix samples inside the R1
        penalty.
      * widths: ``g_width``/``d_width`` (64) channels at side R/2, doubling per halving up to
        ``max_width`` (512), as for dcgan.

    Stabilisers (default on unless said):
      * ``spectral_norm`` (True): every D conv divided by its largest singular value, one power
        iteration per step (Miyato et al. 2018, "Spectral Normalization for GANs").
      * ``diffaugment`` ("color,translation,cutout"): DiffAugment (Zhao et al. 2020) on real and
        fake before D in both steps; "color" = brightness + contrast (no saturation for grayscale);
        "" turns it off. Names: brightness, contrast, color, translation, cutout.
      * ``label_smoothing`` (0.1): one-sided, real target 1 - 0.1 = 0.9, fakes stay 0 (Salimans et
        al. 2016, §3.4); 0.0 turns it off.
      * ``ema_decay`` (0.999): exponential moving average of G's weights for sampling (Yazıcı et al.
        2019; Karras et al. 2018); the training loop keeps the average; null or 0 turns it off.
      * ``r1_gamma`` (0.0 = off): R1 penalty gamma/2 E||grad D(real)||^2 (Mescheder et al. 2018),
        lazy every ``r1_interval`` (16) D steps (Karras et al. 2020). Off by default: spectral norm
        already bounds D's Lipschitz constant, and R1 adds a double-backward pass; switch on for an
        ablation.

    Adam ``g_lr``/``d_lr`` (2e-4), ``g_betas``/``d_betas`` ((0.5, 0.999)) as for dcgan.
    """
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    if negative_slope < 0:
        raise ValueError(f"negative_slope must be >= 0, got {negative_slope}")
    objective = NonSaturating(
        augment=DiffAugment(diffaugment),
        real_label=1.0 - label_smoothing,
        r1_gamma=r1_gamma,
        r1_interval=r1_interval,
    )
    return GAN(
        name="proposed",
        generator=DCGANGenerator(
            latent_dim,
            channels,
            resolution,
            width=g_width,
            max_width=max_width,
            negative_slope=negative_slope,
        ),
        discriminator=DCGANDiscriminator(
            channels,
            resolution,
            width=d_width,
            max_width=max_width,
            norm=d_norm,
            dropout=dropout,
            spectral_norm=spectral_norm,
        ),
        objective=objective,
        latent_dim=latent_dim,
        g_optimizer=adam_settings(g_lr, g_betas),
        d_optimizer=adam_settings(d_lr, d_betas),
        n_critic=1,
        ema_decay=ema_setting(ema_decay),
    )
