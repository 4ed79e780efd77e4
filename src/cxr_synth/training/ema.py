"""Exponential moving average of the generator's weights (Karras et al. 2018, "Progressive GAN").

A thin wrapper over ``torch.optim.swa_utils``: ``ema.module`` is a copy of G whose parameters and
buffers follow ``w_ema <- decay * w_ema + (1 - decay) * w``, updated after every G step. Its
``state_dict()`` keys are G's, so the weights load straight into a fresh generator.
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(generator: nn.Module, decay: float) -> AveragedModel:
    """An EMA copy of ``generator`` (parameters and buffers), kept in eval mode."""
    ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.requires_grad_(False)
    ema.eval()
    return ema
