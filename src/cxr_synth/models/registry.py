"""The zoo by name: ``build_gan("proposed", resolution=128, **options)`` -> `GAN`.

One table maps each architecture to its builder and its options model
(``cxr_synth.models.options``): the model validates YAML options (unknown keys with the
closest valid one, types, ranges), the builder turns them into networks and a loss. The table
imports no torch (the pipelines and the parameter models read it): a builder's module is
imported on its first build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from cxr_synth.runtime.schema import StrictModel

from .options import (
    DCGANOptions,
    DDPMOptions,
    LSGANOptions,
    Mask2ImageOptions,
    ProposedOptions,
    ProposedTunedOptions,
    StyleGANOptions,
    WGANGPOptions,
)

if TYPE_CHECKING:
    from .base import GAN


def _builder(module: str, function: str, *args: str) -> Callable[..., GAN]:
    """``cxr_synth.models.<module>.<function>`` with ``args`` first, imported when called."""

    def build(*more: Any, **kwargs: Any) -> GAN:
        return getattr(import_module(f"{__package__}.{module}"), function)(*args, *more, **kwargs)

    return build


@dataclass(frozen=True)
class Architecture:
    """How to build one architecture: ``build(options, resolution=, channels=, latent_dim=)``.

    ``conditional``: G maps a condition taken from the real batch (a lung mask) rather than
    noise (``base.ConditionalObjective``); such a model learns only from (image, mask) pairs.
    """

    build: Callable[..., GAN]
    options: type[StrictModel]
    conditional: bool = False


REGISTRY: dict[str, Architecture] = {
    "dcgan": Architecture(_builder("dcgan", "build_dcgan_family", "dcgan"), DCGANOptions),
    "lsgan": Architecture(_builder("dcgan", "build_dcgan_family", "lsgan"), LSGANOptions),
    "wgan_gp": Architecture(_builder("dcgan", "build_dcgan_family", "wgan_gp"), WGANGPOptions),
    "stylegan": Architecture(_builder("stylegan", "build_stylegan"), StyleGANOptions),
    "proposed": Architecture(_builder("dcgan", "build_dcgan_family", "proposed"), ProposedOptions),
    "proposed_tuned": Architecture(
        _builder("dcgan", "build_dcgan_family", "proposed_tuned"), ProposedTunedOptions
    ),
    "ddpm": Architecture(_builder("diffusion", "build_ddpm"), DDPMOptions),
    "mask2image": Architecture(
        _builder("mask2image", "build_mask2image"), Mask2ImageOptions, conditional=True
    ),
}
# the unconditional models, which every pipeline iterates in this order; the conditional ones
# (a mask in, an image out) are segmentation methods only (pipelines/segmentation)
ARCHITECTURES: tuple[str, ...] = tuple(n for n, a in REGISTRY.items() if not a.conditional)
CONDITIONAL_ARCHITECTURES: tuple[str, ...] = tuple(n for n, a in REGISTRY.items() if a.conditional)


def architecture(name: str) -> Architecture:
    if name not in REGISTRY:
        raise ValueError(f"unknown GAN architecture {name!r}; valid: {list(REGISTRY)}")
    return REGISTRY[name]


def architecture_options(name: str) -> dict[str, Any]:
    """The options one architecture accepts, with their defaults (see ``models/options.py``)."""
    return architecture(name).options().to_dict()


def parse_options(name: str, options: Any = None, prefix: str = "options") -> StrictModel:
    """``options`` (a dict from YAML, or already a model) validated for architecture ``name``."""
    return architecture(name).options.parse(options, prefix=prefix)


def _positive_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive int, got {value!r}")
    return value


def build_gan(
    name: str,
    *,
    resolution: int = 128,
    channels: int = 1,
    latent_dim: int = 100,
    seed: int | None = None,
    **options: object,
) -> GAN:
    """Build GAN ``name`` (a key of `REGISTRY`) for ``channels`` x R x R images, R = resolution.

    ``options`` are the architecture's own (its options model); ``seed`` makes the weights
    reproducible without touching the global RNG.
    """
    import torch

    spec = architecture(name)
    parsed = spec.options.parse(options, prefix=f"{name}.options")
    shape = {
        "resolution": _positive_int("resolution", resolution),
        "channels": _positive_int("channels", channels),
        "latent_dim": _positive_int("latent_dim", latent_dim),
    }
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        gan = spec.build(parsed, **shape)
    shape["latent_dim"] = gan.latent_dim  # ddpm's is its noise, C·R²; mask2image's its mask, R²
    gan.options = {**parsed.to_dict(), **shape}  # the full description, defaults too
    return gan
