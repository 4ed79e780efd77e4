"""Training glue: Kedro parameters and catalog data in, a trained generator and its records out.

The work happens in ``cxr_synth.models`` (the GANs) and ``cxr_synth.training`` (the loop). The
loop writes checkpoints and live MLflow metrics itself, from parameters, because a long job must
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
from cxr_synth.pipelines.training.params import (
    LoopOverrides,
    ModelParams,
    TrainingFidParams,
    TrainingParams,
)
from cxr_synth.runtime.errors import UserError
from cxr_synth.runtime.rank import distributed_rank
from cxr_synth.training.loop_config import TrainConfig
from cxr_synth.training.tracking import child_run

# torch, matplotlib and the metrics and training code are imported in the nodes that use them:
# building the pipelines stays light (cxr_synth.pipelines.node_types).

logger = logging.getLogger(__name__)

PR_K = 3  # k of precision/recall during training (Kynkäänniemi et al. 2019); more images needed


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


def _fid_evaluator(
    reference: Mapping[str, np.ndarray], evaluation: TrainingFidParams, latent_dim: int
):
    """``(evaluate, label)``: ``evaluate(generator)`` gives the FID (``fid``; FD_rand on the
    offline backbone), ``precision`` and ``recall`` (Kynkäänniemi et al. 2019, k = ``PR_K``; left
    out when either set has at most k images) of ``n_fake`` seeded samples against the ``reference`` of ``compute_fid_reference_stats``, its
    feature network on the generator's device (the one the loop resolved). Ranks > 0 never
    evaluate (see ``train_gan``), so they build no network and their ``evaluate`` refuses."""
    import torch

    from cxr_synth.metrics.features import backbone_label, build_backbone, extract_features
    from cxr_synth.metrics.fid import FeatureStats, frechet_distance, stats_from_features
    from cxr_synth.metrics.precision_recall import prdc

    rank = distributed_rank()
    if rank > 0:

        def not_on_this_rank(generator: Module) -> dict[str, float]:
            raise RuntimeError(f"FID is evaluated on rank 0 only, not on rank {rank}")

        return not_on_this_rank, backbone_label(
            evaluation.backbone, evaluation.inception_weights.path
        )
    backbone = build_backbone(evaluation.backbone, **evaluation.backbone_kwargs())
    n_fake, batch = evaluation.n_fake, evaluation.batch_size
    stats, real_features = FeatureStats.from_dict(reference), reference.get("features")
    if stats.backbone != backbone.identifier:
        raise ValueError(
            f"fid_reference_stats were computed with {stats.backbone!r}, not with "
            f"{backbone.identifier!r}: rerun compute_fid_reference_stats"
        )

    def evaluate(generator: Module) -> dict[str, float]:
        device = next(generator.parameters()).device
        backbone.to(device)  # no-op after the first call
        noise = torch.Generator().manual_seed(evaluation.seed)
        batches = (
            generator(
                torch.randn(min(batch, n_fake - start), latent_dim, generator=noise).to(device)
            )[:, :1].float()
            for start in range(0, n_fake, batch)
        )
        fake = extract_features(backbone, batches, batch)
        metrics = {"fid": frechet_distance(stats, stats_from_features(fake, backbone.identifier))}
        if real_features is not None and min(len(real_features), len(fake)) > PR_K:
            manifold = prdc(real_features, fake, k_pr=PR_K, k_dc=PR_K)
            metrics |= {"precision": manifold.precision, "recall": manifold.recall}
        return metrics

    evaluate.label = backbone.name  # what the loop's log lines call it: FID or FD_rand
    return evaluate, backbone.name


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
) -> tuple[Module, dict[str, Any], pd.DataFrame, dict[str, dict[str, float]], Image.Image]:
    """Train one architecture on the preprocessed images; return the best-FID generator.

    ``model``: ``{architecture, options}`` (``cxr_synth.models.options``); ``loop``: this
    architecture's overrides of ``training.loop``; ``training``: the shared section.
    With ``masks`` (aligned with ``images``) the GAN learns 2-channel (image, mask) pairs; FID is
    measured on the image channel. With ``training.init_from_pretrained`` the generator starts
    from ``pretrained`` (e.g. the NIH-trained one) wherever the shapes agree.
    """
    from cxr_synth.data.torch_data import ChestXrayDataset, build_augmentation
    from cxr_synth.models.registry import build_gan
    from cxr_synth.models.transfer import load_matching_weights
    from cxr_synth.sharing.generator import DIGEST, weights_digest
    from cxr_synth.training import train_gan

    architecture = model.architecture
    channels = 1 if masks is None else 2
    label = architecture if masks is None else f"pairs_{architecture}"
    config = train_config(architecture, loop, training)
    options = model.options.to_dict()
    deviations = getattr(model.options, "paper_deviations", dict)()
    if deviations:  # e.g. an ablation: allowed, never silent
        logger.warning(
            "%s: options differ from the paper's model (%s): this run does not test the paper's "
            "model; the project's variant is proposed_tuned",
            label,
            ", ".join(f"{k}={v[0]!r}, paper {v[1]!r}" for k, v in deviations.items()),
        )
    resolution = int(images.shape[-1])
    gan = build_gan(  # seeded: the initial weights depend on the config alone
        architecture, resolution=resolution, channels=channels, seed=config.seed, **options
    )
    if training.init_from_pretrained and masks is not None and pretrained is None:
        raise UserError(
            f"pair_training.init_from_pretrained is true but there is no NIH-trained {architecture} "
            f"generator ({architecture}_generator, data/06_models/{architecture}/generator.pt): run "
            f"`kedro run --pipelines train_{architecture}` first, or set it to false"
        )
    if training.init_from_pretrained and pretrained is not None:
        kept = load_matching_weights(gan.generator, pretrained)
        logger.info("%s: generator starts from pretrained weights; new: %s", label, kept or "none")
    dataset = ChestXrayDataset(
        images,
        masks=masks,
        rows=rows_in_splits(index, training.data.splits, "training (training.data.splits)"),
        augmentation=build_augmentation(
            training.data.rotation_degrees, training.data.horizontal_flip
        ),
    )
    evaluate, fid_label = _fid_evaluator(reference_stats, training.evaluation, gan.latent_dim)
    logger.info(
        "training %s on %d %s at %d², Fréchet distance reported as %s",
        label,
        len(dataset),
        "images" if masks is None else "image/mask pairs",
        resolution,
        fid_label,
    )

    with child_run(label) as tracker:
        tracker.log_params(
            {
                "architecture": architecture,
                "channels": channels,
                **({"paper_deviations": ",".join(sorted(deviations))} if deviations else {}),
                **{f"model.{k}": v for k, v in options.items()},
            }
        )
        result = train_gan(gan, dataset, config, evaluate=evaluate, tracker=tracker)

    gan.generator.load_state_dict(result.best_state)
    generator = gan.generator.cpu()
    history = pd.DataFrame(result.history)
    spec = {
        "architecture": architecture,
        "options": options,
        "resolution": resolution,
        "channels": channels,
        "latent_dim": gan.latent_dim,
        "best_epoch": result.best_epoch,
        "best_fid": result.best_score,
        "fid_label": fid_label,
        "epochs": result.epoch,
        "device": result.device,
        "precision": result.precision,
        DIGEST: weights_digest(generator.state_dict()),  # its weights (sharing.check_pair)
    }
    metrics = {
        f"{label}.best_{fid_label.lower()}": result.best_score,
        f"{label}.best_epoch": result.best_epoch,
        f"{label}.images_per_s": result.timing.get("images_per_s"),
        f"{label}.train_hours": result.timing.get("train_time_s", 0.0) / 3600,
    }
    summary = metric_records(metrics)
    grid = Image.fromarray(result.samples) if result.samples is not None else Image.new("L", (8, 8))
    return generator, spec, history, summary, grid


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
