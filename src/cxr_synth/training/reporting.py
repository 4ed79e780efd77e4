"""What the training loop shows and records: start-up log lines and tracker parameters, the
per-epoch progress bar and loss means, and the sample grid. Nothing here changes training."""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cxr_synth.models.base import GAN
from cxr_synth.training.loop_config import TrainConfig
from cxr_synth.training.tracking import Tracker
from cxr_synth.training.util import interactive

logger = logging.getLogger("cxr_synth.training")


def log_start(gan: GAN, config: TrainConfig, tracker: Tracker, **run: Any) -> None:
    """Log the set-up and record it as tracker parameters. ``run``: device, precision,
    world_size, compile ("G only", True, False), sync_batchnorm (True, "generator", False),
    images, local_batch, steps_per_epoch, micro_batch."""
    logger.info(
        "Training %s on %s | precision %s | channels_last %s | compile %s | %d process(es)"
        " | SyncBatchNorm %s",
        gan.name,
        run["device"],
        run["precision"],
        config.channels_last,
        run["compile"],
        run["world_size"],
        {
            True: "G and D" if gan.discriminator is not None else "on",
            "generator": "G only (D needs double backward)",
            False: "off",
        }[run["sync_batchnorm"]],
    )
    logger.info(
        "%d images, batch %d (%d per process), %d steps/epoch, epochs %d, n_critic %d, EMA %s"
        ", micro-batches of %d",
        run["images"],
        config.batch_size,
        run["local_batch"],
        run["steps_per_epoch"],
        config.epochs,
        gan.n_critic,
        gan.ema_decay,
        run["micro_batch"],
    )
    params = {f"train.{k}": v for k, v in config.to_dict().items()}
    params.update(
        {
            "gan.name": gan.name,
            "gan.latent_dim": gan.latent_dim,
            "gan.n_critic": gan.n_critic,
            "gan.ema_decay": gan.ema_decay,
            **{f"gan.g_optimizer.{k}": v for k, v in gan.g_optimizer.items()},
            "train.resolved_device": str(run["device"]),
            "train.resolved_precision": run["precision"],
            "train.world_size": run["world_size"],
        }
    )
    if gan.discriminator is not None:
        params.update({f"gan.d_optimizer.{k}": v for k, v in gan.d_optimizer.items()})
    tracker.log_params(params)


class EpochLog:
    """One epoch's step values: means for the history, ``train/*`` means over ``log_every``
    steps for the tracker, and a progress bar (interactive sessions only). ``show``: whether
    this process reports (rank 0)."""

    def __init__(
        self, desc: str, steps: int, batch_size: int, log_every: int, tracker: Tracker, show: bool
    ) -> None:
        self.batch_size, self.log_every, self.tracker, self.show = (
            batch_size,
            log_every,
            tracker,
            show,
        )
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.window: dict[str, list[float]] = defaultdict(list)
        self.steps = 0
        self.bar = tqdm(
            total=steps, desc=desc, unit="step", leave=False, disable=not (show and interactive())
        )
        self.began = time.perf_counter()

    def add(self, values: dict[str, float], global_step: int) -> None:
        """Record one step's rank-mean values (``global_step``: steps completed so far)."""
        for k, v in values.items():
            self.sums[k] += v
            self.counts[k] += 1
            self.window[k].append(v)
        self.steps += 1
        if self.show and global_step % self.log_every == 0:
            self.tracker.log_metrics(
                {f"train/{k}": sum(v) / len(v) for k, v in self.window.items()}, step=global_step
            )
            self.window.clear()
        rate = self.steps * self.batch_size / (time.perf_counter() - self.began)
        self.bar.update(1)
        shown = {"d": f"{values['d_loss']:.3f}"} if "d_loss" in values else {}
        g_mean = self.sums.get("g_loss", math.nan) / max(self.counts.get("g_loss", 0), 1)
        self.bar.set_postfix(**shown, g=f"{g_mean:.3f}", img_s=f"{rate:.0f}", refresh=False)

    def close(self, epoch: int, global_step: int) -> dict[str, float]:
        """The history entry: epoch, step, mean values, images_per_s and epoch_time_s."""
        self.bar.close()
        elapsed = time.perf_counter() - self.began
        entry: dict[str, float] = {"epoch": epoch, "step": global_step}
        entry.update({k: self.sums[k] / self.counts[k] for k in self.sums})
        entry["images_per_s"] = self.steps * self.batch_size / elapsed
        entry["epoch_time_s"] = elapsed
        if self.show:
            self.tracker.log_metrics(
                {"train/images_per_s": entry["images_per_s"]}, step=global_step
            )
        return entry


@torch.no_grad()
def sample_grid(generator: nn.Module, z: torch.Tensor) -> np.ndarray:
    """``generator(z)`` in eval mode as one uint8 grid (HxW for grayscale, else HxWx3).

    Two-channel (image, mask) samples are shown as image and mask side by side, grayscale.
    """
    from torchvision.utils import make_grid  # deferred: torchvision takes seconds to import

    was_training = generator.training
    generator.eval()
    images = generator(z).float().cpu()
    generator.train(was_training)
    if images.shape[1] == 2:
        images = torch.cat([images[:, :1], images[:, 1:]], dim=3)
    nrow = max(1, int(math.sqrt(images.shape[0])))
    grid = make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1))
    grid = (grid * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return grid[..., 0].copy() if images.shape[1] == 1 else grid


def format_entry(entry: dict[str, float]) -> str:
    """A history entry as a log line's tail: ``d_loss 0.6931, g_loss 0.7, ...``."""
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in entry.items()
        if k != "epoch"
    )
