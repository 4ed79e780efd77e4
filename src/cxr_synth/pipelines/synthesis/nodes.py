"""Synthesis glue: a trained generator's weights and spec in, uint8 synthetic images out.

The networks come from ``cxr_synth.models`` (rebuilt from the spec the training pipeline wrote);
the only work here is seeded sampling in batches and arranging images for the catalog.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from cxr_synth.metrics.features import to_uint8_images
from cxr_synth.models.registry import build_gan
from cxr_synth.training.devices import resolve_device

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


def sample_generator(
    state_dict: Mapping[str, torch.Tensor], spec: Mapping[str, Any], synthesis: Mapping[str, Any]
) -> np.ndarray:
    """Sample ``synthesis.n_images`` items, uint8 (N, C, H, W), reproducibly from ``synthesis.seed``.

    Noise is drawn on the CPU from one seeded stream (so the samples do not depend on the batch
    size or the device); ``synthesis.truncation_psi`` applies to generators that take it (StyleGAN).
    """
    n_images, batch_size = int(synthesis["n_images"]), int(synthesis["batch_size"])
    if n_images < 1 or batch_size < 1:
        raise ValueError(
            f"synthesis.n_images and batch_size must be >= 1, got {n_images}, {batch_size}"
        )
    device = resolve_device(synthesis.get("device", "auto"))
    generator = rebuild_generator(state_dict, spec).to(device)
    kwargs: dict[str, Any] = {}
    psi = float(synthesis.get("truncation_psi", 1.0))
    if _accepts_truncation(generator):
        kwargs["truncation_psi"] = psi
    elif psi != 1.0:
        logger.info("%s has no truncation; truncation_psi=%s ignored", spec["architecture"], psi)
    noise = torch.Generator().manual_seed(int(synthesis["seed"]))
    size = int(spec["resolution"])
    samples = np.empty((n_images, int(spec.get("channels", 1)), size, size), np.uint8)
    with torch.no_grad():
        for start in tqdm(range(0, n_images, batch_size), desc=f"sampling {spec['architecture']}"):
            z = torch.randn(
                min(batch_size, n_images - start), int(spec["latent_dim"]), generator=noise
            )
            fake = generator(z.to(device), **kwargs).float().cpu()
            per_channel = fake.clamp(-1, 1).reshape(-1, 1, size, size)
            samples[start : start + len(z)] = (
                to_uint8_images(per_channel).reshape(fake.shape).numpy()
            )
    logger.info("%s: %d samples on %s", spec["architecture"], n_images, device)
    return samples


def generate_images(
    state_dict: Mapping[str, torch.Tensor], spec: Mapping[str, Any], synthesis: Mapping[str, Any]
) -> np.ndarray:
    """Synthetic images, uint8 (N, H, W): the image channel of ``sample_generator``."""
    return np.ascontiguousarray(sample_generator(state_dict, spec, synthesis)[:, 0])


def to_png_partitions(images: np.ndarray) -> dict[str, Callable[[], Image.Image]]:
    """One lazily built grayscale PNG per image, named ``synthetic_00000`` ... (no patient ids)."""
    width = max(5, len(str(len(images) - 1)))
    return {
        f"synthetic_{i:0{width}d}": (lambda i=i: Image.fromarray(np.asarray(images[i]), mode="L"))
        for i in range(len(images))
    }


def plot_synthesis_grid(
    real_images: np.ndarray, index: pd.DataFrame, grid: Mapping[str, Any], **synthetic: np.ndarray
) -> Figure:
    """Real test images in the first row, then one row per architecture (the paper's Figure 5).

    ``synthetic`` maps each architecture's name to its uint8 (N, H, W) images; the first
    ``grid.n_columns`` of each are shown, real ones are a seeded draw from ``grid.real_splits``.
    """
    n_columns = int(grid["n_columns"])
    rows = index.loc[index["split"].isin(list(grid["real_splits"])), "row"].to_numpy()
    if rows.size == 0:
        raise ValueError(f"no real image in the splits {list(grid['real_splits'])} for the grid")
    rng = np.random.default_rng(int(grid["seed"]))
    chosen = np.sort(rng.choice(rows, size=min(n_columns, rows.size), replace=False))
    panels = {"real": np.asarray(real_images[chosen])}
    panels.update({name: np.asarray(images[:n_columns]) for name, images in synthetic.items()})

    figure = Figure(figsize=(1.2 * n_columns + 1.2, 1.2 * len(panels)))
    axes = figure.subplots(len(panels), n_columns, squeeze=False)
    for row, (name, images) in enumerate(panels.items()):
        for column in range(n_columns):
            axis = axes[row, column]
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if column < len(images):
                axis.imshow(images[column], cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    figure.suptitle("Real (test split) and synthetic chest X-rays")
    figure.tight_layout()
    return figure
