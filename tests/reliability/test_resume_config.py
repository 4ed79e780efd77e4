"""Resuming with a changed model or loop config is refused by name, before any state is loaded."""

from __future__ import annotations

import logging

import pytest
import torch

from cxr_synth.models.registry import build_gan
from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from tests.training import Blobs, states_equal, tiny_config

SMALL = {"resolution": 16, "latent_dim": 8, "g_width": 4, "d_width": 4}


def _dcgan(seed: int = 0, **options):
    return build_gan("dcgan", seed=seed, **{**SMALL, **options})


@pytest.fixture
def checkpointed(tmp_path):
    """One epoch of a tiny DCGAN with checkpoints; returns its loop config."""
    config = tiny_config(epochs=1, checkpoint_dir=str(tmp_path / "ckpt"))
    train_gan(_dcgan(), Blobs(), config)
    return config


def test_changed_model_and_loop_are_named(checkpointed):
    path = latest_checkpoint(checkpointed["checkpoint_dir"])
    changed = {**checkpointed, "epochs": 2, "resume": True, "batch_size": 4}
    with pytest.raises(ValueError) as err:
        train_gan(_dcgan(g_width=8), Blobs(), changed)  # not a "size mismatch" traceback
    message = str(err.value)
    # Exactly the two differences: epochs and resume may change, the model's name did not.
    assert message == (
        f"Cannot resume from {path}: model.g_width 4 → 8, loop.batch_size 8 → 4 differ from "
        "the checkpoint. Set resume: false (or point checkpoint_dir elsewhere) to start fresh."
    )


def test_settings_that_may_change_on_resume(checkpointed, caplog):
    changed = {
        **checkpointed,
        "epochs": 2,
        "resume": True,
        "num_workers": 1,
        "log_every": 5,
        "device": "cpu",
        "micro_batch_size": 4,
        "precision": "fp32",
        "eval_every": 3,
        "keep_last": 5,
    }
    with caplog.at_level(logging.INFO, logger="cxr_synth.training"):
        result = train_gan(_dcgan(seed=1, g_lr=1e-4), Blobs(), changed)
    assert result.epoch == 2
    # A new learning rate is applied (the checkpoint's optimiser state carried the old one).
    assert "g_optimizer.lr 0.0002 → 0.0001" in caplog.text
    ckpt = load_checkpoint(latest_checkpoint(checkpointed["checkpoint_dir"]))
    assert ckpt["g_optimizer"]["param_groups"][0]["lr"] == 1e-4
    assert ckpt["d_optimizer"]["param_groups"][0]["lr"] == 2e-4
    assert ckpt["model"]["g_lr"] == 1e-4 and ckpt["model"]["g_width"] == 4


def test_unchanged_config_resumes_exactly(tmp_path, checkpointed):
    full = train_gan(_dcgan(), Blobs(), tiny_config(epochs=2, checkpoint_dir=str(tmp_path / "a")))
    resumed = train_gan(_dcgan(seed=7), Blobs(), {**checkpointed, "epochs": 2, "resume": True})
    for part in ("generator", "discriminator"):
        assert states_equal(full.final_state[part], resumed.final_state[part]), part


def test_checkpoints_without_a_model_record_still_resume(checkpointed):
    path = latest_checkpoint(checkpointed["checkpoint_dir"])
    old = load_checkpoint(path)
    del old["model"]  # written before the model was recorded
    save_checkpoint(old, path)
    result = train_gan(_dcgan(), Blobs(), {**checkpointed, "epochs": 2, "resume": True})
    assert result.epoch == 2
    # The loop config is still compared.
    old = load_checkpoint(latest_checkpoint(checkpointed["checkpoint_dir"]))
    del old["model"]
    save_checkpoint(old, latest_checkpoint(checkpointed["checkpoint_dir"]))
    with pytest.raises(ValueError, match="loop.seed 0 → 1 differs from the checkpoint"):
        train_gan(_dcgan(), Blobs(), {**checkpointed, "epochs": 3, "resume": True, "seed": 1})
    assert torch.load(path, weights_only=True)["epoch"] == 1  # nothing was overwritten
