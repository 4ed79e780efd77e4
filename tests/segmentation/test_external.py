"""Saved U-Nets scored on another set without Kedro (segmentation.external)."""

import numpy as np
import pytest

from cxr_synth.segmentation import (
    build_unets,
    evaluate_saved_unets,
    evaluate_unet,
    normalise_intensity,
)
from tests.segmentation.test_saved import _trained


def test_every_seed_scores_every_image_as_its_training_normalised_it():
    spec, states = _trained()
    spec = {**spec, "intensity": "histeq"}
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    masks = (images > 127).astype(np.uint8)
    ids = ["img00000", "img00001", "img00002"]
    runs = evaluate_saved_unets(states, spec, images, masks, ids, "mont", "none", device="cpu")
    assert list(runs.columns) == ["method", "seed", "dataset", "image", "dice", "iou"]
    assert list(runs["seed"]) == [0, 0, 0, 1, 1, 1] and set(runs["dataset"]) == {"mont"}
    model = build_unets(spec, states)[1]
    expected = evaluate_unet(model, normalise_intensity(images, "histeq"), masks, device="cpu")
    np.testing.assert_allclose(runs.loc[runs["seed"] == 1, "dice"], expected["dice"])
    with pytest.raises(ValueError, match="trained at 32 px"):
        evaluate_saved_unets(states, spec, images[:, :16, :16], masks[:, :16, :16], ids, "m", "n")


def test_saved_unets_are_applied_with_their_test_time_flip():
    spec, states = _trained()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    masks = (images > 127).astype(np.uint8)
    ids = ["a", "b", "c"]
    flipped = evaluate_saved_unets(
        states, {**spec, "test_time_flip": True}, images, masks, ids, "m", "none", device="cpu"
    )
    model = build_unets(spec, states)[0]
    expected = evaluate_unet(model, images, masks, device="cpu", test_time_flip=True)
    np.testing.assert_allclose(flipped.loc[flipped["seed"] == 0, "dice"], expected["dice"])
