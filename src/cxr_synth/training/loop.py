"""The training loop, written once for every GAN in the zoo.

The loop knows nothing about architectures or losses: a :class:`~cxr_synth.models.base.GAN`
brings G, D, the objective and its optimiser settings. Per step (one batch of real images):

1. D step: ``fake = G(z)`` without gradients, ``objective.discriminator_loss(D, real, fake, step)``.
2. Every ``n_critic`` steps, a G step: ``objective.generator_loss(D, G(z))`` with D frozen,
   then the EMA of G's weights is updated (when ``gan.ema_decay`` is set).

Each step's batch may run as several micro-batches of ``micro_batch_size`` (gradients
accumulated, losses weighted by their share, one optimiser step, one ``step`` for lazy
regularisers and ``n_critic``); by default the whole batch is one micro-batch.

Losses are reduced over ranks and checked every step (one host sync per step): NaN/inf, or an
optional discriminator collapse, raises :class:`TrainingDiverged` before anything is saved.
Every ``eval_every`` epochs and at the end, the EMA generator (else G) is sampled from fixed
noise and passed to ``evaluate``; the lowest ``"fid"`` selects the best generator. Evaluation
runs with its own seeded RNG and restores the training RNG afterwards, so evaluating (or not)
never changes training. Checkpoints are written at epoch ends; see ``checkpoint.py``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from cxr_synth.errors import UserError
from cxr_synth.models.base import GAN, RESUMABLE_OPTIONS, needs_double_backward
from cxr_synth.training import distributed
from cxr_synth.training.checkpoint import (
    capture_rng_state,
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    restore_rng_state,
    save_checkpoint,
)
from cxr_synth.training.config import RESUMABLE_KEYS, TrainConfig, changed_settings
from cxr_synth.training.devices import (
    autocast_context,
    make_grad_scaler,
    resolve_device,
    resolve_precision,
)
from cxr_synth.training.ema import make_ema
from cxr_synth.training.tracking import NullTracker, Tracker

logger = logging.getLogger("cxr_synth.training")

StateDict = dict[str, torch.Tensor]
Evaluate = Callable[[nn.Module], dict[str, float]]
CHECKPOINT_FORMAT = 1  # "model" (added later) is optional: older checkpoints lack it


class ResumeMismatch(UserError, ValueError):
    """``resume: true`` with a model or loop config that differs from the checkpoint's."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss or a collapsed discriminator; nothing was saved."""

    def __init__(
        self, reason: str, epoch: int, step: int, losses: dict[str, float], checkpoint: Path | None
    ) -> None:
        self.reason, self.epoch, self.step = reason, epoch, step
        self.losses, self.checkpoint = dict(losses), checkpoint
        shown = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
        last = (
            f"the last good checkpoint is {checkpoint} (resume from it with resume: true)"
            if checkpoint
            else "no checkpoint was written before it"
        )
        super().__init__(
            f"Training diverged at epoch {epoch}, step {step}: {reason} ({shown}); {last}. "
            "Suggestions: lower the learning rates (g_optimizer/d_optimizer lr) or raise Adam's "
            "beta2; enable spectral normalisation in D or a gradient penalty (R1, WGAN-GP); "
            "train in fp32 (precision: fp32) to rule out mixed precision; check that the data "
            "are finite and in [-1, 1]."
        )


@dataclass
class TrainResult:
    """What a training run leaves behind. All state dicts hold CPU tensors.

    ``best_state`` is the generator (EMA weights when EMA is on) with the lowest ``"fid"``
    returned by ``evaluate``; without any FID it is the final generator, ``best_score`` is
    None and ``best_epoch`` the last epoch. Under DDP only rank 0 evaluates, so only rank 0's
    best fields reflect FID.
    """

    best_state: StateDict
    best_score: float | None
    best_epoch: int
    final_state: dict[str, StateDict | None]  # "generator", "discriminator", "ema"
    history: list[dict[str, float]]  # one entry per epoch (this and earlier, resumed runs)
    timing: dict[str, float]  # wall_time_s, train_time_s, images, images_per_s (this call)
    epoch: int
    global_step: int
    device: str
    precision: str
    last_checkpoint: Path | None = None
    samples: np.ndarray | None = None  # uint8 grid (HxW or HxWx3) of the last evaluation

    @property
    def generator_state(self) -> StateDict:
        """The final weights to sample from: EMA when present, else G."""
        return self.final_state["ema"] or self.final_state["generator"]


