"""Checkpoint files: atomic writes, ``weights_only`` loads, rotation.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(path, weights_only=True)`` (no arbitrary unpickling). Files are named
``epoch_000012.pt``; the newest is the one with the highest epoch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from cxr_synth.runtime.atomic import atomic_write

_NAME = re.compile(r"^epoch_(\d+)\.pt$")


def checkpoint_path(directory: str | Path, epoch: int) -> Path:
    return Path(directory) / f"epoch_{epoch:06d}.pt"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest epoch first (temp files are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    paths = list_checkpoints(directory)
    return paths[-1] if paths else None


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` atomically (``cxr_synth.runtime.atomic``): a crash or an exception at any
    point leaves the previous file at ``path`` untouched."""
    path = Path(path)
    with atomic_write(path) as f:
        torch.save(state, f)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``."""
    return torch.load(path, map_location=map_location, weights_only=True)


def prune_checkpoints(directory: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the ``keep_last`` newest checkpoints; returns the deleted paths."""
    paths = list_checkpoints(directory)
    doomed = paths[: max(len(paths) - keep_last, 0)]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed
