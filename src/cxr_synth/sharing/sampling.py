"""Sampling trained generators: rebuild one from its weights and spec, draw seeded images.

Library code (no Kedro): the synthesis and segmentation pipelines and notebooks share it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cxr_synth.metrics.features import to_uint8_images
from cxr_synth.models.mask2image import masks_to_condition
from cxr_synth.models.registry import build_gan
from cxr_synth.runtime.devices import resolve_device
from cxr_synth.training.util import isolated_rng

logger = logging.getLogger(__name__)


def rebuild_generator(state_dict: Mapping[str, torch.Tensor], spec: Mapping[str, Any]) -> nn.Module:
    """The generator described by ``spec`` (``<arch>.generator_spec``) with ``state_dict`` loaded."""
    gan = build_gan(
        spec["architecture"],
        resolution=int(spec["resolution"]),
        channels=int(spec.get("channels", 1)),
        latent_dim=int(spec["latent_dim"]),
        **dict(spec.get("options") or {}),
    )
    gan.generator.load_state_dict(state_dict)
    return gan.generator.eval()


def _accepts_truncation(generator: nn.Module) -> bool:
    return "truncation_psi" in inspect.signature(generator.forward).parameters


def sample_images(
    state_dict: Mapping[str, torch.Tensor],
    spec: Mapping[str, Any],
    *,
    n_images: int,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    truncation_psi: float = 1.0,
) -> np.ndarray:
    """``n_images`` samples, uint8 (N, C, H, W), reproducible from ``seed``.

    Noise is drawn on the CPU from one seeded stream, so the samples depend neither on the batch
    size nor on the device; ``truncation_psi`` applies to generators that take it (StyleGAN).
    """
    if n_images < 1 or batch_size < 1:
        raise ValueError(f"n_images and batch_size must be >= 1, got {n_images}, {batch_size}")
    where = resolve_device(device)
    generator = rebuild_generator(state_dict, spec).to(where)
    kwargs: dict[str, Any] = {}
    if _accepts_truncation(generator):
        kwargs["truncation_psi"] = float(truncation_psi)
    elif truncation_psi != 1.0:
        logger.info("%s has no truncation; truncation_psi=%s ignored", spec["architecture"],
                    truncation_psi)  # fmt: skip
    noise = torch.Generator().manual_seed(int(seed))
    size, latent = int(spec["resolution"]), int(spec["latent_dim"])
    samples = np.empty((n_images, int(spec.get("channels", 1)), size, size), np.uint8)
    with torch.no_grad():
        for start in tqdm(range(0, n_images, batch_size), desc=f"sampling {spec['architecture']}"):
            z = torch.randn(min(batch_size, n_images - start), latent, generator=noise)
            fake = generator(z.to(where), **kwargs).float().cpu()
            per_channel = fake.clamp(-1, 1).reshape(-1, 1, size, size)
            samples[start : start + len(z)] = to_uint8_images(per_channel).reshape(fake.shape).numpy()
    logger.info("%s: %d samples on %s", spec["architecture"], n_images, where)
    return samples


def sample_on_masks(
    state_dict: Mapping[str, torch.Tensor],
    spec: Mapping[str, Any],
    masks: np.ndarray,
    *,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
) -> np.ndarray:
    """One image per mask from a mask-conditioned generator (mask2image): uint8 (N, H, W),
    aligned with ``masks`` (N, H, W; foreground > 0).

    The generator's noise is its dropout, drawn from torch's RNG seeded with ``seed`` (the
    caller's RNG state is restored): reproducible for one seed, batch size and device.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    where, name = resolve_device(device), spec["architecture"]
    generator = rebuild_generator(state_dict, spec).to(where)
    conditions = masks_to_condition(masks)
    images = np.empty(np.shape(masks), np.uint8)
    with isolated_rng(seed), torch.no_grad():
        for start in tqdm(range(0, len(images), batch_size), desc=f"rendering {name}"):
            fake = generator(conditions[start : start + batch_size].to(where))[:, :1].float().cpu()
            images[start : start + len(fake)] = to_uint8_images(fake.clamp(-1, 1))[:, 0].numpy()
    logger.info("%s: %d images rendered on their masks on %s", name, len(images), where)
    return images