def train_gan(
    gan: GAN,
    dataset: Dataset,
    config: TrainConfig | dict[str, Any],
    *,
    evaluate: Evaluate | None = None,
    tracker: Tracker | None = None,
) -> TrainResult:
    """Train ``gan`` on ``dataset`` (float tensors (C, R, R) in [-1, 1]); see module doc.

    ``evaluate(generator) -> {"fid": ..., ...}`` is called on rank 0, in eval mode and under
    ``torch.no_grad()``, every ``config.eval_every`` epochs and after the last one. Under
    ``torchrun`` the process group is set up (and torn down) here. An ``evaluate.label``
    attribute names the distance in log lines (default "FID"; "FD_rand" offline).
    """
    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    if config.resume and config.checkpoint_dir is None:
        raise ValueError("resume: true needs a checkpoint_dir (where the checkpoints are)")
    started = time.perf_counter()
    device = resolve_device(config.device)
    if device.type == "cuda" and device.index is None and distributed.launched_distributed():
        device = torch.device("cuda", distributed.local_rank())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    info = distributed.init_distributed(device)
    trainer = None
    try:
        trainer = _Trainer(gan, dataset, config, device, info, evaluate, tracker or NullTracker())
        return trainer.run(started)
    finally:
        if trainer is not None:
            trainer.loader = None  # stops persistent DataLoader workers, also after an error
        distributed.cleanup(info)


@dataclass
class _Progress:
    """The mutable part of a run: what a checkpoint must restore."""

    epoch: int = 0  # last completed epoch
    step: int = 0  # completed steps (discriminator updates)
    history: list[dict[str, float]] = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int | None = None
    best_state: StateDict | None = None
    collapse_count: int = 0


class _Trainer:
    def __init__(
        self,
        gan: GAN,
        dataset: Dataset,
        config: TrainConfig,
        device: torch.device,
        info: distributed.DistInfo,
        evaluate: Evaluate | None,
        tracker: Tracker,
    ) -> None:
        self.gan, self.dataset, self.config = gan, dataset, config
        self.device, self.info, self.evaluate, self.tracker = device, info, evaluate, tracker
        self.precision = resolve_precision(device, config.precision)
        self.progress = _Progress()
        self.last_checkpoint: Path | None = None
        self.samples: np.ndarray | None = None
        if config.batch_size % info.world_size:
            raise ValueError(
                f"batch_size {config.batch_size} is not divisible by the {info.world_size} processes"
            )
        self.local_batch = config.batch_size // info.world_size
        self.micro_batch = min(config.micro_batch_size or self.local_batch, self.local_batch)
        if self.local_batch % self.micro_batch:
            raise ValueError(
                f"micro_batch_size {config.micro_batch_size} does not divide the per-process "
                f"batch {self.local_batch} (batch_size {config.batch_size} / {info.world_size} "
                "processes)"
            )
        self.compile_g, self.compile_d = _compile_plan(config.compile, gan)
        self.sampler = distributed.make_sampler(dataset, info, config.seed)
        self.steps_per_epoch = len(self.sampler) // self.local_batch
        if config.max_steps_per_epoch is not None:
            self.steps_per_epoch = min(self.steps_per_epoch, config.max_steps_per_epoch)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"The dataset ({len(dataset)} images) is smaller than one batch "
                f"({config.batch_size}); lower batch_size"
            )
        self._setup_backend()
        self._setup_models()
        self.loader, self.epoch_sampler = distributed.make_loader(
            dataset,
            self.sampler,
            batch_size=self.local_batch,
            num_workers=config.num_workers,
            seed=config.seed,
            pin_memory=device.type == "cuda",
        )

    # ----------------------------------------------------------------------------- setup
    def _setup_backend(self) -> None:
        if self.config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def _setup_models(self) -> None:
        gan, config, device = self.gan, self.config, self.device
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        g, d = gan.generator, gan.discriminator
        self.sync_batchnorm = distributed.use_sync_batchnorm(
            config.sync_batchnorm, self.info, device
        )
        if self.sync_batchnorm:  # before DDP and the optimisers; parameters are kept
            g = distributed.convert_sync_batchnorm(g)
            if needs_double_backward(gan.objective):  # SyncBatchNorm has no double backward
                self.sync_batchnorm = "generator"
            else:
                d = distributed.convert_sync_batchnorm(d)
        self.g = g.to(device, memory_format=memory_format)
        self.d = d.to(device, memory_format=memory_format)
        self.g_train = distributed.wrap(self.g, self.info, device)  # DDP syncs rank 0's weights
        self.d_train = distributed.wrap(self.d, self.info, device)
        self.ema = make_ema(self.g, gan.ema_decay) if gan.ema_decay is not None else None
        self.g_opt = torch.optim.Adam(self.g.parameters(), **_adam_kwargs(gan.g_optimizer))
        self.d_opt = torch.optim.Adam(self.d.parameters(), **_adam_kwargs(gan.d_optimizer))
        self.d_params = [p for p in self.d.parameters() if p.requires_grad]
        self.g_scaler = make_grad_scaler(device, self.precision)
        self.d_scaler = make_grad_scaler(device, self.precision)
        if self.compile_g:
            self.g_train = torch.compile(self.g_train)
        if self.compile_d:
            self.d_train = torch.compile(self.d_train)
        noise = torch.Generator().manual_seed(config.seed)
        self.fixed_z = torch.randn(config.grid_samples, gan.latent_dim, generator=noise).to(device)

    # ------------------------------------------------------------------------------- run
    def run(self, started: float) -> TrainResult:
        config, info = self.config, self.info
        self._start_or_resume()
        self._log_start()
        train_time, images = 0.0, 0
        for epoch in range(self.progress.epoch + 1, config.epochs + 1):
            entry = self._train_epoch(epoch)
            train_time += entry["epoch_time_s"]
            images += self.steps_per_epoch * config.batch_size
            distributed.average_buffers(self.g, info)
            distributed.average_buffers(self.d, info)
            if self.ema is not None:
                distributed.average_buffers(self.ema.module, info)
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                if info.is_main:
                    entry.update(self._evaluate(epoch))
                distributed.barrier(info)  # the other ranks wait here, not inside a collective
            self.progress.epoch = epoch
            self.progress.history.append(entry)
            if config.checkpoint_dir is not None and (
                epoch % config.checkpoint_every == 0 or epoch == config.epochs
            ):
                self._save(epoch)
            if info.is_main:
                logger.info("%s epoch %d/%d: %s", self.gan.name, epoch, config.epochs, _fmt(entry))
        if self.samples is None and info.is_main:
            self.samples = self._sample_grid()
        timing = {
            "wall_time_s": time.perf_counter() - started,
            "train_time_s": train_time,
            "images": float(images),
            "images_per_s": images / train_time if train_time else 0.0,
        }
        return self._result(timing)

    def _start_or_resume(self) -> None:
        config = self.config
        say = logger.info if self.info.is_main else logger.debug  # one voice under DDP
        if config.checkpoint_dir is None and self.info.is_main:
            logger.warning("checkpoint_dir is not set: no checkpoints will be written")
        path = latest_checkpoint(config.checkpoint_dir) if config.resume else None
        if path is not None:
            say("Resuming from checkpoint %s", path)
            self._restore(path)
            say(
                "Resumed at epoch %d, step %d; training epochs %d-%d",
                self.progress.epoch,
                self.progress.step,
                self.progress.epoch + 1,
                config.epochs,
            )
            return
        if config.resume:
            say("resume: no checkpoint in %s, starting fresh", config.checkpoint_dir)
        _seed_everything(config.seed + self.info.rank)

    def _log_start(self) -> None:
        if not self.info.is_main:
            return
        config, gan = self.config, self.gan
        logger.info(
            "Training %s on %s | precision %s | channels_last %s | compile %s | %d process(es)"
            " | SyncBatchNorm %s",
            gan.name,
            self.device,
            self.precision,
            config.channels_last,
            "G only" if self.compile_g and not self.compile_d else self.compile_d,
            self.info.world_size,
            {True: "G and D", "generator": "G only (D needs double backward)", False: "off"}[
                self.sync_batchnorm
            ],
        )
        logger.info(
            "%d images, batch %d (%d per process), %d steps/epoch, epochs %d, n_critic %d, EMA %s"
            ", micro-batches of %d",
            len(self.dataset),
            config.batch_size,
            self.local_batch,
            self.steps_per_epoch,
            config.epochs,
            gan.n_critic,
            gan.ema_decay,
            self.micro_batch,
        )
        params = {f"train.{k}": v for k, v in config.to_dict().items()}
        params.update(
            {
                "gan.name": gan.name,
                "gan.latent_dim": gan.latent_dim,
                "gan.n_critic": gan.n_critic,
                "gan.ema_decay": gan.ema_decay,
                **{f"gan.g_optimizer.{k}": v for k, v in gan.g_optimizer.items()},
                **{f"gan.d_optimizer.{k}": v for k, v in gan.d_optimizer.items()},
                "train.resolved_device": str(self.device),
                "train.resolved_precision": self.precision,
                "train.world_size": self.info.world_size,
            }
        )
        self.tracker.log_params(params)

    # ----------------------------------------------------------------------------- epoch
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        config, world = self.config, self.info.world_size
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        window: dict[str, list[float]] = defaultdict(list)
        bar = tqdm(
            total=self.steps_per_epoch,
            desc=f"{self.gan.name} {epoch}/{config.epochs}",
            unit="step",
            leave=False,
            disable=not (self.info.is_main and interactive()),
        )
        began = time.perf_counter()
        self.epoch_sampler.set_epoch(epoch)  # the order depends only on seed and epoch
        for i, batch in enumerate(self.loader):
            if i >= self.steps_per_epoch:
                break
            values = self._train_step(self._to_device(batch))
            self._check_divergence(epoch, values)
            for k, v in values.items():
                sums[k] += v
                counts[k] += 1
                window[k].append(v)
            if self.info.is_main and self.progress.step % config.log_every == 0:
                self.tracker.log_metrics(
                    {f"train/{k}": sum(v) / len(v) for k, v in window.items()},
                    step=self.progress.step,
                )
                window.clear()
            rate = (i + 1) * config.batch_size / (time.perf_counter() - began)
            bar.update(1)
            bar.set_postfix(
                d=f"{values['d_loss']:.3f}",
                g=f"{sums.get('g_loss', math.nan) / max(counts.get('g_loss', 0), 1):.3f}",
                img_s=f"{rate:.0f}",
                refresh=False,
            )
        bar.close()
        elapsed = time.perf_counter() - began
        entry: dict[str, float] = {"epoch": epoch, "step": self.progress.step}
        entry.update({k: sums[k] / counts[k] for k in sums})
        entry["images_per_s"] = self.steps_per_epoch * self.local_batch * world / elapsed
        entry["epoch_time_s"] = elapsed
        if self.info.is_main:
            self.tracker.log_metrics(
                {"train/images_per_s": entry["images_per_s"]}, step=self.progress.step
            )
        return entry

    def _to_device(self, batch: Any) -> torch.Tensor:
        if isinstance(batch, (list, tuple)):  # (image, label) datasets: images only
            batch = batch[0]
        memory_format = torch.channels_last if self.config.channels_last else torch.preserve_format
        return batch.to(self.device, non_blocking=True, memory_format=memory_format)

    def _train_step(self, real: torch.Tensor) -> dict[str, float]:
        """One D update and, every ``n_critic`` steps, one G update; returns rank-mean scalars."""
        gan, step = self.gan, self.progress.step
        z = torch.randn(real.shape[0], gan.latent_dim, device=self.device)
        self.d_opt.zero_grad(set_to_none=True)
        parts = []
        for last, (real_i, z_i) in _micro_batches(self.micro_batch, real, z):
            with distributed.sync_gradients(self.d_train, last):
                with autocast_context(self.device, self.precision):
                    with torch.no_grad():
                        fake = self.g_train(z_i)
                    d_loss, d_logs = gan.objective.discriminator_loss(
                        self.d_train, real_i, fake, step
                    )
                self.d_scaler.scale(_share(d_loss, len(real), len(real_i))).backward()
            parts.append({**d_logs, "d_loss": d_loss})
        self.d_scaler.step(self.d_opt)
        self.d_scaler.update()
        scalars = _mean_logs(parts)
        if (step + 1) % gan.n_critic == 0:
            scalars.update(self._generator_step(real.shape[0]))
        self.progress.step += 1
        values = torch.stack([v.detach().float().mean() for v in scalars.values()])
        distributed.all_reduce_mean(values, self.info)
        return dict(zip(scalars, values.tolist(), strict=True))

    def _generator_step(self, batch_size: int) -> dict[str, torch.Tensor]:
        gan = self.gan
        z = torch.randn(batch_size, gan.latent_dim, device=self.device)
        self.g_opt.zero_grad(set_to_none=True)
        for p in self.d_params:  # no weight gradients for D: saves a third of its backward
            p.requires_grad_(False)
        parts = []
        try:
            for last, (z_i,) in _micro_batches(self.micro_batch, z):
                with (
                    distributed.no_sync(self.d_train),
                    distributed.sync_gradients(self.g_train, last),
                ):
                    with autocast_context(self.device, self.precision):
                        g_loss, g_logs = gan.objective.generator_loss(
                            self.d_train, self.g_train(z_i)
                        )
                    self.g_scaler.scale(_share(g_loss, batch_size, len(z_i))).backward()
                parts.append({**g_logs, "g_loss": g_loss})
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        self.g_scaler.step(self.g_opt)
        self.g_scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.g)
        return _mean_logs(parts)

    def _check_divergence(self, epoch: int, values: dict[str, float]) -> None:
        progress, config = self.progress, self.config
        bad = [k for k in ("d_loss", "g_loss") if k in values and not math.isfinite(values[k])]
        if bad:
            reason = f"non-finite {' and '.join(bad)}"
            raise TrainingDiverged(reason, epoch, progress.step, values, self.last_checkpoint)
        if config.collapse_threshold is None:
            return
        collapsed = values["d_loss"] < config.collapse_threshold
        progress.collapse_count = progress.collapse_count + 1 if collapsed else 0
        if progress.collapse_count >= config.collapse_patience:
            reason = (
                f"discriminator collapse: d_loss below {config.collapse_threshold:g} for "
                f"{progress.collapse_count} consecutive steps"
            )
            raise TrainingDiverged(reason, epoch, progress.step, values, self.last_checkpoint)

    # ------------------------------------------------------------------------ evaluation
    def _eval_generator(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.g

    def _evaluate(self, epoch: int) -> dict[str, float]:
        """Sample grid + ``evaluate`` on the EMA generator (else G); updates the best state."""
        generator = self._eval_generator()
        was_training = generator.training
        generator.eval()
        try:
            with _isolated_rng(self.config.seed), torch.no_grad():
                self.samples = self._sample_grid()
                metrics = {
                    k: float(v) for k, v in (self.evaluate or _no_metrics)(generator).items()
                }
        finally:
            generator.train(was_training)
        step = self.progress.step
        self.tracker.log_image(self.samples, f"samples/epoch_{epoch:04d}.png")
        if metrics:
            self.tracker.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=step)
        fid = metrics.get("fid")
        best = self.progress.best_score
        if fid is not None and math.isfinite(fid) and (best is None or fid < best):
            self.progress.best_score, self.progress.best_epoch = fid, epoch
            self.progress.best_state = cpu_copy(generator.state_dict())
            label = getattr(self.evaluate, "label", "FID")  # "FD_rand" on the offline backbone
            logger.info("New best %s %.4g at epoch %d", label, fid, epoch)
        return metrics

    @torch.no_grad()
    def _sample_grid(self) -> np.ndarray:
        """Images from the fixed noise as one uint8 grid (HxW for grayscale, else HxWx3).

        Two-channel (image, mask) samples are shown as image and mask side by side, grayscale.
        """
        from torchvision.utils import make_grid  # deferred: torchvision takes seconds to import

        generator = self._eval_generator()
        was_training = generator.training
        generator.eval()
        images = generator(self.fixed_z).float().cpu()
        generator.train(was_training)
        if images.shape[1] == 2:
            images = torch.cat([images[:, :1], images[:, 1:]], dim=3)
        nrow = max(1, int(math.sqrt(images.shape[0])))
        grid = make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1))
        grid = (grid * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        return grid[..., 0].copy() if images.shape[1] == 1 else grid

    # ----------------------------------------------------------------------- checkpoints
    def _save(self, epoch: int) -> None:
        rng = distributed.gather_objects(capture_rng_state(), self.info)  # every rank's stream
        directory = self.config.checkpoint_dir
        if not self.info.is_main:  # rank 0 writes it; the others only remember where
            self.last_checkpoint = checkpoint_path(directory, epoch)
            return
        p = self.progress
        state = {
            "format": CHECKPOINT_FORMAT,
            "gan_name": self.gan.name,
            "epoch": epoch,
            "global_step": p.step,
            "generator": self.g.state_dict(),
            "discriminator": self.d.state_dict(),
            "g_optimizer": self.g_opt.state_dict(),
            "d_optimizer": self.d_opt.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "g_scaler": self.g_scaler.state_dict(),
            "d_scaler": self.d_scaler.state_dict(),
            "rng": rng,
            "history": p.history,
            "best": {"score": p.best_score, "epoch": p.best_epoch, "generator": p.best_state},
            "collapse_count": p.collapse_count,
            "config": self.config.to_dict(),
            "model": _model_description(self.gan),
        }
        self.last_checkpoint = save_checkpoint(state, checkpoint_path(directory, epoch))
        removed = prune_checkpoints(directory, self.config.keep_last)
        logger.info(
            "Checkpoint %s written%s",
            self.last_checkpoint,
            f" ({len(removed)} older removed)" if removed else "",
        )

    def _restore(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location="cpu")
        if ckpt.get("gan_name") != self.gan.name:
            raise ValueError(
                f"Checkpoint {path} belongs to GAN {ckpt.get('gan_name')!r}, not {self.gan.name!r}; "
                "point checkpoint_dir elsewhere or set resume: false"
            )
        _refuse_changed_settings(ckpt, path, self.gan, self.config)
        self.g.load_state_dict(ckpt["generator"])
        self.d.load_state_dict(ckpt["discriminator"])
        self.g_opt.load_state_dict(ckpt["g_optimizer"])
        self.d_opt.load_state_dict(ckpt["d_optimizer"])
        _apply_optimizer_settings(self.g_opt, self.gan.g_optimizer, "g_optimizer")
        _apply_optimizer_settings(self.d_opt, self.gan.d_optimizer, "d_optimizer")
        if self.ema is not None and ckpt["ema"] is not None:
            self.ema.load_state_dict(ckpt["ema"])
        for scaler, key in ((self.g_scaler, "g_scaler"), (self.d_scaler, "d_scaler")):
            if scaler.is_enabled() and ckpt[key]:
                scaler.load_state_dict(ckpt[key])
        best = ckpt["best"]
        self.progress = _Progress(
            epoch=ckpt["epoch"],
            step=ckpt["global_step"],
            history=list(ckpt["history"]),
            best_score=best["score"],
            best_epoch=best["epoch"],
            best_state=best["generator"],
            collapse_count=ckpt["collapse_count"],
        )
        self.last_checkpoint = path
        rng = ckpt["rng"]
        if len(rng) == self.info.world_size:
            restore_rng_state(rng[self.info.rank])
        else:
            logger.warning(
                "Checkpoint was written by %d process(es), now %d: RNG streams re-seeded",
                len(rng),
                self.info.world_size,
            )
            _seed_everything(self.config.seed + self.info.rank + 1000 * ckpt["epoch"])

    # ---------------------------------------------------------------------------- result
    def _result(self, timing: dict[str, float]) -> TrainResult:
        p = self.progress
        final = {
            "generator": cpu_copy(self.g.state_dict()),
            "discriminator": cpu_copy(self.d.state_dict()),
            "ema": cpu_copy(self.ema.module.state_dict()) if self.ema is not None else None,
        }
        if p.best_state is not None:
            best_state, best_epoch = p.best_state, p.best_epoch
        else:
            best_state, best_epoch = final["ema"] or final["generator"], p.epoch
        return TrainResult(
            best_state=best_state,
            best_score=p.best_score,
            best_epoch=best_epoch,
            final_state=final,
            history=p.history,
            timing=timing,
            epoch=p.epoch,
            global_step=p.step,
            device=str(self.device),
            precision=self.precision,
            last_checkpoint=self.last_checkpoint,
            samples=self.samples,
        )


def _adam_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(settings)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])  # YAML gives lists
    return kwargs


