"""Exponential moving average of the generator's weights (Karras et al. 2018, "Progressive GAN").

``ema.module`` is a copy of G whose parameters and buffers follow
``w_ema <- d * w_ema + (1 - d) * w`` after every G step (the first update copies G). Its
``state_dict()`` keys are G's, so the weights load straight into a fresh generator.

The decay warms up as ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (the
``num_updates`` rule of TensorFlow's ExponentialMovingAverage): with a fixed 0.999 a short run
would sample from weights that are still ~90 % the random initialisation.

The update count is a Python int and the average one ``torch._foreach_lerp_`` over all
floating-point tensors, so an update never waits for the GPU (``AveragedModel`` keeps the count
in a tensor that it reads back with ``int()`` every step, and lerps tensor by tensor). The
results are the same to the bit as ``AveragedModel`` with a per-tensor ``lerp_`` (tested on
CPU), and the checkpoint format is AveragedModel's: ``{"n_averaged": tensor, "module.<key>": ...}``.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import torch
from torch import nn


def warmup_decay(decay: float, num_updates: int) -> float:
    """The decay used for the ``num_updates``-th update (0-based)."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


def _tensors(module: nn.Module) -> list[torch.Tensor]:
    return [t.detach() for t in itertools.chain(module.parameters(), module.buffers())]


class EMA:
    """An EMA copy of a generator (parameters and buffers), kept in eval mode."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(generator)
        self.module.requires_grad_(False)
        self.module.eval()
        self.decay = decay
        self.num_updates = 0
        tensors = _tensors(self.module)
        self._floats = [i for i, t in enumerate(tensors) if t.is_floating_point()]
        self._others = [i for i, t in enumerate(tensors) if not t.is_floating_point()]

    @torch.no_grad()
    def update_parameters(self, generator: nn.Module) -> None:
        averaged, current = _tensors(self.module), _tensors(generator)
        if len(averaged) != len(current):
            raise ValueError("the generator's tensors do not match the EMA copy's")
        if self.num_updates == 0:
            torch._foreach_copy_(averaged, current)
        else:
            weight = 1.0 - warmup_decay(self.decay, self.num_updates)
            torch._foreach_lerp_(
                [averaged[i] for i in self._floats], [current[i] for i in self._floats], weight
            )
            for i in self._others:  # integer buffers, e.g. BatchNorm's num_batches_tracked
                averaged[i].copy_(current[i])
        self.num_updates += 1

    def state_dict(self) -> dict[str, Any]:
        """AveragedModel's layout: the update count and the averaged weights under ``module.``."""
        state: dict[str, Any] = {"n_averaged": torch.tensor(self.num_updates, dtype=torch.long)}
        state.update({f"module.{k}": v for k, v in self.module.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.num_updates = int(state["n_averaged"])
        prefix = "module."
        self.module.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )


def make_ema(generator: nn.Module, decay: float) -> EMA:
    """An EMA copy of ``generator`` (parameters and buffers), kept in eval mode."""
    return EMA(generator, decay)
