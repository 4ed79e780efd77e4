"""What a checkpoint records besides the :class:`~cxr_synth.training.state.TrainState`, and
the checks before a resume loads one.

A checkpoint is ``{**header(gan, config), **state.state_dict()}``: the header names the GAN,
the format, the loop config and the model description. Resuming with a changed model or loop
is refused by name before anything is loaded (settings a resumed run may change excepted).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from cxr_synth.models.base import GAN, RESUMABLE_OPTIONS
from cxr_synth.runtime.errors import UserError
from cxr_synth.training.checkpoint import load_checkpoint
from cxr_synth.training.loop_config import RESUMABLE_KEYS, TrainConfig, changed_settings
from cxr_synth.training.state import PARTS

logger = logging.getLogger("cxr_synth.training")

FORMAT = 1  # "model" was added later: checkpoints without it are compared on the loop only
_STATE_KEYS = (*PARTS, "epoch", "global_step", "collapse_count", "history", "best", "rng")


class ResumeMismatch(UserError, ValueError):
    """``resume: true`` with a model or loop config that differs from the checkpoint's."""


def header(gan: GAN, config: TrainConfig) -> dict[str, Any]:
    """The checkpoint entries that identify the run (checked on resume, never loaded)."""
    return {
        "format": FORMAT,
        "gan_name": gan.name,
        "config": config.to_dict(),
        "model": model_description(gan),
    }


def model_description(gan: GAN) -> dict[str, Any]:
    """What a checkpoint records about the model: the GAN's loop-facing fields and its options."""
    return {
        "latent_dim": gan.latent_dim,
        "n_critic": gan.n_critic,
        "ema_decay": gan.ema_decay,
        **gan.options,
    }


def read_for_resume(path: Path, gan: GAN, config: TrainConfig) -> dict[str, Any]:
    """Load checkpoint ``path`` (CPU tensors) after checking that it can resume this run."""
    ckpt = load_checkpoint(path, map_location="cpu")
    missing = [k for k in ("gan_name", *_STATE_KEYS) if k not in ckpt]
    if missing or ckpt.get("format", FORMAT) > FORMAT:
        problem = f"it lacks {', '.join(missing)}" if missing else f"format {ckpt['format']}"
        raise UserError(
            f"Cannot resume from {path}: not a train_gan checkpoint this version reads "
            f"({problem}). Set resume: false or point checkpoint_dir elsewhere."
        )
    if ckpt["gan_name"] != gan.name:
        raise ResumeMismatch(
            f"Checkpoint {path} belongs to GAN {ckpt['gan_name']!r}, not {gan.name!r}; "
            "point checkpoint_dir elsewhere or set resume: false"
        )
    changes = changed_settings(
        ckpt.get("model") or {}, model_description(gan), "model", RESUMABLE_OPTIONS
    )
    changes += changed_settings(ckpt.get("config") or {}, config.to_dict(), "loop", RESUMABLE_KEYS)
    if changes:
        raise ResumeMismatch(
            f"Cannot resume from {path}: {', '.join(changes)} "
            f"differ{'s' if len(changes) == 1 else ''} from the checkpoint. Set resume: false "
            "(or point checkpoint_dir elsewhere) to start fresh."
        )
    return ckpt


def adam_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """A GAN's optimiser settings as ``torch.optim.Adam`` arguments (YAML lists -> tuples)."""
    kwargs = dict(settings)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return kwargs


def apply_optimizer_settings(
    optimizer: torch.optim.Optimizer, settings: dict[str, Any], name: str
) -> None:
    """Put the configured lr/betas back after loading a checkpoint's optimiser state (which
    carries the old ones): lowering a learning rate and resuming is a way out of a divergence."""
    wanted = adam_kwargs(settings)
    for i, group in enumerate(optimizer.param_groups):
        changes = changed_settings(group, wanted, name)
        if changes and i == 0:
            logger.info("Resumed with new optimiser settings: %s", ", ".join(changes))
        group.update(wanted)
