"""The training loop, written once for every GAN in the zoo.

The loop knows nothing about architectures or losses: a :class:`~cxr_synth.models.base.GAN`
brings G, D, the objective and its optimiser settings. Per step (one batch of real images):

1. D step: ``fake = G(z)`` without gradients, ``objective.discriminator_loss(D, real, fake, step)``.
2. Every ``n_critic`` steps, a G step: ``objective.generator_loss(D, G(z))`` with D frozen,
   then the EMA of G's weights is updated (when ``gan.ema_decay`` is set).

A conditional model (``base.ConditionalObjective``, e.g. mask2image) gets ``objective.condition(
real)`` in place of ``z`` in both steps, and its G loss also sees the real batch; its sample grid
shows the conditions of the first ``grid_samples`` training items.

A single-network model (``discriminator=None``, e.g. diffusion) has one step per batch instead:
``objective.generator_loss(G, real)``, then the EMA update; it has no D optimiser or scaler.

Each step's batch may run as several micro-batches of ``micro_batch_size`` (gradients
accumulated, losses weighted by their share, one optimiser step, one ``step`` for lazy
regularisers and ``n_critic``); by default the whole batch is one micro-batch.

Losses are reduced over ranks and checked every step (one host sync per step): NaN/inf, or an
optional discriminator collapse, raises :class:`TrainingDiverged` before anything is saved.
Every ``eval_every`` epochs and at the end, the EMA generator (else G) is sampled from fixed
noise and passed to ``evaluate``; the lowest ``"fid"`` selects the best generator. Evaluation
runs with its own seeded RNG and restores the training RNG afterwards, so evaluating (or not)
never changes training.

What the run changes lives in a :class:`~cxr_synth.training.state.TrainState`, which is what
the checkpoints written at epoch ends hold (``resume.py`` checks one before it is loaded);
progress bar, log lines, tracker parameters and the sample grid are in ``reporting.py``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from cxr_synth.models.base import GAN, is_conditional, needs_double_backward
from cxr_synth.runtime.devices import (
    autocast_context,
    make_grad_scaler,
    resolve_device,
    resolve_settings,
)
from cxr_synth.runtime.rank import local_rank
from cxr_synth.runtime.schema import ParameterError
from cxr_synth.training import distributed, reporting
from cxr_synth.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from cxr_synth.training.ema import make_ema
from cxr_synth.training.loop_config import TrainConfig
from cxr_synth.training.resume import (
    adam_kwargs,
    apply_optimizer_settings,
    header,
    read_for_resume,
)
from cxr_synth.training.state import Best, TrainState
from cxr_synth.training.tracking import NullTracker, Tracker
from cxr_synth.training.util import StateDict, cpu_copy, isolated_rng, seed_everything

logger = logging.getLogger("cxr_synth.training")

Evaluate = Callable[[nn.Module], dict[str, float]]
Losses = dict[str, torch.Tensor]


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

    ``best`` is the generator (EMA weights when EMA is on) with the lowest ``"fid"`` returned
    by ``evaluate``; without any FID it is the final generator with score None at the last
    epoch. Under DDP only rank 0 evaluates, so only rank 0's best reflects FID.
    """

    best: Best
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
    def best_state(self) -> StateDict:
        return self.best.generator

    @property
    def best_score(self) -> float | None:
        return self.best.score

    @property
    def best_epoch(self) -> int:
        return self.best.epoch


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
        device = torch.device("cuda", local_rank())
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


