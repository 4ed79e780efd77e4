"""Everything a training run changes, in one object: what a checkpoint holds and resume loads.

:class:`TrainState` holds the networks (the plain modules, not their DDP or compiled views; D
is None for a single-network model), their optimisers and grad scalers, the EMA of G, the
counters, the per-epoch history and the best generator so far. ``state_dict()`` is a
checkpoint's content, every process's RNG streams included; ``load_state_dict()`` its inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cxr_synth.training import distributed
from cxr_synth.training.ema import EMA
from cxr_synth.training.util import StateDict, capture_rng_state, cpu_copy, restore_rng_state

# The parts with their own state_dict(), saved under their attribute names.
PARTS = ("generator", "discriminator", "g_optimizer", "d_optimizer", "g_scaler", "d_scaler", "ema")


@dataclass
class Best:
    """The evaluated generator with the lowest FID so far (all None before the first FID)."""

    score: float | None = None
    epoch: int | None = None
    generator: StateDict | None = None  # CPU copy of its state_dict

    def offer(self, score: float | None, epoch: int, generator: nn.Module) -> bool:
        """Keep a copy of ``generator`` if ``score`` is finite and lower; returns whether kept."""
        if score is None or not math.isfinite(score):
            return False
        if self.score is not None and score >= self.score:
            return False
        self.score, self.epoch, self.generator = score, epoch, cpu_copy(generator.state_dict())
        return True


@dataclass
class TrainState:
    """The mutable part of a run; see the module doc."""

    generator: nn.Module
    discriminator: nn.Module | None  # None, and no D optimiser or scaler: a single network
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer | None
    g_scaler: torch.amp.GradScaler
    d_scaler: torch.amp.GradScaler | None
    ema: EMA | None = None
    epoch: int = 0  # last completed epoch
    global_step: int = 0  # completed steps (D updates; G updates without D)
    collapse_count: int = 0  # consecutive steps with a collapsed discriminator
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per epoch
    best: Best = field(default_factory=Best)

    def modules(self) -> list[nn.Module]:
        """The networks with buffers to keep in step: G, D and the EMA copy of G (if any)."""
        modules = [self.generator, self.discriminator, self.ema.module if self.ema else None]
        return [m for m in modules if m is not None]

    def state_dict(self, info: distributed.DistInfo | None = None) -> dict[str, Any]:
        """The parts' state dicts, counters, history, best and ``"rng"``: a list of every
        process's RNG states (under DDP a collective: every rank calls it)."""
        state: dict[str, Any] = {name: _state_of(getattr(self, name)) for name in PARTS}
        state.update(
            epoch=self.epoch,
            global_step=self.global_step,
            collapse_count=self.collapse_count,
            history=list(self.history),
            best=dict(vars(self.best)),
            rng=distributed.gather_objects(capture_rng_state(), info or distributed.DistInfo()),
        )
        return state

    def load_state_dict(
        self, state: dict[str, Any], info: distributed.DistInfo | None = None
    ) -> bool:
        """Load a :meth:`state_dict`. Returns whether this process's RNG streams were restored:
        False when it was written by another number of processes (the RNGs are left as is)."""
        for name in PARTS:
            part, saved = getattr(self, name), state[name]
            if part is not None and saved:  # None: no EMA or D; {}: a scaler saved without fp16
                part.load_state_dict(saved)
        self.epoch, self.global_step = state["epoch"], state["global_step"]
        self.collapse_count = state["collapse_count"]
        self.history = list(state["history"])
        self.best = Best(**state["best"])
        info = info or distributed.DistInfo()
        if len(state["rng"]) != info.world_size:
            return False
        restore_rng_state(state["rng"][info.rank])
        return True


def _state_of(part: Any) -> Any:
    return part.state_dict() if part is not None else None
