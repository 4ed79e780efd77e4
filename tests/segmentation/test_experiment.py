"""run_experiment without Kedro: one U-Net per seed, scored per test image, reported per seed."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from cxr_synth.segmentation import SegmentationConfig, build_unets, run_experiment
from cxr_synth.training.tracking import NullTracker
from tests.segmentation.test_train import _discs

CONFIG = SegmentationConfig(epochs=2, batch_size=4, learning_rate=0.01, patience=2,
                            base_width=4, depth=2, device="cpu")  # fmt: skip
ROWS = {"train": np.arange(0, 8), "val": np.arange(8, 10), "test": np.arange(10, 13)}


class Recorder(NullTracker):
    def __init__(self, name: str, log: list):
        self.name, self.log = name, log

    def log_params(self, params):
        self.log.append((self.name, "params", params))

    def log_metrics(self, metrics, step):
        self.log.append((self.name, "metrics", metrics))


def _recording() -> tuple[list, object]:
    """A log and an ``open_run`` that records every run's params and metrics into it."""
    log: list = []

    @contextlib.contextmanager
    def open_run(name):
        yield Recorder(name, log)

    return log, open_run


def test_one_unet_per_seed_each_reported_in_its_own_run():
    images, masks = _discs(13, seed=0)
    log, open_run = _recording()
    synthetic = {"synthetic_images": images[:3], "synthetic_masks": masks[:3]}
    result = run_experiment(images, masks, ROWS, CONFIG, [0, 1], "dcgan", open_run=open_run,
                            **synthetic)  # fmt: skip
    assert len(result.runs) == 2 * 3 and list(result.runs["seed"].unique()) == [0, 1]
    assert set(result.runs["image"]) == {"img00010", "img00011", "img00012"}
    assert (result.runs[["n_real", "n_synthetic"]] == [8, 3]).all().all()
    assert sorted(result.weights) == [0, 1] and result.spec["seeds"] == [0, 1]
    assert (result.spec["method"], result.spec["n_real"], result.spec["n_synthetic"]) == (
        "dcgan", 8, 3,
    )  # fmt: skip
    assert sorted(build_unets(result.spec, result.weights)) == [0, 1]
    params = [entry for entry in log if entry[1] == "params"]
    assert [name for name, *_ in params] == ["unet.dcgan.seed0", "unet.dcgan.seed1"]
    assert params[0][2]["classic_augmentation"] is False
    assert any("test/dice" in entry[2] for entry in log if entry[1] == "metrics")


def test_the_default_logs_nothing_and_the_images_must_be_square():
    images, masks = _discs(13, seed=0)
    result = run_experiment(images, masks, ROWS, CONFIG, [3], "classic")
    assert list(result.weights) == [3] and (result.runs["method"] == "classic").all()
    with pytest.raises(ValueError, match="square"):
        run_experiment(images[:, :, :16], masks[:, :, :16], ROWS, CONFIG, [0], "none")


def test_equal_steps_scales_a_real_only_method_and_leaves_a_synthetic_one_alone():
    images, masks = _discs(13, seed=0)
    log, open_run = _recording()
    # 8 real images in batches of 4: 2 steps an epoch; with 8 synthetic pairs more, 4
    run_experiment(images, masks, ROWS, CONFIG, [0], "classic", steps_of_synthetic=8,
                   open_run=open_run)  # fmt: skip
    run_experiment(images, masks, ROWS, CONFIG, [0], "dcgan", steps_of_synthetic=8,
                   synthetic_images=images[:8], synthetic_masks=masks[:8], open_run=open_run)  # fmt: skip
    classic, dcgan = (entry[2] for entry in log if entry[1] == "params")
    assert (classic["epochs"], classic["patience"]) == (4, 4)
    assert (dcgan["epochs"], dcgan["patience"]) == (2, 2)
    epochs_logged = [entry[0] for entry in log if entry[1] == "metrics" and "val_dice" in entry[2]]
    assert epochs_logged.count("unet.classic.seed0") == 4  # trained with the scaled budget
