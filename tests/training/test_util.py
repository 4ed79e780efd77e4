"""The small torch helpers: state-dict snapshots and RNG seeding, capture and restore."""

from __future__ import annotations

import random

import numpy as np
import torch

from cxr_synth.training.checkpoint import load_checkpoint, save_checkpoint
from cxr_synth.training.util import (
    capture_rng_state,
    cpu_copy,
    isolated_rng,
    restore_rng_state,
    seed_everything,
)


def _draws() -> tuple[float, float, torch.Tensor]:
    return random.random(), float(np.random.rand()), torch.rand(3)


def _same(a, b) -> bool:
    return a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_rng_state_round_trip_through_a_file(tmp_path):
    seed_everything(1)
    save_checkpoint({"rng": capture_rng_state()}, tmp_path / "rng.pt")
    first = _draws()
    seed_everything(2)
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert _same(first, _draws())


def test_isolated_rng_is_seeded_and_restores_the_outer_streams():
    seed_everything(3)
    expected = _draws()
    seed_everything(3)
    with isolated_rng(7):
        inside = _draws()
    seed_everything(7)
    assert _same(inside, _draws())
    seed_everything(3)
    with isolated_rng(7):
        _draws()
    assert _same(expected, _draws())


def test_cpu_copy_is_a_detached_snapshot():
    weight = torch.ones(2, requires_grad=True)
    copy = cpu_copy({"w": weight})
    with torch.no_grad():
        weight.add_(1)
    assert torch.equal(copy["w"], torch.ones(2)) and not copy["w"].requires_grad
