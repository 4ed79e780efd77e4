"""What the loop shows: epoch means and tracker windows, the sample grid, log lines."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cxr_synth.training.reporting import EpochLog, format_entry, sample_grid


class Recorder:
    def __init__(self) -> None:
        self.metrics: list[tuple[dict, int]] = []

    def log_metrics(self, metrics, step):
        self.metrics.append((metrics, step))


def test_epoch_log_means_and_tracker_windows():
    tracker = Recorder()
    log = EpochLog("tiny 1/1", 3, batch_size=8, log_every=2, tracker=tracker, show=True)
    for step, (d, g) in enumerate([(1.0, None), (2.0, 4.0), (3.0, 6.0)], start=1):
        log.add({"d_loss": d, **({"g_loss": g} if g else {})}, step)
    entry = log.close(epoch=1, global_step=3)
    assert entry["epoch"] == 1 and entry["step"] == 3
    assert entry["d_loss"] == 2.0 and entry["g_loss"] == 5.0  # G stepped twice
    assert entry["images_per_s"] > 0 and entry["epoch_time_s"] > 0
    assert tracker.metrics[0] == ({"train/d_loss": 1.5, "train/g_loss": 4.0}, 2)
    assert tracker.metrics[-1][0].keys() == {"train/images_per_s"}
    silent = Recorder()
    EpochLog("rank 1", 1, 8, 1, silent, show=False).add({"d_loss": 1.0}, 1)
    assert not silent.metrics


def test_sample_grid_shows_image_and_mask_side_by_side():
    generator = nn.Sequential(nn.Linear(4, 2 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (2, 8, 8)))
    generator.train()
    grid = sample_grid(generator, torch.randn(4, 4))
    assert grid.dtype == np.uint8 and grid.ndim == 2  # grayscale
    assert grid.shape == (2 + 2 * 10, 2 + 2 * 18)  # 2x2 cells of 8x16 with 2-pixel padding
    assert generator.training  # put back


def test_format_entry_skips_the_epoch():
    assert format_entry({"epoch": 2, "step": 4, "d_loss": 0.123456}) == "step 4, d_loss 0.1235"