class _Trainer:
    """One ``train_gan`` call: the set-up in ``__init__``, the epochs in :meth:`run`."""

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
        self.precision, self.channels_last = resolve_settings(
            device, config.precision, config.channels_last
        )
        self.last_checkpoint: Path | None = None
        self.samples: np.ndarray | None = None
        if config.batch_size % info.world_size:
            raise ParameterError(
                f"batch_size {config.batch_size} is not divisible by the {info.world_size} processes"
            )
        self.local_batch = config.batch_size // info.world_size
        self.micro_batch = min(config.micro_batch_size or self.local_batch, self.local_batch)
        if self.local_batch % self.micro_batch:
            raise ParameterError(
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
            raise ParameterError(
                f"{gan.name}: the training set ({len(dataset)} images) is smaller than one batch "
                f"({config.batch_size}); set training.loop.batch_size (or {gan.name}.loop, "
                f"pair_training.loop for pairs) to at most {len(dataset)}"
            )
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.state = self._build_state()
        self.conditional = is_conditional(gan.objective)
        self.fixed_z = self._fixed_inputs().to(device)
        self.loader, self.epoch_sampler = distributed.make_loader(
            dataset,
            self.sampler,
            batch_size=self.local_batch,
            num_workers=config.num_workers,
            seed=config.seed,
            pin_memory=device.type == "cuda",
        )

    def _fixed_inputs(self) -> torch.Tensor:
        """G's inputs for the sample grid: seeded noise, or (conditional) the conditions of the
        first ``grid_samples`` training items, loaded under a seeded, isolated RNG."""
        config, dataset = self.config, self.dataset
        if self.conditional:
            with isolated_rng(config.seed):
                items = [dataset[i % len(dataset)] for i in range(config.grid_samples)]
            return self.gan.objective.condition(torch.stack(items))
        noise = torch.Generator().manual_seed(config.seed)
        return torch.randn(config.grid_samples, self.gan.latent_dim, generator=noise)

    def _build_state(self) -> TrainState:
        """G and D (if any) on the device (SyncBatchNorm where it applies) with optimisers,
        scalers and EMA; sets their training views ``g_train``/``d_train`` (DDP, compiled)."""
        gan, config, device, info = self.gan, self.config, self.device, self.info
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        g, d = gan.generator, gan.discriminator
        self.sync_batchnorm = distributed.use_sync_batchnorm(config.sync_batchnorm, info, device)
        if self.sync_batchnorm:  # before DDP and the optimisers; parameters are kept
            g = distributed.convert_sync_batchnorm(g)
            if d is not None and needs_double_backward(gan.objective):  # no double backward
                self.sync_batchnorm = "generator"
            elif d is not None:
                d = distributed.convert_sync_batchnorm(d)
        g = g.to(device, memory_format=memory_format)
        self.g_train = distributed.wrap(g, info, device)  # DDP syncs rank 0's weights
        d_optimizer, d_scaler, self.d_train, self.d_params = None, None, None, []
        if d is not None:
            d = d.to(device, memory_format=memory_format)
            self.d_train = distributed.wrap(d, info, device)
            d_optimizer = torch.optim.Adam(d.parameters(), **adam_kwargs(gan.d_optimizer))
            d_scaler = make_grad_scaler(device, self.precision)
            self.d_params = [p for p in d.parameters() if p.requires_grad]
        state = TrainState(
            generator=g,
            discriminator=d,
            g_optimizer=torch.optim.Adam(g.parameters(), **adam_kwargs(gan.g_optimizer)),
            d_optimizer=d_optimizer,
            g_scaler=make_grad_scaler(device, self.precision),
            d_scaler=d_scaler,
            ema=make_ema(g, gan.ema_decay) if gan.ema_decay is not None else None,
        )
        if self.compile_g:
            self.g_train = torch.compile(self.g_train)
        if self.compile_d:
            self.d_train = torch.compile(self.d_train)
        return state

    # ------------------------------------------------------------------------------- run
    def run(self, started: float) -> TrainResult:
        config, info, state = self.config, self.info, self.state
        self._start_or_resume()
        if info.is_main:
            reporting.log_start(
                self.gan,
                config,
                self.tracker,
                device=self.device,
                precision=self.precision,
                world_size=info.world_size,
                compile="G only" if self.compile_g and not self.compile_d else self.compile_d,
                sync_batchnorm=self.sync_batchnorm,
                images=len(self.dataset),
                local_batch=self.local_batch,
                steps_per_epoch=self.steps_per_epoch,
                micro_batch=self.micro_batch,
            )
            self.tracker.log_params({"train.resolved_channels_last": self.channels_last})
            if config.channels_last == "auto":
                logger.info("channels_last auto: %s on this machine", self.channels_last)
        train_time, images = 0.0, 0
        for epoch in range(state.epoch + 1, config.epochs + 1):
            entry = self._train_epoch(epoch)
            train_time += entry["epoch_time_s"]
            images += self.steps_per_epoch * config.batch_size
            for module in state.modules():
                distributed.average_buffers(module, info)
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                if info.is_main:
                    entry.update(self._evaluate(epoch))
                distributed.barrier(info)  # the other ranks wait here, not inside a collective
            state.epoch = epoch
            state.history.append(entry)
            if config.checkpoint_dir is not None and (
                epoch % config.checkpoint_every == 0 or epoch == config.epochs
            ):
                self._save(epoch)
            if info.is_main:
                logger.info(
                    "%s epoch %d/%d: %s",
                    self.gan.name,
                    epoch,
                    config.epochs,
                    reporting.format_entry(entry),
                )
        if self.samples is None and info.is_main:
            self.samples = reporting.sample_grid(self._eval_generator(), self.fixed_z)
        timing = {
            "wall_time_s": time.perf_counter() - started,
            "train_time_s": train_time,
            "images": float(images),
            "images_per_s": images / train_time if train_time else 0.0,
        }
        return self._result(timing)

    def _start_or_resume(self) -> None:
        config, state = self.config, self.state
        say = logger.info if self.info.is_main else logger.debug  # one voice under DDP
        if config.checkpoint_dir is None and self.info.is_main:
            logger.warning("checkpoint_dir is not set: no checkpoints will be written")
        path = latest_checkpoint(config.checkpoint_dir) if config.resume else None
        if path is None:
            if config.resume:  # e.g. a mistyped folder: never silent
                (logger.warning if self.info.is_main else logger.debug)(
                    "resume: true, but there is no checkpoint in %s: starting fresh (check "
                    "checkpoint_dir / checkpoint_root)", Path(config.checkpoint_dir).resolve(),
                )  # fmt: skip
            seed_everything(config.seed + self.info.rank)
            return
        say("Resuming from checkpoint %s", path)
        self._restore(path)
        say(
            "Resumed at epoch %d, step %d; training epochs %d-%d",
            state.epoch,
            state.global_step,
            state.epoch + 1,
            config.epochs,
        )

    # ----------------------------------------------------------------------------- epoch
    def _train_epoch(self, epoch: int) -> dict[str, float]:
        config, state = self.config, self.state
        log = reporting.EpochLog(
            f"{self.gan.name} {epoch}/{config.epochs}",
            self.steps_per_epoch,
            config.batch_size,
            config.log_every,
            self.tracker,
            show=self.info.is_main,
        )
        self.epoch_sampler.set_epoch(epoch)  # the order depends only on seed and epoch
        for i, batch in enumerate(self.loader):
            if i >= self.steps_per_epoch:
                break
            values = self._train_step(self._to_device(batch))
            self._check_divergence(epoch, values)
            log.add(values, state.global_step)
        return log.close(epoch, state.global_step)

    def _to_device(self, batch: Any) -> torch.Tensor:
        if isinstance(batch, (list, tuple)):  # (image, label) datasets: images only
            batch = batch[0]
        memory_format = torch.channels_last if self.channels_last else torch.preserve_format
        return batch.to(self.device, non_blocking=True, memory_format=memory_format)

    def _train_step(self, real: torch.Tensor) -> dict[str, float]:
        """One step on a batch of real images; returns its rank-mean scalars."""
        if self.d_train is None:
            scalars = self._single_network_step(real)
        else:
            scalars = self._adversarial_step(real)
        self.state.global_step += 1
        values = torch.stack([v.detach().float().mean() for v in scalars.values()])
        distributed.all_reduce_mean(values, self.info)
        return dict(zip(scalars, values.tolist(), strict=True))

    def _generator_inputs(self, real: torch.Tensor) -> torch.Tensor:
        """G's inputs for a batch: its condition (a conditional objective), else fresh noise."""
        if self.conditional:
            return self.gan.objective.condition(real)
        return torch.randn(real.shape[0], self.gan.latent_dim, device=self.device)

    def _adversarial_step(self, real: torch.Tensor) -> Losses:
        """One D update and, every ``n_critic`` steps, one G update."""
        gan, state, step = self.gan, self.state, self.state.global_step
        z = self._generator_inputs(real)

        def d_loss(real_i: torch.Tensor, z_i: torch.Tensor) -> tuple[torch.Tensor, Losses]:
            with torch.no_grad():
                fake = self.g_train(z_i)
            return gan.objective.discriminator_loss(self.d_train, real_i, fake, step)

        scalars = self._update(
            self.d_train, state.d_optimizer, state.d_scaler, "d_loss", d_loss, real, z
        )
        if (step + 1) % gan.n_critic == 0:
            scalars.update(self._generator_step(real))
        return scalars

    def _single_network_step(self, real: torch.Tensor) -> Losses:
        """``generator_loss(G, real)``: G trained on the real images alone, then the EMA update."""
        state, objective = self.state, self.gan.objective

        def g_loss(real_i: torch.Tensor) -> tuple[torch.Tensor, Losses]:
            return objective.generator_loss(self.g_train, real_i)

        logs = self._update(self.g_train, state.g_optimizer, state.g_scaler, "g_loss", g_loss, real)
        if state.ema is not None:
            state.ema.update_parameters(state.generator)
        return logs

    def _generator_step(self, real: torch.Tensor) -> Losses:
        """``generator_loss(D, G(z))`` (conditional: ``generator_loss(D, G(condition), real)``)
        with D frozen (no weight gradients: saves a third of its backward; no DDP all-reduce),
        then the EMA update."""
        gan, state = self.gan, self.state
        z = self._generator_inputs(real)

        def g_loss(z_i: torch.Tensor, real_i: torch.Tensor) -> tuple[torch.Tensor, Losses]:
            fake = self.g_train(z_i)
            if self.conditional:
                return gan.objective.generator_loss(self.d_train, fake, real_i)
            return gan.objective.generator_loss(self.d_train, fake)

        for p in self.d_params:
            p.requires_grad_(False)
        try:
            with distributed.no_sync(self.d_train):
                logs = self._update(
                    self.g_train, state.g_optimizer, state.g_scaler, "g_loss", g_loss, z, real
                )
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        if state.ema is not None:
            state.ema.update_parameters(state.generator)
        return logs

    def _update(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        name: str,
        loss_fn: Callable[..., tuple[torch.Tensor, Losses]],
        *batch: torch.Tensor,
    ) -> Losses:
        """One optimiser step of ``module``: ``loss_fn(*chunk) -> (loss, logs)`` per micro-batch
        of ``batch``, gradients accumulated (each loss weighted by its share; under DDP
        all-reduced on the last chunk). Returns the mean logs with the loss as ``name``."""
        optimizer.zero_grad(set_to_none=True)
        parts = []
        for last, chunk in _micro_batches(self.micro_batch, *batch):
            with distributed.sync_gradients(module, last):
                with autocast_context(self.device, self.precision):
                    loss, logs = loss_fn(*chunk)
                scaler.scale(_share(loss, len(batch[0]), len(chunk[0]))).backward()
            parts.append({**logs, name: loss})
        scaler.step(optimizer)
        scaler.update()
        return _mean_logs(parts)

    def _check_divergence(self, epoch: int, values: dict[str, float]) -> None:
        state, config = self.state, self.config
        bad = [k for k in ("d_loss", "g_loss") if k in values and not math.isfinite(values[k])]
        if bad:
            reason = f"non-finite {' and '.join(bad)}"
            raise TrainingDiverged(reason, epoch, state.global_step, values, self.last_checkpoint)
        if config.collapse_threshold is None or "d_loss" not in values:  # without D: no collapse
            return
        collapsed = values["d_loss"] < config.collapse_threshold
        state.collapse_count = state.collapse_count + 1 if collapsed else 0
        if state.collapse_count >= config.collapse_patience:
            reason = (
                f"discriminator collapse: d_loss below {config.collapse_threshold:g} for "
                f"{state.collapse_count} consecutive steps"
            )
            raise TrainingDiverged(reason, epoch, state.global_step, values, self.last_checkpoint)

    # ------------------------------------------------------------------------ evaluation
    def _eval_generator(self) -> nn.Module:
        return self.state.ema.module if self.state.ema is not None else self.state.generator

    def _evaluate(self, epoch: int) -> dict[str, float]:
        """Sample grid + ``evaluate`` on the EMA generator (else G); updates the best state."""
        generator = self._eval_generator()
        was_training = generator.training
        generator.eval()
        try:
            with isolated_rng(self.config.seed), torch.no_grad():
                self.samples = reporting.sample_grid(generator, self.fixed_z)
                metrics = {
                    k: float(v) for k, v in (self.evaluate or _no_metrics)(generator).items()
                }
        finally:
            generator.train(was_training)
        self.tracker.log_image(self.samples, f"samples/epoch_{epoch:04d}.png")
        if metrics:
            self.tracker.log_metrics(
                {f"eval/{k}": v for k, v in metrics.items()}, step=self.state.global_step
            )
        if self.state.best.offer(metrics.get("fid"), epoch, generator):
            label = getattr(self.evaluate, "label", "FID")  # "FD_rand" on the offline backbone
            logger.info("New best %s %.4g at epoch %d", label, metrics["fid"], epoch)
        return metrics

    # ----------------------------------------------------------------------- checkpoints
    def _save(self, epoch: int) -> None:
        """Rank 0 writes the checkpoint of ``epoch``; the other ranks only remember where."""
        state = self.state.state_dict(self.info)  # a collective: every rank's RNG streams
        path = checkpoint_path(self.config.checkpoint_dir, epoch)
        if self.info.is_main:
            save_checkpoint({**header(self.gan, self.config), **state}, path)
            removed = prune_checkpoints(self.config.checkpoint_dir, self.config.keep_last)
            logger.info(
                "Checkpoint %s written%s",
                path,
                f" ({len(removed)} older removed)" if removed else "",
            )
        self.last_checkpoint = path

    def _restore(self, path: Path) -> None:
        ckpt = read_for_resume(path, self.gan, self.config)
        if not self.state.load_state_dict(ckpt, self.info):
            logger.warning(
                "Checkpoint was written by %d process(es), now %d: RNG streams re-seeded",
                len(ckpt["rng"]),
                self.info.world_size,
            )
            seed_everything(self.config.seed + self.info.rank + 1000 * ckpt["epoch"])
        apply_optimizer_settings(self.state.g_optimizer, self.gan.g_optimizer, "g_optimizer")
        if self.state.d_optimizer is not None:
            apply_optimizer_settings(self.state.d_optimizer, self.gan.d_optimizer, "d_optimizer")
        self.last_checkpoint = path

    # ---------------------------------------------------------------------------- result
    def _result(self, timing: dict[str, float]) -> TrainResult:
        state = self.state
        final = {
            "generator": cpu_copy(state.generator.state_dict()),
            "discriminator": _cpu_state(state.discriminator),
            "ema": _cpu_state(state.ema.module if state.ema is not None else None),
        }
        best = state.best
        if best.generator is None:  # no FID: the final generator
            best = Best(None, state.epoch, final["ema"] or final["generator"])
        return TrainResult(
            best=best,
            final_state=final,
            history=state.history,
            timing=timing,
            epoch=state.epoch,
            global_step=state.global_step,
            device=str(self.device),
            precision=self.precision,
            last_checkpoint=self.last_checkpoint,
            samples=self.samples,
        )


def _no_metrics(generator: nn.Module) -> dict[str, float]:
    return {}


def _cpu_state(module: nn.Module | None) -> StateDict | None:
    return cpu_copy(module.state_dict()) if module is not None else None


def _compile_plan(setting: bool | str, gan: GAN) -> tuple[bool, bool]:
    """(compile G, compile D) for ``compile: true | false | generator`` (D only if there is
    one); refuses compiling a D
    whose objective needs double backward (the error names the option and the way out)."""
    if setting is True and needs_double_backward(gan.objective):
        raise ValueError(
            f"compile: true cannot train {gan.name!r}: its objective "
            f"({type(gan.objective).__name__}) back-propagates through an input gradient "
            "(gradient penalty or R1), and torch.compile does not support double backward. "
            "Set compile: generator to compile G only, or compile: false."
        )
    return bool(setting), setting is True and gan.discriminator is not None


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


def _mean_logs(parts: list[Losses]) -> Losses:
    """Per-key mean over equal-sized micro-batches (the single dict itself when there is one)."""
    if len(parts) == 1:
        return parts[0]
    return {k: torch.stack([p[k].detach().float().mean() for p in parts]).mean() for k in parts[0]}
