"""Checks before a resume: the checkpoint's layout, format and GAN (changed settings are in
tests/reliability/test_resume_config.py)."""

from __future__ import annotations

import pytest
import torch

from cxr_synth.runtime.errors import UserError
from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from cxr_synth.training.resume import ResumeMismatch
from tests.training import Blobs, make_tiny_gan, states_equal, tiny_config

# The layout that _Trainer._save built by hand before TrainState (format 1).
OLD_LAYOUT = (
    "format",
    "gan_name",
    "epoch",
    "global_step",
    "generator",
    "discriminator",
    "g_optimizer",
    "d_optimizer",
    "ema",
    "g_scaler",
    "d_scaler",
    "rng",
    "history",
    "best",
    "collapse_count",
    "config",
    "model",
)


@pytest.fixture
def one_epoch(tmp_path):
    """A checkpoint of epoch 1 of the tiny GAN with EMA; returns its loop config."""
    config = tiny_config(epochs=1, checkpoint_dir=str(tmp_path / "ckpt"))
    train_gan(make_tiny_gan(ema_decay=0.9), Blobs(), config)
    return config


def test_a_checkpoint_in_the_old_layout_resumes_exactly(tmp_path, one_epoch):
    path = latest_checkpoint(one_epoch["checkpoint_dir"])
    written = load_checkpoint(path)
    assert set(written) == set(OLD_LAYOUT)  # TrainState writes the same 17 keys
    save_checkpoint({key: written[key] for key in OLD_LAYOUT}, path)
    resumed = train_gan(
        make_tiny_gan(seed=9, ema_decay=0.9), Blobs(), {**one_epoch, "epochs": 2, "resume": True}
    )
    full = train_gan(
        make_tiny_gan(ema_decay=0.9),
        Blobs(),
        tiny_config(epochs=2, checkpoint_dir=str(tmp_path / "full")),
    )
    for part in ("generator", "discriminator", "ema"):
        assert states_equal(full.final_state[part], resumed.final_state[part]), part


@pytest.mark.parametrize(
    ("change", "drop", "problem"),
    [({"format": 99}, (), "format 99"), ({}, ("global_step", "rng"), "it lacks global_step, rng")],
)
def test_unreadable_checkpoints_are_refused_by_name(one_epoch, change, drop, problem):
    path = latest_checkpoint(one_epoch["checkpoint_dir"])
    ckpt = {k: v for k, v in {**load_checkpoint(path), **change}.items() if k not in drop}
    save_checkpoint(ckpt, path)
    with pytest.raises(UserError) as err:
        train_gan(make_tiny_gan(ema_decay=0.9), Blobs(), {**one_epoch, "epochs": 2, "resume": True})
    message = str(err.value)
    assert str(path) in message and problem in message and "resume: false" in message
    assert torch.load(path, weights_only=True)["epoch"] == 1  # nothing was overwritten


def test_another_gan_is_a_resume_mismatch(one_epoch):
    other = make_tiny_gan(ema_decay=0.9)
    other.name = "other"
    with pytest.raises(ResumeMismatch, match="belongs to GAN 'tiny', not 'other'"):
        train_gan(other, Blobs(), {**one_epoch, "epochs": 2, "resume": True})
