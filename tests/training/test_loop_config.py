"""TrainConfig: defaults, unknown keys, invalid values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxr_synth.training import TrainConfig


def test_defaults():
    config = TrainConfig.from_dict({})
    assert config == TrainConfig()
    assert (config.epochs, config.batch_size, config.device, config.precision) == (
        100,
        128,
        "auto",
        "auto",
    )
    assert config.compile is False and config.resume is False and config.checkpoint_dir is None


def test_unknown_keys_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match=r"training.loop.epoch: unknown key; did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3, "batch_size": 4}, prefix="training.loop")
    with pytest.raises(ValueError, match="zzz: unknown key; valid: .*checkpoint_every"):
        TrainConfig.from_dict({"zzz": 1})


@pytest.mark.parametrize(
    "params, message",
    [
        ({"precision": "fp8"}, "precision: Input should be 'auto', 'fp32', 'bf16' or 'fp16'"),
        ({"device": "tpu"}, "device: must be auto, cpu, cuda, cuda:N or mps"),
        ({"epochs": 0}, "epochs: Input should be greater than or equal to 1"),
        ({"epochs": True}, "epochs: must be a number, not true/false"),
        ({"batch_size": 2.5}, "batch_size: Input should be a valid integer"),
        ({"compile": "yes"}, "compile: Input should be a valid boolean"),
        ({"num_workers": -1}, "num_workers"),
        ({"max_steps_per_epoch": 0}, "max_steps_per_epoch"),
    ],
)
def test_invalid_values(params, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(params)


def test_yaml_like_values():
    config = TrainConfig.from_dict(
        {"checkpoint_dir": Path("/tmp/ckpt"), "device": "cuda:1", "max_steps_per_epoch": None}
    )
    assert config.checkpoint_dir == "/tmp/ckpt"
    assert config.device == "cuda:1"
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_loop_overrides_validate_what_they_set_and_keep_the_rest():
    from cxr_synth.training.loop_config import LoopOverrides

    shared = TrainConfig.from_dict({"epochs": 10, "batch_size": 8})
    merged = shared.override(LoopOverrides.parse({"epochs": 2, "collapse_threshold": None}))
    assert (merged.epochs, merged.batch_size) == (2, 8)
    with pytest.raises(ValueError, match="dcgan.loop.epochs: Input should be greater than"):
        LoopOverrides.parse({"epochs": 0}, prefix="dcgan.loop")
    with pytest.raises(ValueError, match="dcgan.loop.n_critic: unknown key"):
        LoopOverrides.parse({"n_critic": 2}, prefix="dcgan.loop")


def test_resume_without_checkpoints_is_refused_when_training_starts():
    from cxr_synth.training import train_gan

    with pytest.raises(ValueError, match="resume: true needs a checkpoint_dir"):
        train_gan(None, None, {"resume": True})  # refused before the GAN is touched
