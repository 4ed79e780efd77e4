import logging

import numpy as np
import pytest
import torch

from cxr_synth.models.unet import UNet
from cxr_synth.segmentation import evaluate as evaluate_module
from cxr_synth.segmentation import train as train_module
from cxr_synth.segmentation.data import SegmentationDataset
from cxr_synth.segmentation.evaluate import evaluate_unet, predict_masks
from cxr_synth.segmentation.train import SegmentationConfig, train_unet

TINY = {"epochs": 3, "batch_size": 8, "learning_rate": 1e-2, "base_width": 4, "depth": 2}


def _discs(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Noisy dark images with one bright disc each; the mask is the disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = rng.integers(0, 80, (n, size, size)).astype(np.uint8)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(10, size - 10, 2)
        radius = rng.uniform(4, 8)
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    images[masks > 0] += 150
    return images, masks


@pytest.fixture(scope="module")
def discs():
    return _discs(64, seed=0), _discs(16, seed=1)


def test_learns_a_tiny_problem_and_returns_the_best_model_on_cpu(discs, caplog):
    (images, masks), (val_images, val_masks) = discs
    torch.manual_seed(123)
    untrained = evaluate_unet(UNet(base_width=4, depth=2), val_images, val_masks)["dice_mean"]
    with caplog.at_level(logging.INFO, logger="cxr_synth.segmentation"):
        result = train_unet(SegmentationDataset(images, masks), val_images, val_masks, TINY)
    assert untrained < 0.5
    assert result.best_val_dice > 0.8
    assert result.epochs_run == 3 and [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.best_val_dice == max(h["val_dice"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_dice"] == result.best_val_dice
    assert result.device == "cpu" and result.train_time_s > 0
    assert next(result.model.parameters()).device.type == "cpu"
    assert not result.model.training
    # the returned weights are the best epoch's, not the last one's
    scores = evaluate_unet(result.model, val_images, val_masks)
    assert scores["dice_mean"] == pytest.approx(result.best_val_dice)
    assert scores["dice"].shape == scores["iou"].shape == (16,)
    assert (scores["iou"] <= scores["dice"] + 1e-12).all()
    assert sum("val_dice" in r.getMessage() for r in caplog.records) == 3


def test_same_seed_same_model(discs):
    (images, masks), (val_images, val_masks) = discs
    config = {**TINY, "epochs": 1, "max_steps_per_epoch": 3}

    def run(seed):
        train_set = SegmentationDataset(images, masks)
        return train_unet(train_set, val_images, val_masks, {**config, "seed": seed})

    first, second, other = run(0), run(0), run(1)
    assert first.history == second.history
    a, b = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first.history != other.history


def test_stops_after_patience_epochs_without_improvement(discs, monkeypatch):
    (images, masks), (val_images, val_masks) = discs
    scores = iter([0.2, 0.5, 0.4, 0.5, 0.45, 0.9, 0.9])  # best at epoch 2, then no gain

    states = []

    def fake_evaluate(model, *args, **kwargs):
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return {"dice_mean": next(scores)}

    monkeypatch.setattr(train_module, "evaluate_unet", fake_evaluate)
    config = {**TINY, "epochs": 7, "patience": 3, "max_steps_per_epoch": 1}
    result = train_unet(SegmentationDataset(images, masks), val_images, val_masks, config)
    assert result.epochs_run == 5
    assert (result.best_epoch, result.best_val_dice) == (2, 0.5)
    best, returned = states[1], result.model.state_dict()
    assert all(torch.equal(best[k], returned[k]) for k in best)  # epoch 2's weights, not 5's
    assert not all(torch.equal(states[4][k], returned[k]) for k in best)


def test_predict_masks_restores_the_model_mode(discs):
    _, (val_images, _) = discs
    model = UNet(base_width=4, depth=2).train()
    masks = predict_masks(model, val_images, batch_size=5, device="cpu")
    assert masks.shape == val_images.shape and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 1}
    assert model.training


def test_evaluate_rejects_mismatched_masks():
    with pytest.raises(ValueError, match="must match"):
        evaluate_module.evaluate_unet(
            UNet(base_width=4, depth=2), np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 4))
        )


def test_config_rejects_unknown_keys_with_a_suggestion():
    with pytest.raises(ValueError, match="learning_rte: unknown key; did you mean 'learning_rate'"):
        SegmentationConfig.from_dict({"learning_rte": 0.1})


def test_config_defaults_and_validation():
    config = SegmentationConfig.from_dict(None)
    assert (config.epochs, config.batch_size, config.patience, config.depth) == (50, 16, 10, 4)
    assert config.to_dict()["learning_rate"] == 1e-3
    with pytest.raises(ValueError, match="patience: Input should be greater than or equal to 1"):
        SegmentationConfig.parse({"patience": 0})
    assert SegmentationConfig.parse({"learning_rate": "1e-3"}).learning_rate == 1e-3  # YAML str
    with pytest.raises(ValueError, match="learning_rate: must be a number, not true/false"):
        SegmentationConfig.parse({"learning_rate": True})  # the same rule as TrainConfig
    with pytest.raises(ValueError, match="device: must be auto, cpu"):
        SegmentationConfig.parse({"device": "tpu"})


def test_test_time_flip_averages_the_logits_of_the_image_and_its_mirror():
    class LeftHalf(torch.nn.Module):
        """Logit +1 on the image's left half, -3 on its right half, whatever the input."""

        def __init__(self) -> None:
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.full_like(x, -3.0) + self.anchor
            logits[..., : x.shape[-1] // 2] = 1.0
            return logits

    images = np.zeros((2, 8, 8), dtype=np.uint8)
    plain = predict_masks(LeftHalf(), images, device="cpu")
    averaged = predict_masks(LeftHalf(), images, device="cpu", test_time_flip=True)
    assert plain[:, :, :4].all() and not plain[:, :, 4:].any()
    assert not averaged.any()  # (1 + -3) / 2 < 0 on both halves
    masks = np.ones_like(images)
    assert evaluate_module.evaluate_unet(LeftHalf(), images, masks, device="cpu")["dice_mean"] > 0
    assert evaluate_module.evaluate_unet(
        LeftHalf(), images, masks, device="cpu", test_time_flip=True
    )["dice_mean"] == 0


@pytest.mark.parametrize("n", [0, 3, 8, 9, 10, 20, 25, 50])
@pytest.mark.parametrize("cap", [None, 2])
def test_steps_per_epoch_is_what_the_loader_yields(n, cap):
    config = SegmentationConfig(batch_size=8, max_steps_per_epoch=cap)
    loader = torch.utils.data.DataLoader(range(n), batch_size=8, drop_last=n > 8)
    assert train_module.steps_per_epoch(n, config) == min(len(loader), cap or len(loader))


def test_with_steps_of_gives_a_real_only_set_the_steps_of_one_with_synthetic_pairs():
    config = SegmentationConfig(epochs=300, patience=60, batch_size=8)
    # 10 real images: 1 step an epoch, with 10 synthetic 2; 25 real: 3, with 25 synthetic 6
    for n_real in (10, 25):
        matched = train_module.with_steps_of(config, n_real, n_real)
        assert (matched.epochs, matched.patience) == (600, 120)
        steps = matched.epochs * train_module.steps_per_epoch(n_real, config)
        assert steps == config.epochs * train_module.steps_per_epoch(2 * n_real, config)
    assert train_module.with_steps_of(config, 10, 0) == config  # nothing to match
    assert train_module.with_steps_of(config, 10, 5) == config  # 15 images: still one step
    uneven = train_module.with_steps_of(config.model_copy(update={"epochs": 7}), 16, 8)
    assert (uneven.epochs, uneven.patience) == (11, 90)  # 2 -> 3 steps an epoch, rounded up
