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
    with pytest.raises(ValueError, match=r"'epoch' \(did you mean 'epochs'\?\)") as err:
        TrainConfig.from_dict({"epoch": 3, "batch_size": 4})
    assert "Valid keys:" in str(err.value) and "checkpoint_every" in str(err.value)
    with pytest.raises(ValueError, match="'zzz'"):
        TrainConfig.from_dict({"zzz": 1})


@pytest.mark.parametrize(
    "params, message",
    [
        ({"precision": "fp8"}, "precision must be one of"),
        ({"device": "tpu"}, "device must be one of"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an integer"),
        ({"num_workers": -1}, "num_workers"),
        ({"max_steps_per_epoch": 0}, "max_steps_per_epoch"),
        ({"resume": True}, "resume: true needs a checkpoint_dir"),
    ],
)
def test_invalid_values(params, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(params)


def test_yaml_like_values():
    config = TrainConfig.from_dict(
        {"checkpoint_dir": Path("/tmp/ckpt"), "device": "cuda:1", "max_steps_per_epoch": None}
    )
    assert config.checkpoint_dir == "/tmp/ckpt" and config.checkpoint_path == Path("/tmp/ckpt")
    assert config.device == "cuda:1"
    assert TrainConfig.from_dict(config.to_dict()) == config
