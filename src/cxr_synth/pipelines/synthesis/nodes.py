"""Synthesis glue: a trained generator (the catalog's, or an MLflow model) in, uint8 synthetic
images and the generator as an MLflow model out.

Loading, sampling and the MLflow model live in ``cxr_synth.sharing`` (``.pyfunc``: the MLflow
model); here the images are arranged for the catalog (array, PNG partitions, the grid figure).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from cxr_synth.data.splits import rows_in_splits, seeded_subset
from cxr_synth.pipelines.node_types import Figure, Generator, ModelRelease, Tensor
from cxr_synth.pipelines.synthesis.params import SynthesisParams
from cxr_synth.pipelines.training.params import TrainingParams
from cxr_synth.runtime.errors import UserError

# torch (cxr_synth.sharing), mlflow (cxr_synth.sharing.pyfunc) and matplotlib are imported in
# the nodes that use them: building the pipelines stays light (cxr_synth.pipelines.node_types).


def select_generator(
    state_dict: Mapping[str, Tensor] | None,
    spec: Mapping[str, Any] | None,
    index: pd.DataFrame,
    training: TrainingParams,
    synthesis: SynthesisParams,
    *,
    architecture: str,
) -> Generator:
    """The generator to sample: from ``synthesis.model_uri[architecture]`` when set, else the
    catalog's weights and spec, checked to belong together (with the counts of the images it
    learned from)."""
    from cxr_synth.sharing.generator import Generator, check_pair, training_data_summary
    from cxr_synth.sharing.sources import load_generator

    uri = synthesis.model_uri.get(architecture)
    if uri:
        generator = load_generator(uri)
        if generator.architecture != architecture:
            raise UserError(
                f"synthesis.model_uri.{architecture} = {uri} holds a "
                f"{generator.architecture} generator, not {architecture}"
            )
        return generator
    if state_dict is None or spec is None:
        raise UserError(
            f"no trained {architecture} generator in data/06_models/{architecture}/: run "
            f"`kedro run --pipelines train_{architecture}` first, or sample a logged one with "
            f"--params synthesis.model_uri.{architecture}=models:/<name>/<version>"
        )
    check_pair(state_dict, spec, f"data/06_models/{architecture}")
    summary = training_data_summary(index, training.data.splits)
    return Generator(state_dict, spec, {"training_data": summary}, {"source": "catalog"})


def generate_images(
    generator: Generator, synthesis: SynthesisParams
) -> tuple[np.ndarray, dict[str, Any]]:
    """``synthesis.n_images`` synthetic images, uint8 (N, H, W), seeded
    (``cxr_synth.sharing.sampling``), and what they cost: ``seconds``, ``images_per_s`` (wall
    clock of the sampling alone), the device and batch size — the price of a diffusion model's
    many steps, next to a GAN's one."""
    from cxr_synth.runtime.devices import resolve_device

    start = time.perf_counter()
    images = generator.sample(
        synthesis.n_images,
        synthesis.seed,
        truncation_psi=synthesis.truncation_psi,
        batch_size=synthesis.batch_size,
        device=synthesis.device,
    )
    seconds = time.perf_counter() - start
    cost = {
        "n_images": int(len(images)),
        "seconds": seconds,
        "images_per_s": len(images) / seconds if seconds > 0 else float("nan"),
        "device": str(resolve_device(synthesis.device)),
        "batch_size": synthesis.batch_size,
    }
    return images, cost


def log_generator_model(
    generator: Generator, synthesis: SynthesisParams
) -> tuple[ModelRelease, dict[str, Any]]:
    """The generator for the MLflow model dataset (registered as
    ``synthesis.registered_model_name`` unless it came from a model URI: it is registered
    already), and the synthesis record the dataset card reads: model, its runs, sampling."""
    from cxr_synth.sharing.pyfunc import ModelRelease, active_run_id, model_name

    arch = generator.architecture
    from_catalog = generator.origin.get("source") == "catalog"
    name = synthesis.registered_model_name
    registered = name.format(architecture=arch) if name and from_catalog else None
    run_id = active_run_id()
    record = {
        "architecture": arch,
        "source": dict(generator.origin),
        "mlflow_run_id": run_id,
        "mlflow_model_uri": f"runs:/{run_id}/{model_name(arch)}" if run_id else None,
        "registered_model_name": registered,
        "spec": dict(generator.spec),
        "training_data": generator.metadata.get("training_data"),
        "sampling": {
            "n_images": synthesis.n_images,
            "seed": synthesis.seed,
            "truncation_psi": synthesis.truncation_psi,
            "batch_size": synthesis.batch_size,
        },
    }
    return ModelRelease(generator, registered), record


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
    from matplotlib.figure import Figure

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
