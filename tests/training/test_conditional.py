"""The loop's conditional path (a mask in, an image out): seeded, resumable, its grid and FID."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cxr_synth.data.torch_data import ChestXrayDataset
from cxr_synth.models.registry import build_gan
from cxr_synth.training import train_gan
from tests.training import states_equal, tiny_config

TINY = {"g_width": 4, "d_width": 4, "max_width": 8, "g_depth": 2, "d_layers": 1, "ema_decay": 0.9}


def pairs(n: int = 16, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(images, masks): a bright disc, and its mask, at a random place in each."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        cy, cx = rng.integers(5, size - 5, 2)
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= 16
    images = np.clip(40 + 160 * masks + rng.normal(0, 10, masks.shape), 0, 255).astype(np.uint8)
    return images, masks


def mask2image(seed: int = 0):
    return build_gan("mask2image", resolution=16, channels=2, seed=seed, **TINY)


def dataset() -> ChestXrayDataset:
    return ChestXrayDataset(*pairs())


def test_conditional_runs_are_seeded_and_learn_from_the_real_batch():
    runs = [train_gan(mask2image(), dataset(), tiny_config(seed=s)) for s in (0, 0, 1)]
    same, again, other = (r.final_state["generator"] for r in runs)
    assert states_equal(same, again) and not states_equal(same, other)
    assert states_equal(runs[0].final_state["ema"], runs[1].final_state["ema"])
    entry = runs[0].history[-1]
    assert {"d_loss", "g_loss", "g_adv", "l1"} <= entry.keys()  # G's loss saw the real images
    assert entry["g_loss"] == pytest.approx(entry["g_adv"] + 100.0 * entry["l1"], rel=1e-5)


def test_micro_batches_split_the_condition_and_the_real_batch_alike():
    whole = train_gan(mask2image(), dataset(), tiny_config())
    parts = train_gan(mask2image(), dataset(), tiny_config(micro_batch_size=4))
    for name in ("generator", "discriminator"):
        for key, value in whole.final_state[name].items():
            torch.testing.assert_close(parts.final_state[name][key], value, rtol=1e-4, atol=1e-5)


def test_conditional_resume_is_exactly_equivalent(tmp_path):
    full = train_gan(mask2image(), dataset(), tiny_config(checkpoint_dir=str(tmp_path / "a")))
    train_gan(mask2image(), dataset(), tiny_config(epochs=1, checkpoint_dir=str(tmp_path / "b")))
    resumed = train_gan(
        mask2image(seed=123), dataset(),
        tiny_config(checkpoint_dir=str(tmp_path / "b"), resume=True),
    )  # fmt: skip
    assert resumed.global_step == 4
    for part in ("generator", "discriminator", "ema"):
        assert states_equal(full.final_state[part], resumed.final_state[part]), part
    assert [h["g_loss"] for h in full.history] == [h["g_loss"] for h in resumed.history]


def test_grid_shows_image_mask_pairs_evaluated_in_eval_mode():
    seen = []

    def evaluate(generator):
        seen.append(generator.training)
        return {"fid": 1.0}

    result = train_gan(mask2image(), dataset(), tiny_config(grid_samples=4), evaluate=evaluate)
    assert seen == [False, False]  # eval mode: its dropout noise stays on regardless (pix2pix)
    # 2 x 2 samples, each image | mask (16 x 32), 2 px padding
    assert result.samples.shape == (2 + 2 * (16 + 2), 2 + 2 * (32 + 2))
