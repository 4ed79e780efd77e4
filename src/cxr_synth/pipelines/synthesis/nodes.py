"""Synthesis glue: a trained generator's weights and spec in, uint8 synthetic images out.

Rebuilding and seeded sampling live in ``cxr_synth.sampling``; here the images are arranged
for the catalog (array, PNG partitions, the grid figure).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from PIL import Image

from cxr_synth.pipelines.synthesis.params import SynthesisParams
from cxr_synth.sampling import sample_images
from cxr_synth.splits import rows_in_splits, seeded_subset


def generate_images(
    state_dict: Mapping[str, torch.Tensor], spec: Mapping[str, Any], synthesis: SynthesisParams
) -> np.ndarray:
    """``synthesis.n_images`` synthetic images, uint8 (N, H, W), seeded (``cxr_synth.sampling``)."""
    samples = sample_images(
        state_dict,
        spec,
        n_images=synthesis.n_images,
        batch_size=synthesis.batch_size,
        seed=synthesis.seed,
        device=synthesis.device,
        truncation_psi=synthesis.truncation_psi,
    )
    return np.ascontiguousarray(samples[:, 0])


def write_synthetic_pngs(images: np.ndarray) -> dict[str, Callable[[], Image.Image]]:
    """One lazily built grayscale PNG per image, named ``synthetic_00000`` ... (no patient ids)."""
    width = max(5, len(str(len(images) - 1)))
    return {
        f"synthetic_{i:0{width}d}": (lambda i=i: Image.fromarray(np.asarray(images[i]), mode="L"))
        for i in range(len(images))
    }


def plot_synthesis_grid(
    real_images: np.ndarray,
    index: pd.DataFrame,
    synthesis: SynthesisParams,
    **synthetic: np.ndarray,
) -> Figure:
    """Real test images in the first row, then one row per architecture (the paper's Figure 5).

    ``synthetic`` maps each architecture's name to its uint8 (N, H, W) images; the first
    ``grid.n_columns`` of each are shown, real ones are a seeded draw from ``grid.real_splits``.
    """
    grid = synthesis.grid
    n_columns = grid.n_columns
    rows = rows_in_splits(index, grid.real_splits, "synthesis grid (synthesis.grid.real_splits)")
    chosen = seeded_subset(rows, n_columns, grid.seed)
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
