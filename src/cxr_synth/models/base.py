"""What every GAN in the zoo provides to the (architecture-agnostic) training loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn


class Objective(Protocol):
    """An adversarial objective: losses for one discriminator step and one generator step.

    Both return ``(loss, logs)``: the scalar to back-propagate and detached scalars to log
    (e.g. ``{"d_real": ..., "gp": ...}``). Regularisers (gradient penalty, lazy R1) and
    differentiable augmentation live here, so the loop knows nothing about them.

    An objective whose D loss differentiates an input gradient (gradient penalty, R1) says so
    with ``needs_double_backward = True`` (optional; absent means False): the loop then refuses
    to ``torch.compile`` D and keeps D's BatchNorm per process (neither supports double backward).
    """

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def generator_loss(
        self, discriminator: nn.Module, fake: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class SingleNetworkObjective(Protocol):
    """The loss of a model without a discriminator (e.g. a diffusion model's denoising loss):
    one generator step per batch of real images, ``(loss, logs)`` as above.

    ``generator`` is the network's training view (DDP-wrapped, compiled): call it, not
    ``generator.module``, so that its gradients are all-reduced across processes. Draw noise
    with ``torch`` (the loop seeds it, checkpoints its state and restores it on resume).
    """

    def generator_loss(
        self, generator: nn.Module, real: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class ConditionalObjective(Protocol):
    """A conditional adversarial objective (pix2pix, Isola et al. 2017): G maps a condition taken
    from the real batch (e.g. its mask channel) instead of noise, and its loss also sees the real
    batch (e.g. an L1 term). The D loss is :class:`Objective`'s; ``fake`` is ``G(condition)``."""

    def condition(self, real: torch.Tensor) -> torch.Tensor: ...

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...

    def generator_loss(
        self, discriminator: nn.Module, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


@dataclass
class GAN:
    """A built architecture: networks, objective and the optimiser settings its paper uses.

    ``generator(z)`` maps ``z`` of shape (B, latent_dim) to images (B, C, R, R) in [-1, 1];
    ``discriminator(x)`` maps images to one score per sample, shape (B,) (or one per patch,
    (B, P)). A single-network model has ``discriminator=None`` and a
    :class:`SingleNetworkObjective` (``d_optimizer`` and ``n_critic`` are then unused). A
    conditional model has a :class:`ConditionalObjective`: ``generator(condition)`` instead of
    ``generator(z)``, and ``latent_dim`` is the size of one condition.
    """

    name: str
    generator: nn.Module
    discriminator: nn.Module | None
    objective: Objective | SingleNetworkObjective | ConditionalObjective
    latent_dim: int = 100
    g_optimizer: dict = field(default_factory=lambda: {"lr": 2e-4, "betas": (0.5, 0.999)})
    d_optimizer: dict = field(default_factory=lambda: {"lr": 2e-4, "betas": (0.5, 0.999)})
    n_critic: int = 1  # discriminator steps per generator step
    ema_decay: float | None = None  # None: no EMA of the generator's weights
    # How it was built (``build_gan`` fills it: resolution, channels, latent_dim and every
    # architecture option, defaults included); checkpoints record it so that a resume with a
    # different model is refused by name. Empty for GANs assembled by hand.
    options: dict = field(default_factory=dict)


# Options that only set optimiser hyperparameters (every builder's names): a resumed run may
# change them; the loop then applies the new ``g_optimizer``/``d_optimizer`` settings.
RESUMABLE_OPTIONS = frozenset({"g_lr", "d_lr", "g_betas", "d_betas"})


def needs_double_backward(objective: object) -> bool:
    """Whether ``objective``'s D loss back-propagates through an input gradient."""
    return bool(getattr(objective, "needs_double_backward", False))


def is_conditional(objective: object) -> bool:
    """Whether ``objective`` is a :class:`ConditionalObjective` (it takes G's input from the batch)."""
    return callable(getattr(objective, "condition", None))
