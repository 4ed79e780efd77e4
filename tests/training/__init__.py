"""Tests of the training loop, with a tiny GAN that trains in milliseconds on a CPU.

The helpers live here (not in a conftest) so that the DDP test's spawned workers can import them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from cxr_synth.models.base import GAN

LATENT_DIM = 8


class TinyGenerator(nn.Module):
    """z (B, LATENT_DIM) -> (B, 1, 16, 16) in [-1, 1]; has BatchNorm, so buffers matter."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Linear(LATENT_DIM, width * 4 * 4)
        self.up1 = nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.up2 = nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1)
        self.last_dtype: torch.dtype | None = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, self.width, 4, 4)
        x = F.relu(self.bn(self.up1(x)))
        out = torch.tanh(self.up2(x))
        self.last_dtype = out.dtype
        return out


class TinyDiscriminator(nn.Module):
    """(B, 1, 16, 16) -> (B,) logits."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width, 4, stride=2, padding=1)
        self.fc = nn.Linear(width * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        return self.fc(x.flatten(1)).squeeze(1)


class NonSaturating:
    """The non-saturating GAN loss (Goodfellow et al. 2014), written with softplus."""

    def discriminator_loss(self, discriminator, real, fake, step):
        real_logits, fake_logits = discriminator(real), discriminator(fake)
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        return loss, {"d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}

    def generator_loss(self, discriminator, fake):
        return F.softplus(-discriminator(fake)).mean(), {}


class NaNAfter(NonSaturating):
    """Returns a NaN discriminator loss from global step ``first_bad_step`` (0-based) on."""

    def __init__(self, first_bad_step: int) -> None:
        self.first_bad_step = first_bad_step

    def discriminator_loss(self, discriminator, real, fake, step):
        loss, logs = super().discriminator_loss(discriminator, real, fake, step)
        if step >= self.first_bad_step:
            loss = loss * float("nan")
        return loss, logs


class MeanRegression:
    """A single-network objective: ``G(z)`` regressed onto the real batch (G learns the mean
    image), a stand-in for a denoising loss. Draws its noise from torch's global RNG."""

    def generator_loss(self, generator, real):
        z = torch.randn(len(real), LATENT_DIM, device=real.device)
        loss = F.mse_loss(generator(z), real)
        return loss, {"mse": loss.detach()}


class Blobs(Dataset):
    """``n`` deterministic 1x16x16 images in [-1, 1] (a bright disc at a random place)."""

    def __init__(self, n: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
        centres = torch.rand(n, 2, generator=g) * 10 + 3
        d2 = (yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2
        self.images = (torch.exp(-d2 / 8) * 2 - 1).unsqueeze(1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def make_tiny_gan(
    seed: int = 0, *, ema_decay: float | None = None, n_critic: int = 1, objective=None
) -> GAN:
    torch.manual_seed(seed)
    return GAN(
        name="tiny",
        generator=TinyGenerator(),
        discriminator=TinyDiscriminator(),
        objective=objective or NonSaturating(),
        latent_dim=LATENT_DIM,
        g_optimizer={"lr": 1e-3, "betas": [0.5, 0.999]},
        d_optimizer={"lr": 1e-3, "betas": [0.5, 0.999]},
        n_critic=n_critic,
        ema_decay=ema_decay,
    )


def make_tiny_single(seed: int = 0, *, ema_decay: float | None = None) -> GAN:
    """The tiny generator alone (no discriminator), trained by :class:`MeanRegression`."""
    torch.manual_seed(seed)
    return GAN(
        name="tiny_single",
        generator=TinyGenerator(),
        discriminator=None,
        objective=MeanRegression(),
        latent_dim=LATENT_DIM,
        g_optimizer={"lr": 1e-2, "betas": [0.9, 0.999]},
        ema_decay=ema_decay,
    )


def tiny_config(**overrides) -> dict:
    """2 steps per epoch on Blobs(16): batch 8, fp32, CPU, no workers."""
    params = {
        "epochs": 2,
        "batch_size": 8,
        "device": "cpu",
        "precision": "fp32",
        "seed": 0,
        "eval_every": 1,
        "log_every": 1,
        "grid_samples": 4,
    }
    params.update(overrides)
    return params


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