def _no_metrics(generator: nn.Module) -> dict[str, float]:
    return {}


def _compile_plan(setting: bool | str, gan: GAN) -> tuple[bool, bool]:
    """(compile G, compile D) for ``compile: true | false | generator``; refuses compiling a D
    whose objective needs double backward (the error names the option and the way out)."""
    if setting is True and needs_double_backward(gan.objective):
        raise ValueError(
            f"compile: true cannot train {gan.name!r}: its objective "
            f"({type(gan.objective).__name__}) back-propagates through an input gradient "
            "(gradient penalty or R1), and torch.compile does not support double backward. "
            "Set compile: generator to compile G only, or compile: false."
        )
    return bool(setting), setting is True


def _micro_batches(
    size: int, *tensors: torch.Tensor
) -> Iterator[tuple[bool, tuple[torch.Tensor, ...]]]:
    """``(is_last, chunks)`` over consecutive slices of ``size`` rows (the tensors themselves
    when they fit in one)."""
    if len(tensors[0]) <= size:
        yield True, tensors
        return
    parts = list(zip(*(t.split(size) for t in tensors), strict=True))
    for i, part in enumerate(parts):
        yield i == len(parts) - 1, part


def _share(loss: torch.Tensor, batch: int, part: int) -> torch.Tensor:
    """A micro-batch's mean loss weighted by its share of the batch (unchanged when whole)."""
    return loss if part == batch else loss * (part / batch)


