"""Training glue: Kedro parameters and catalog data in, a trained generator and its records out.

The work happens in ``cxr_synth.models`` (the GANs) and ``cxr_synth.training`` (the driver that
builds a GAN, its data and FID, and the loop). The loop writes checkpoints and live MLflow metrics itself, from parameters, because a long job must
report along the way; everything else goes through the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from cxr_synth.data.splits import rows_in_splits, seeded_subset
from cxr_synth.data.tables import metric_records
from cxr_synth.pipelines.node_types import Figure, Module, Tensor
from cxr_synth.pipelines.training.params import LoopOverrides, ModelParams, TrainingParams
from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.rank import distributed_rank
from cxr_synth.training.loop_config import TrainConfig
from cxr_synth.training.tracking import child_run

# torch, matplotlib and the metrics and training code are imported in the nodes that use them:
# building the pipelines stays light (cxr_synth.pipelines.node_types).

logger = logging.getLogger(__name__)


def compute_fid_reference_stats(
    images: np.ndarray, index: pd.DataFrame, training: TrainingParams
) -> dict[str, np.ndarray]:
    """Feature statistics and features of a fixed, seeded subset of the real training images
    (computed once).

    Every architecture's periodic FID, precision and recall during training are measured against
    these. The feature network runs on ``training.evaluation.device``. Under torchrun only rank 0
    evaluates, so the other ranks return placeholder statistics (same keys, ``n = 0``, no
    features) without computing any feature.
    """
    from cxr_synth.metrics.features import (
        InceptionBackbone,
        RandomConvBackbone,
        backbone_label,
        build_backbone,
        extract_features,
    )
    from cxr_synth.metrics.fid import FeatureStats, stats_from_features
    from cxr_synth.runtime.devices import resolve_device

    evaluation = training.evaluation
    rank = distributed_rank()
    if rank > 0:
        label = backbone_label(evaluation.backbone, evaluation.inception_weights.path)
        dim = InceptionBackbone.num_features if label == "FID" else sum(RandomConvBackbone.WIDTHS)
        placeholder = FeatureStats(
            np.zeros(dim), np.zeros((dim, dim)), 0, f"not computed on rank {rank}"
        )
        return {**placeholder.to_dict(), "features": np.zeros((0, dim))}
    rows = rows_in_splits(index, training.data.splits, "FID reference (training.data.splits)")
    chosen = seeded_subset(rows, evaluation.n_real, evaluation.seed)
    backbone = build_backbone(
        evaluation.backbone,
        device=resolve_device(evaluation.device),
        **evaluation.backbone_kwargs(),
    )
    features = extract_features(backbone, np.asarray(images[chosen]), evaluation.batch_size)
    stats = stats_from_features(features, backbone.identifier, int(images.shape[-1]))
    logger.info("reference statistics: %d real images, backbone %s", stats.n, backbone.identifier)
    return {**stats.to_dict(), "features": features}


def train_config(architecture: str, loop: LoopOverrides, training: TrainingParams) -> TrainConfig:
    """``training.loop`` with this architecture's overrides; checkpoints under
    ``<checkpoint_root>/<architecture>`` unless the overrides say otherwise."""
    shared = training.loop.override(
        {"checkpoint_dir": f"{training.checkpoint_root}/{architecture}"}
    )
    return shared.override(loop, prefix=f"{architecture}.loop")


def train_generator(
    images: np.ndarray,
    index: pd.DataFrame,
    reference_stats: dict[str, np.ndarray],
    model: ModelParams,
    loop: LoopOverrides,
    training: TrainingParams,
    masks: np.ndarray | None = None,
    pretrained: Mapping[str, Tensor] | None = None,
    conditions: np.ndarray | None = None,
) -> tuple[Module, dict[str, Any], pd.DataFrame, dict[str, dict[str, float]], Image.Image]:
    """Train one architecture on the preprocessed images; return the best-FID generator
    (``cxr_synth.training.train_generator``, in an MLflow child run).

    ``model``: ``{architecture, options}`` (``cxr_synth.models.options``); ``loop``: this
    architecture's overrides of ``training.loop``; ``training``: the shared section.
    With ``masks`` (aligned with ``images``) the GAN learns 2-channel (image, mask) pairs; FID is
    measured on the image channel. With ``training.init_from_pretrained`` the generator starts
    from ``pretrained`` (e.g. the NIH-trained one) wherever the shapes agree. A mask-conditioned
    architecture (mask2image) renders ``conditions`` (masks) for its FID, and has no pretrained
    generator.
    """
    from cxr_synth.sharing.generator import DIGEST, weights_digest
    from cxr_synth.training.driver import train_generator as train

    architecture = model.architecture
    wants_pretrained = training.init_from_pretrained and masks is not None and conditions is None
    if wants_pretrained and pretrained is None:
        raise UserError(
            f"pair_training.init_from_pretrained is true but there is no NIH-trained {architecture} "
            f"generator ({architecture}_generator, data/06_models/{architecture}/generator.pt): run "
            f"`kedro run --pipelines train_{architecture}` first, or set it to false"
        )
    data = training.data
    result = train(
        images, rows_in_splits(index, data.splits, "training (training.data.splits)"),
        reference_stats, architecture, model.options, train_config(architecture, loop, training),
        training.evaluation, n_fake=training.evaluation.n_fake,
        rotation_degrees=data.rotation_degrees, horizontal_flip=data.horizontal_flip,
        masks=masks, pretrained=pretrained if training.init_from_pretrained else None,
        conditions=conditions, open_run=child_run,
    )  # fmt: skip
    spec = {**result.spec, DIGEST: weights_digest(result.generator.state_dict())}  # check_pair
    grid = Image.fromarray(result.samples) if result.samples is not None else Image.new("L", (8, 8))
    return result.generator, spec, result.history, metric_records(result.metrics), grid


def plot_loss_curves(history: pd.DataFrame, spec: Mapping[str, Any]) -> Figure:
    """Generator and discriminator losses per epoch (the paper's Figure 4); a single-network
    model (no ``d_loss``, e.g. ddpm) shows its one loss."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    single = "d_loss" not in history
    for column, label in (("g_loss", "loss" if single else "generator"), ("d_loss", "discriminator")):
        if column in history:
            axis.plot(history["epoch"], history[column], marker="o", markersize=3, label=label)
    axis.set(
        xlabel="epoch", ylabel="loss (epoch mean)", title=f"{spec['architecture']}: training losses"
    )
    axis.legend()
    figure.tight_layout()
    return figure


def plot_fid_curve(history: pd.DataFrame, spec: Mapping[str, Any]) -> Figure:
    """Fréchet distance per evaluation and the best epoch (the paper's Figure 9)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    label = spec["fid_label"]
    evaluated = history.dropna(subset=["fid"]) if "fid" in history else history.iloc[0:0]
    axis.plot(evaluated["epoch"], evaluated.get("fid", []), marker="o", label=label)
    if spec.get("best_fid") is not None:
        axis.axvline(
            spec["best_epoch"],
            color="grey",
            linestyle="--",
            label=f"best (epoch {spec['best_epoch']})",
        )
    axis.set(xlabel="epoch", ylabel=label, title=f"{spec['architecture']}: {label} during training")
    axis.legend()
    figure.tight_layout()
    return figure
