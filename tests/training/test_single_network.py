"""The loop with a single-network model (``discriminator=None``): G steps on real data only;
seeding, checkpoints, resume, EMA, micro-batches and evaluation work as for a GAN."""

from __future__ import annotations

import torch

from cxr_synth.training import train_gan
from cxr_synth.training.checkpoint import latest_checkpoint
from tests.training import Blobs, make_tiny_single, states_equal, tiny_config


def test_trains_the_generator_alone():
    scores = iter([3.0, 1.0, 2.0])
    result = train_gan(
        make_tiny_single(ema_decay=0.9),
        Blobs(),
        tiny_config(epochs=3, collapse_threshold=1e9),  # no D: nothing can collapse
        evaluate=lambda g: {"fid": next(scores)},
    )
    assert result.global_step == 6 and result.final_state["discriminator"] is None
    assert {"g_loss", "mse"} <= result.history[0].keys() and "d_loss" not in result.history[0]
    assert result.history[-1]["g_loss"] < result.history[0]["g_loss"]  # it learns
    assert result.best_epoch == 2 and result.best_score == 1.0
    assert not states_equal(result.final_state["ema"], result.final_state["generator"])


def test_seeded_runs_are_identical():
    a, b, c = (train_gan(make_tiny_single(), Blobs(), tiny_config(seed=s)) for s in (0, 0, 1))
    assert states_equal(a.final_state["generator"], b.final_state["generator"])
    assert not states_equal(a.final_state["generator"], c.final_state["generator"])


def test_resume_is_exactly_equivalent(tmp_path):
    full = train_gan(
        make_tiny_single(ema_decay=0.9),
        Blobs(),
        tiny_config(epochs=2, checkpoint_dir=str(tmp_path / "a")),
    )
    config = tiny_config(epochs=1, checkpoint_dir=str(tmp_path / "b"))
    train_gan(make_tiny_single(ema_decay=0.9), Blobs(), config)
    ckpt = torch.load(latest_checkpoint(tmp_path / "b"), weights_only=True)
    assert ckpt["discriminator"] is ckpt["d_optimizer"] is ckpt["d_scaler"] is None
    resumed = train_gan(
        make_tiny_single(seed=7, ema_decay=0.9), Blobs(), {**config, "epochs": 2, "resume": True}
    )
    assert resumed.global_step == 4
    for part in ("generator", "ema"):
        assert states_equal(full.final_state[part], resumed.final_state[part]), part
    assert [h["g_loss"] for h in full.history] == [h["g_loss"] for h in resumed.history]


def test_micro_batches_step_once_per_batch():
    result = train_gan(make_tiny_single(), Blobs(), tiny_config(micro_batch_size=2))
    assert result.global_step == 4 and torch.isfinite(torch.tensor(result.history[-1]["mse"]))