def _mean_logs(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Per-key mean over equal-sized micro-batches (the single dict itself when there is one)."""
    if len(parts) == 1:
        return parts[0]
    return {k: torch.stack([p[k].detach().float().mean() for p in parts]).mean() for k in parts[0]}


def _model_description(gan: GAN) -> dict[str, Any]:
    """What a checkpoint records about the model: the GAN's loop-facing fields and its options."""
    return {
        "latent_dim": gan.latent_dim,
        "n_critic": gan.n_critic,
        "ema_decay": gan.ema_decay,
        **gan.options,
    }


def _refuse_changed_settings(
    ckpt: dict[str, Any], path: Path, gan: GAN, config: TrainConfig
) -> None:
    """Raise before any state is loaded if the model or the loop differs from the checkpoint's
    (settings a resumed run may change, ``RESUMABLE_KEYS`` / ``RESUMABLE_OPTIONS``, excepted)."""
    changes = changed_settings(
        ckpt.get("model") or {}, _model_description(gan), "model", RESUMABLE_OPTIONS
    )
    changes += changed_settings(ckpt.get("config") or {}, config.to_dict(), "loop", RESUMABLE_KEYS)
    if changes:
        raise ResumeMismatch(
            f"Cannot resume from {path}: {', '.join(changes)} "
            f"differ{'s' if len(changes) == 1 else ''} from the checkpoint. Set resume: false "
            "(or point checkpoint_dir elsewhere) to start fresh."
        )


def _apply_optimizer_settings(
    optimizer: torch.optim.Optimizer, settings: dict[str, Any], name: str
) -> None:
    """Put the configured lr/betas back after loading a checkpoint's optimiser state (which
    carries the old ones): lowering a learning rate and resuming is a way out of a divergence."""
    wanted = _adam_kwargs(settings)
    for i, group in enumerate(optimizer.param_groups):
        changes = changed_settings(group, wanted, name)
        if changes and i == 0:
            logger.info("Resumed with new optimiser settings: %s", ", ".join(changes))
        group.update(wanted)


def cpu_copy(state: StateDict) -> StateDict:
    """A detached CPU copy of a state dict (a snapshot that later updates cannot change)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _isolated_rng(seed: int) -> Iterator[None]:
    """Run with every RNG seeded to ``seed``, then put the training RNG states back."""
    saved = capture_rng_state()
    _seed_everything(seed)
    try:
        yield
    finally:
        restore_rng_state(saved)


def interactive() -> bool:
    """A terminal or a notebook: where a progress bar helps (not log files, not CI)."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def _fmt(entry: dict[str, float]) -> str:
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in entry.items()
        if k != "epoch"
    )
