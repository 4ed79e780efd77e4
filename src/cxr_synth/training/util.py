"""Small torch helpers shared by the GAN and U-Net loops: state-dict snapshots, RNG seeding,
capture and restore, and whether a progress bar helps."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

StateDict = dict[str, torch.Tensor]


def cpu_copy(state: StateDict) -> StateDict:
    """A detached CPU copy of a state dict (a snapshot that later updates cannot change)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA RNG states, as types ``weights_only`` loading accepts."""
    version, mt_state, gauss_next = random.getstate()
    bit_generator, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "python": [version, list(mt_state), gauss_next],
        "numpy": [
            bit_generator,
            torch.from_numpy(key.astype(np.int64)),
            pos,
            has_gauss,
            cached_gaussian,
        ],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, mt_state, gauss_next = state["python"]
    random.setstate((version, tuple(mt_state), gauss_next))
    bit_generator, key, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state(
        (bit_generator, key.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian)
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Run with every RNG seeded to ``seed``, then put the previous RNG states back."""
    saved = capture_rng_state()
    seed_everything(seed)
    try:
        yield
    finally:
        restore_rng_state(saved)


def interactive() -> bool:
    """A terminal or a notebook: where a progress bar helps (not log files, not CI)."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules
