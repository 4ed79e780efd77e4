"""One generator from its settings: build the GAN, the dataset and the periodic FID, run the loop.

``train_generator(images, rows, reference, architecture, options, config, evaluation, n_fake=...)``
returns the best-FID generator with its spec, history and summary metrics; what the run reports
goes to the tracker that ``open_run(name)`` yields (``child_run`` for MLflow, by default
nothing). ``fid_evaluator`` is the ``evaluate`` callback of ``train_gan``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cxr_synth.data.torch_data import ChestXrayDataset, build_augmentation
from cxr_synth.metrics.params import FeatureParams
from cxr_synth.models.base import is_conditional
from cxr_synth.models.mask2image import masks_to_condition
from cxr_synth.models.options import ArchitectureOptions
from cxr_synth.models.registry import build_gan
from cxr_synth.models.transfer import load_matching_weights
from cxr_synth.runtime.rank import distributed_rank
from cxr_synth.training.loop import train_gan
from cxr_synth.training.loop_config import TrainConfig
from cxr_synth.training.tracking import RunOpener, no_run

logger = logging.getLogger("cxr_synth.training")

PR_K = 3  # k of precision/recall during training (Kynkäänniemi et al. 2019); more images needed


def fid_evaluator(
    reference: Mapping[str, np.ndarray],
    evaluation: FeatureParams,
    n_fake: int,
    latent_dim: int,
    conditions: torch.Tensor | None = None,
) -> tuple[Callable[[nn.Module], dict[str, float]], str]:
    """``(evaluate, label)``: ``evaluate(generator)`` gives the FID (``fid``; FD_rand on the
    offline backbone), ``precision`` and ``recall`` (Kynkäänniemi et al. 2019, k = ``PR_K``; left
    out when either set has at most k images) of ``n_fake`` seeded samples against ``reference``
    (statistics and ``features`` of real images), its feature network on the generator's device.
    A conditional generator renders ``conditions`` instead of noise, cycled to ``n_fake`` (its
    own noise comes from the RNG the loop seeds for evaluation). Ranks > 0 never evaluate (see
    ``train_gan``), so they build no network and their ``evaluate`` refuses."""
    # metrics' names are looked up per call (tests replace build_backbone)
    from cxr_synth.metrics.features import backbone_label, build_backbone, extract_features
    from cxr_synth.metrics.fid import FeatureStats, frechet_distance, stats_from_features
    from cxr_synth.metrics.precision_recall import prdc

    rank = distributed_rank()
    if rank > 0:

        def not_on_this_rank(generator: nn.Module) -> dict[str, float]:
            raise RuntimeError(f"FID is evaluated on rank 0 only, not on rank {rank}")

        return not_on_this_rank, backbone_label(
            evaluation.backbone, evaluation.inception_weights.path
        )
    backbone = build_backbone(evaluation.backbone, **evaluation.backbone_kwargs())
    batch = evaluation.batch_size
    stats, real_features = FeatureStats.from_dict(reference), reference.get("features")
    if stats.backbone != backbone.identifier:
        raise ValueError(
            f"fid_reference_stats were computed with {stats.backbone!r}, not with "
            f"{backbone.identifier!r}: rerun compute_fid_reference_stats"
        )

    def evaluate(generator: nn.Module) -> dict[str, float]:
        device = next(generator.parameters()).device
        backbone.to(device)  # no-op after the first call
        noise = torch.Generator().manual_seed(evaluation.seed)

        def inputs(start: int) -> torch.Tensor:
            count = min(batch, n_fake - start)
            if conditions is None:
                return torch.randn(count, latent_dim, generator=noise)
            return conditions[torch.arange(start, start + count) % len(conditions)]

        batches = (
            generator(inputs(start).to(device))[:, :1].float() for start in range(0, n_fake, batch)
        )
        fake = extract_features(backbone, batches, batch)
        metrics = {"fid": frechet_distance(stats, stats_from_features(fake, backbone.identifier))}
        if real_features is not None and min(len(real_features), len(fake)) > PR_K:
            manifold = prdc(real_features, fake, k_pr=PR_K, k_dc=PR_K)
            metrics |= {"precision": manifold.precision, "recall": manifold.recall}
        return metrics

    evaluate.label = backbone.name  # what the loop's log lines call it: FID or FD_rand
    return evaluate, backbone.name


@dataclass
class TrainedGenerator:
    """What ``train_generator`` returns."""

    generator: nn.Module  # the best-FID weights, on the CPU
    spec: dict[str, Any]  # architecture, options, resolution, channels, latent_dim, best_*, ...
    history: pd.DataFrame  # one row per epoch
    metrics: dict[str, float | None]  # <label>.best_<fid>, .best_epoch, .images_per_s, .train_hours
    samples: np.ndarray | None  # uint8 sample grid of the last evaluation


def train_generator(
    images: np.ndarray,
    rows: np.ndarray,
    reference: Mapping[str, np.ndarray],
    architecture: str,
    options: ArchitectureOptions,
    config: TrainConfig,
    evaluation: FeatureParams,
    *,
    n_fake: int,
    rotation_degrees: float = 0.0,
    horizontal_flip: bool = False,
    masks: np.ndarray | None = None,
    pretrained: Mapping[str, torch.Tensor] | None = None,
    conditions: np.ndarray | None = None,
    open_run: RunOpener = no_run,
) -> TrainedGenerator:
    """Train ``architecture`` on ``images[rows]`` (with ``masks``: on 2-channel (image, mask)
    pairs, FID on the image channel) and keep the best-FID generator. A conditional
    architecture (mask2image) needs ``conditions``: the masks (N, H, W) its FID samples render.

    The GAN's initial weights depend on ``config.seed`` alone; with ``pretrained`` the generator
    starts from those weights wherever the shapes agree. Options set away from the paper's model
    (``paper_deviations``) are allowed, never silent: a warning and the ``paper_deviations``
    parameter of the run.
    """
    channels = 1 if masks is None else 2
    label = architecture if masks is None else f"pairs_{architecture}"
    as_dict = options.to_dict()
    deviations = getattr(options, "paper_deviations", dict)()
    if deviations:  # e.g. an ablation
        logger.warning(
            "%s: options differ from the paper's model (%s): this run does not test the paper's "
            "model; the project's variant is proposed_tuned",
            label,
            ", ".join(f"{k}={v[0]!r}, paper {v[1]!r}" for k, v in deviations.items()),
        )
    resolution = int(images.shape[-1])
    gan = build_gan(
        architecture, resolution=resolution, channels=channels, seed=config.seed, **as_dict
    )
    if is_conditional(gan.objective) != (conditions is not None):
        raise ValueError(
            f"{label}: conditions (the masks its FID samples render) are needed by a conditional "
            "architecture and only by one"
        )
    if conditions is not None and len(conditions) == 0:
        raise ValueError(f"{label}: no masks to render (conditions is empty)")
    if pretrained is not None:
        kept = load_matching_weights(gan.generator, pretrained)
        logger.info("%s: generator starts from pretrained weights; new: %s", label, kept or "none")
    dataset = ChestXrayDataset(
        images, masks=masks, rows=rows,
        augmentation=build_augmentation(rotation_degrees, horizontal_flip),
    )  # fmt: skip
    evaluate, fid_label = fid_evaluator(
        reference, evaluation, n_fake, gan.latent_dim,
        None if conditions is None else masks_to_condition(conditions),
    )  # fmt: skip
    logger.info(
        "training %s on %d %s at %d², Fréchet distance reported as %s",
        label,
        len(dataset),
        "images" if masks is None else "image/mask pairs",
        resolution,
        fid_label,
    )
    with open_run(label) as tracker:
        tracker.log_params(
            {
                "architecture": architecture,
                "channels": channels,
                **({"paper_deviations": ",".join(sorted(deviations))} if deviations else {}),
                **{f"model.{k}": v for k, v in as_dict.items()},
            }
        )
        result = train_gan(gan, dataset, config, evaluate=evaluate, tracker=tracker)

    gan.generator.load_state_dict(result.best_state)
    spec = {
        "architecture": architecture,
        "options": as_dict,
        "resolution": resolution,
        "channels": channels,
        "latent_dim": gan.latent_dim,
        "best_epoch": result.best_epoch,
        "best_fid": result.best_score,
        "fid_label": fid_label,
        "epochs": result.epoch,
        "device": result.device,
        "precision": result.precision,
    }
    metrics = {
        f"{label}.best_{fid_label.lower()}": result.best_score,
        f"{label}.best_epoch": result.best_epoch,
        f"{label}.images_per_s": result.timing.get("images_per_s"),
        f"{label}.train_hours": result.timing.get("train_time_s", 0.0) / 3600,
    }
    history = pd.DataFrame(result.history)
    return TrainedGenerator(gan.generator.cpu(), spec, history, metrics, result.samples)
