"""Exponential moving average of the generator's weights (Karras et al. 2018, "Progressive GAN").

A thin wrapper over ``torch.optim.swa_utils.AveragedModel``: ``ema.module`` is a copy of G whose
parameters and buffers follow ``w_ema <- d * w_ema + (1 - d) * w`` after every G step. Its
``state_dict()`` keys are G's, so the weights load straight into a fresh generator.

The decay warms up as ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (the
``num_updates`` rule of TensorFlow's ExponentialMovingAverage): with a fixed 0.999 a short run
would sample from weights that are still ~90 % the random initialisation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warmup_decay(decay: float, num_updates: int) -> float:
    """The decay used for the ``num_updates``-th update (0-based)."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


def make_ema(generator: nn.Module, decay: float) -> AveragedModel:
    """An EMA copy of ``generator`` (parameters and buffers), kept in eval mode."""

    @torch.no_grad()
    def ema_update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        weight = 1.0 - warmup_decay(decay, int(num_averaged))
        for mean, value in zip(averaged, current, strict=True):
            if mean.is_floating_point():
                mean.lerp_(value, weight)
            else:  # integer buffers, e.g. BatchNorm's num_batches_tracked
                mean.copy_(value)

    ema = AveragedModel(generator, multi_avg_fn=ema_update, use_buffers=True)
    ema.requires_grad_(False)
    ema.eval()
    return ema
