"""Adversarial objectives and their regularisers (pure torch; see `base.Objective`).

Each objective returns ``(loss, logs)`` for one discriminator step and one generator step. It
applies its DiffAugment policy to every image D sees (real and fake, D and G steps) and adds its
penalties, so the training loop knows nothing about either. Scores are cast to float32 before the
loss, and the penalties run their own D forward in float32 with autocast off, so the loop may run
under ``torch.autocast`` (bf16 on CPU, fp16 on CUDA).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Augment = Callable[[torch.Tensor], torch.Tensor]
Logs = dict[str, torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _input_gradient(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """d(sum of D scores)/dx in float32 with autocast off, keeping the graph (create_graph=True)."""
    x = x.detach().float().requires_grad_(True)
    # The backward pass too: on CPU autograd runs it on this thread, where autocast would apply.
    with torch.autocast(device_type=x.device.type, enabled=False):
        scores = discriminator(x).float()
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """Gulrajani et al. 2017, eq. 3: E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates.

    x_hat = e * real + (1 - e) * fake with e ~ U[0, 1] drawn per sample. Unweighted (the objective
    multiplies by lambda); float32 whatever the caller's autocast.
    """
    real, fake = real.detach().float(), fake.detach().float()
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    grad = _input_gradient(discriminator, eps * real + (1.0 - eps) * fake)
    norm = (grad.square().sum(dim=1) + 1e-12).sqrt()  # eps keeps the norm differentiable at 0
    return (norm - 1.0).square().mean()


def r1_penalty(discriminator: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """Mescheder et al. 2018, eq. 9: E[||grad D(x)||_2^2] on real x (gamma/2 is applied outside)."""
    return _input_gradient(discriminator, real).square().sum(dim=1).mean()


def _check_r1(r1_gamma: float, r1_interval: int) -> None:
    if r1_gamma < 0:
        raise ValueError(f"r1_gamma must be >= 0, got {r1_gamma}")
    if r1_interval < 1:
        raise ValueError(f"r1_interval must be >= 1, got {r1_interval}")


class NonSaturating:
    """Non-saturating logistic GAN loss (Goodfellow et al. 2014, §3), computed on logits.

    D: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))); G: -log sigmoid(D(G(z))).
    ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016, §3.4): BCE against that
    target for real images only. ``r1_gamma`` > 0 adds gamma/2 * R1 (Mescheder et al. 2018) on the
    (augmented) real images, lazily: only when ``step % r1_interval == 0``, multiplied by
    ``r1_interval`` to keep its strength (Karras et al. 2020, §3.1). ``step`` is the number of D
    steps taken before this one (0, 1, 2, ...), counted over every D step including n_critic ones.
    """

    def __init__(
        self,
        *,
        augment: Augment | None = None,
        real_label: float = 1.0,
        r1_gamma: float = 0.0,
        r1_interval: int = 1,
    ) -> None:
        if not 0.5 <= real_label <= 1.0:
            raise ValueError(f"real_label must be in [0.5, 1], got {real_label}")
        _check_r1(r1_gamma, r1_interval)
        self.augment = augment or _identity
        self.real_label = real_label
        self.r1_gamma = r1_gamma
        self.r1_interval = r1_interval

    @property
    def needs_double_backward(self) -> bool:
        """R1 differentiates an input gradient (``create_graph=True``): no ``torch.compile`` of D."""
        return self.r1_gamma > 0

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, Logs]:
        real = self.augment(real)
        d_real = discriminator(real).float()
        d_fake = discriminator(self.augment(fake.detach())).float()
        target = torch.full_like(d_real, self.real_label)
        loss = F.binary_cross_entropy_with_logits(d_real, target) + F.softplus(d_fake).mean()
        logs = {"d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        if self.r1_gamma > 0 and step % self.r1_interval == 0:
            r1 = r1_penalty(discriminator, real)
            loss = loss + (0.5 * self.r1_gamma * self.r1_interval) * r1
            logs["r1"] = r1.detach()
        logs["d_loss"] = loss.detach()
        return loss, logs

    def generator_loss(
        self, discriminator: nn.Module, fake: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        d_fake = discriminator(self.augment(fake)).float()
        loss = F.softplus(-d_fake).mean()
        return loss, {"g_loss": loss.detach(), "d_fake_g": d_fake.detach().mean()}


class LeastSquares:
    """Least-squares GAN loss (Mao et al. 2017, eq. 2), a=0 (fake), b=1 (real), c=1 (G's target).

    D: 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2];  G: 1/2 E[(D(G(z)) - c)^2].
    """

    def __init__(
        self, *, augment: Augment | None = None, a: float = 0.0, b: float = 1.0, c: float = 1.0
    ) -> None:
        self.augment = augment or _identity
        self.a, self.b, self.c = a, b, c
        self.needs_double_backward = False

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, Logs]:
        d_real = discriminator(self.augment(real)).float()
        d_fake = discriminator(self.augment(fake.detach())).float()
        loss = 0.5 * ((d_real - self.b).square().mean() + (d_fake - self.a).square().mean())
        return loss, {
            "d_real": d_real.detach().mean(),
            "d_fake": d_fake.detach().mean(),
            "d_loss": loss.detach(),
        }

    def generator_loss(
        self, discriminator: nn.Module, fake: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        d_fake = discriminator(self.augment(fake)).float()
        loss = 0.5 * (d_fake - self.c).square().mean()
        return loss, {"g_loss": loss.detach(), "d_fake_g": d_fake.detach().mean()}


class WassersteinGP:
    """WGAN-GP (Gulrajani et al. 2017, Alg. 1): D: E[D(fake)] - E[D(real)] + lambda GP."""

    def __init__(self, *, augment: Augment | None = None, gp_lambda: float = 10.0) -> None:
        if gp_lambda < 0:
            raise ValueError(f"gp_lambda must be >= 0, got {gp_lambda}")
        self.augment = augment or _identity
        self.gp_lambda = gp_lambda

    @property
    def needs_double_backward(self) -> bool:
        """The gradient penalty differentiates an input gradient: no ``torch.compile`` of D."""
        return self.gp_lambda > 0

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, Logs]:
        real, fake = self.augment(real), self.augment(fake.detach())
        d_real = discriminator(real).float()
        d_fake = discriminator(fake).float()
        wasserstein = d_real.mean() - d_fake.mean()  # the critic's estimate of W(P_real, P_fake)
        gp = gradient_penalty(discriminator, real, fake)
        loss = -wasserstein + self.gp_lambda * gp
        return loss, {
            "d_real": d_real.detach().mean(),
            "d_fake": d_fake.detach().mean(),
            "wasserstein": wasserstein.detach(),
            "gp": gp.detach(),
            "d_loss": loss.detach(),
        }

    def generator_loss(
        self, discriminator: nn.Module, fake: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        d_fake = discriminator(self.augment(fake)).float()
        loss = -d_fake.mean()
        return loss, {"g_loss": loss.detach(), "d_fake_g": d_fake.detach().mean()}


class NonSaturatingR1(NonSaturating):
    """StyleGAN2's objective (Karras et al. 2020): non-saturating loss + lazy R1 every 16 steps."""

    def __init__(
        self,
        *,
        augment: Augment | None = None,
        r1_gamma: float = 10.0,
        r1_interval: int = 16,
        real_label: float = 1.0,
    ) -> None:
        super().__init__(
            augment=augment, real_label=real_label, r1_gamma=r1_gamma, r1_interval=r1_interval
        )
